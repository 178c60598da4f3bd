"""A stranger who gives with a supporter's email changes nothing of theirs (issue 15, finding 2).

The gift is the supporter's (by email), on a Stripe customer of its own; the
supporter's customer, card, name and language stay as they were, the
thank-you page shows only what the stranger typed, and the supporter is told.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import stripe
from flask import Flask

from app.extensions import db
from app.models import EmailKind, EmailLog, Membership, Supporter
from tests import stripe_events
from tests.blueprints.test_donation_flow import confirm, start
from tests.harness import CARDS, StripeJs
from tests.mail import parts
from workers.tasks import send_email

EMAIL = "reader@example.org"


def _give(app: Flask, stripe_js: StripeJs, lang: str, **fields: str) -> tuple[Any, str, str]:
    """A monthly gift from a new browser: (its client, the thank-you page, the first payment intent id)."""
    client = app.test_client()
    token, started = start(client, lang, **fields)
    setup = stripe_js.confirm_card_payment(started["client_secret"], CARDS["visa"])
    response = confirm(client, lang, token, setup["id"])
    assert response.status_code == 200, response.get_json()
    thanks = client.get(response.get_json()["redirect"])
    assert thanks.status_code == 200
    return client, response.get_json()["redirect"], setup["id"]


def _supporter(app: Flask) -> tuple[str, str, str | None, str | None]:
    with app.app_context():
        supporter = db.session.scalars(sa.select(Supporter)).one()
        return (
            supporter.name,
            supporter.locale,
            supporter.stripe_customer_id,
            supporter.card_payment_method_id,
        )


def test_a_stranger_with_a_known_email_changes_nothing_of_the_supporter(
    app: Flask, stripe_js: StripeJs, stripe_client: stripe.StripeClient, smtp: Any
) -> None:
    _give(app, stripe_js, "ar", email="Reader@Example.org", name="ليلى")
    name, locale, customer_id, card_id = _supporter(app)
    assert (name, locale) == ("ليلى", "ar") and customer_id and card_id
    default_before = stripe_client.v1.customers.retrieve(customer_id)["invoice_settings"][
        "default_payment_method"
    ]
    assert default_before

    stranger, thanks_url, intent_id = _give(app, stripe_js, "en", email="reader@example.org", name="Mallory")

    # The supporter's Stripe customer still bills their own card.
    customer = stripe_client.v1.customers.retrieve(customer_id)
    assert customer["invoice_settings"]["default_payment_method"] == default_before
    assert customer["name"] == "ليلى"
    assert _supporter(app) == ("ليلى", "ar", customer_id, card_id)
    # The gift ran on a customer of its own, and is the supporter's by email.
    gift_customer = str(stripe_client.v1.payment_intents.retrieve(intent_id)["customer"])
    assert gift_customer != customer_id
    with app.app_context():
        memberships = db.session.scalars(sa.select(Membership).order_by(Membership.id)).all()
        assert len(memberships) == 2
        assert len({m.supporter_id for m in memberships}) == 1
        gift = stripe_client.v1.subscriptions.retrieve(memberships[1].stripe_subscription_id)
        assert gift["customer"] == gift_customer

    # The stranger's thank-you page shows what they typed, nothing the supporter had stored.
    page = stranger.get(thanks_url).get_data(as_text=True)
    assert "Mallory" in page and "ليلى" not in page
    # The same link in another browser shows no name and no address at all.
    elsewhere = app.test_client().get(thanks_url).get_data(as_text=True)
    assert "ليلى" not in elsewhere and "Mallory" not in elsewhere and EMAIL not in elsewhere.lower()

    # The supporter hears of it, in their language.
    app.config.update(SMTP_PORT=smtp.port)
    with app.app_context():
        [row] = db.session.scalars(
            sa.select(EmailLog).where(EmailLog.kind == EmailKind.GIFT_WITH_YOUR_ADDRESS)
        )
        assert (row.to_address, row.locale) == (EMAIL, "ar")
        assert send_email.run(row.id) == "sent"
    [message] = [m for m in smtp.inbox.wait_for(1) if m["To"].addresses[0].addr_spec == EMAIL]
    text, html = parts(message)
    assert 'dir="rtl"' in html
    assert "ليلى" in text and "Mallory" not in text


def test_stripe_events_about_the_strangers_customer_keep_the_supporter_as_they_are(
    app: Flask, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    _give(app, stripe_js, "ar", email="Reader@Example.org", name="ليلى")
    before = _supporter(app)
    _, _, intent_id = _give(app, stripe_js, "en", email="reader@example.org", name="Mallory")
    gift_customer = str(stripe_client.v1.payment_intents.retrieve(intent_id)["customer"])
    client = app.test_client()
    updated = stripe_events.customer(gift_customer, email=EMAIL, name="Mallory", locales=["en"])
    assert stripe_events.post(client, stripe_events.event("customer.updated", updated)).status_code == 200
    with app.app_context():
        membership = db.session.scalars(sa.select(Membership).order_by(Membership.id.desc())).first()
        assert membership is not None
        subscription_id = membership.stripe_subscription_id
    subscription = stripe_events.subscription(subscription_id, gift_customer)
    evt = stripe_events.event("customer.subscription.updated", subscription)
    assert stripe_events.post(client, evt).status_code == 200
    assert _supporter(app) == before


def test_a_supporter_without_a_customer_is_not_given_the_strangers(
    app: Flask, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    _give(app, stripe_js, "ar", email="Reader@Example.org", name="ليلى")
    with app.app_context():  # their customer was deleted at Stripe (``customer.deleted``)
        supporter = db.session.scalars(sa.select(Supporter)).one()
        supporter.stripe_customer_id = None
        db.session.commit()
    _, _, intent_id = _give(app, stripe_js, "en", email="reader@example.org", name="Mallory")
    gift_customer = str(stripe_client.v1.payment_intents.retrieve(intent_id)["customer"])
    client = app.test_client()
    # A subscription of that customer we have not recorded yet (its reader is still at 3-D Secure).
    subscription = stripe_events.subscription(stripe_events.new_id("sub"), gift_customer)
    assert (
        stripe_events.post(
            client, stripe_events.event("customer.subscription.updated", subscription)
        ).status_code
        == 200
    )
    updated = stripe_events.customer(gift_customer, email=EMAIL, name="Mallory", locales=["en"])
    assert stripe_events.post(client, stripe_events.event("customer.updated", updated)).status_code == 200
    name, locale, customer_id, _card = _supporter(app)
    assert (name, locale, customer_id) == ("ليلى", "ar", None)
