"""Defect 7 of issue 13: every member's card is known, and a Stripe object that no longer
exists is a clear message on every account action, never a 500."""

from __future__ import annotations

import html
import urllib.request

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale

from app.account.messages import message as account_message
from app.extensions import db
from app.models import Payment, Supporter
from app.services.stripe_gateway import get_gateway
from tests import i18n
from tests import stripe_events as se
from tests.account_helpers import EMAIL, JSON, fail_a_renewal, give, membership, page_csrf, sign_in
from tests.harness import CARDS, StripeJs


def joined_in_the_dashboard(stripe_client: stripe.StripeClient) -> dict[str, object]:
    """At Stripe only: a customer, its default card and a subscription (no support page)."""
    customer = stripe_client.v1.customers.create(
        params={"email": EMAIL, "name": "Sami", "preferred_locales": ["en"]}
    )
    method = stripe_client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": CARDS["visa"], "exp_month": 7, "exp_year": 2033, "cvc": "123"},
        }
    )
    stripe_client.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    stripe_client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": method.id}}
    )
    plan = stripe_client.v1.plans.create(
        params={"amount": 700, "currency": "usd", "interval": "month", "product": {"name": "Dashboard"}}
    )
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"plan": plan.id}]}
    )
    return {"subscription": subscription.to_dict(), "method": method.id}


def test_a_member_who_joined_in_the_dashboard_sees_their_card(
    app: Flask, client: FlaskClient, stripe_client: stripe.StripeClient
) -> None:
    made = joined_in_the_dashboard(stripe_client)
    event = se.event("customer.subscription.created", made["subscription"], api_version="2017-08-15")  # type: ignore[arg-type]
    assert se.post(client, event).status_code == 200
    with app.app_context():
        assert db.session.scalars(sa.select(Supporter)).one().card_last4 is None
    sign_in(app, client, EMAIL, "en")
    page = client.get("/en/account").get_data(as_text=True)
    assert "4242" in page and "07/2033" in page
    assert i18n.translate(app, "No card on file", "en") not in page
    with app.app_context():
        row = db.session.scalars(sa.select(Supporter)).one()
        assert row.card_payment_method_id == made["method"] and row.card_checked_at is not None
        calls = get_gateway().calls
    client.get("/en/account")
    with app.app_context():
        assert get_gateway().calls == calls  # asked once; the events keep it from now on


def forget_everything(localstripe_url: str) -> None:
    """What a demo restart does: the database stays, localstripe's state is gone."""
    request = urllib.request.Request(f"{localstripe_url}/_config/data", method="DELETE")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_every_account_action_on_objects_stripe_forgot_says_so(
    app: Flask,
    client: FlaskClient,
    stripe_js: StripeJs,
    stripe_client: stripe.StripeClient,
    localstripe_url: str,
    lang: str,
) -> None:
    give(client, stripe_js, lang)
    sign_in(app, client, EMAIL, lang)
    row = membership(app)
    fail_a_renewal(app, stripe_client, row, card="3ds")
    with app.app_context():
        payment_id = db.session.scalars(sa.select(Payment.id).where(Payment.status == "failed")).one()
        db.session.get(Payment, payment_id).failure_code = "authentication_required"
        db.session.commit()
    forget_everything(localstripe_url)
    with app.test_request_context(f"/{lang}/account"), force_locale(lang):
        said = account_message("resource_missing")
    token = page_csrf(client, f"/{lang}/account")
    base = f"/{lang}/account/membership/{row.id}"

    change = {"csrf_token": token, "frequency": "month", "amount": "5", "confirm": "1"}
    for path, form in ((f"{base}/change", change), (f"{base}/cancel", {"csrf_token": token})):
        answer = client.post(path, data=form)
        assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/{lang}/account")
        assert said in html.unescape(client.get(f"/{lang}/account").get_data(as_text=True))
    for path in ("card/start", f"payment/{payment_id}/confirm/start", f"payment/{payment_id}/confirm/done"):
        answer = client.post(f"/{lang}/account/{path}", data={"csrf_token": token}, headers=JSON)
        assert answer.status_code == 409, (path, answer.get_json())
        assert answer.get_json()["error"]["message"] == said
    assert client.get(f"/{lang}/account").status_code == 200
    assert membership(app).amount == 100 and not membership(app).cancel_at_period_end
