"""Steps the account tests share: become a member at localstripe, sign in, read CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import (
    EmailKind,
    EmailLog,
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
    SignInToken,
    Supporter,
)
from app.services.account import links
from tests.conftest import CSRF, csrf_token, quoted
from tests.harness import CARDS, StripeJs

JSON = {"Accept": "application/json"}
EMAIL = "reader@example.org"
LINK = re.compile(r"https?://\S+/(ar|en)/account/sign-in/[A-Za-z0-9_-]+")


def give(
    client: FlaskClient, stripe_js: StripeJs, lang: str = "ar", card: str = "visa", **fields: str
) -> str:
    """The support page's flow, as the browser runs it; returns the thank-you URL."""
    token = csrf_token(client, lang)
    form = {
        "csrf_token": token,
        "frequency": "month",
        "currency": "usd",
        "amount": "1",
        "email": EMAIL,
        "name": "ليلى حداد",
        **fields,
    }
    started = client.post(f"/{lang}/support/start", data=quoted(client, lang, form), headers=JSON)
    assert started.status_code == 200, started.get_json()
    body = started.get_json()
    intent = stripe_js.confirm_card_payment(body["client_secret"], CARDS[card])
    assert "error" not in intent, intent
    # Stripe.js goes to the return_url, as Stripe does: the server asks Stripe how it went.
    back = client.get(body["return_url"], query_string=StripeJs.return_query(body["client_secret"], intent))
    assert back.status_code == 302, back.get_data(as_text=True)[-800:]
    url: str = back.location
    return url


def page_csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = CSRF.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def latest_link(app: Flask, email: str = EMAIL, lang: str = "ar") -> str:
    """The path of the newest link mailed to ``email`` (as the email task would write it)."""
    with app.app_context():
        token = db.session.scalars(
            sa.select(SignInToken)
            .join(Supporter)
            .where(Supporter.email == email)
            .order_by(SignInToken.id.desc())
        ).first()
        assert token is not None, f"no sign-in link for {email}"
        secret = links.new_secret(token)  # as the email task does when it writes the message
        db.session.commit()
        return f"/{lang}/account/sign-in/{secret}"


def ask_for_link(client: FlaskClient, email: str = EMAIL, lang: str = "ar", **environ: Any) -> Any:
    token = page_csrf(client, f"/{lang}/account/sign-in")
    return client.post(
        f"/{lang}/account/sign-in", data={"csrf_token": token, "email": email}, environ_base=environ
    )


def open_link(client: FlaskClient, path: str) -> Any:
    """Open the link (a page with a button) and press the button."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    match = CSRF.search(page.get_data(as_text=True))
    assert match
    return client.post(path, data={"csrf_token": match.group(1)})


def sign_in(app: Flask, client: FlaskClient, email: str = EMAIL, lang: str = "ar") -> None:
    assert ask_for_link(client, email, lang).status_code == 200
    response = open_link(client, latest_link(app, email, lang))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/{lang}/account")


def membership(app: Flask) -> Membership:
    with app.app_context():
        row = db.session.scalars(sa.select(Membership)).one()
        db.session.expunge(row)
        return row


def sign_in_emails(app: Flask) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(EmailLog.id).where(EmailLog.kind == EmailKind.SIGN_IN_LINK).order_by(EmailLog.id)
            )
        )


#: What Stripe answers ``invoices.pay`` with (a 402) for each kind of card gone bad.
PAY_REFUSALS = {"fails_charge": "card_declined", "3ds": "invoice_payment_intent_requires_action"}


def fail_a_renewal(
    app: Flask, stripe_client: stripe.StripeClient, row: Membership, card: str = "fails_charge"
) -> str:
    """At localstripe: the card on file stops working (or its bank wants the card holder,
    ``card="3ds"``) and a renewal invoice stays open.  Here: what the
    ``invoice.payment_failed`` and ``past_due`` events leave."""
    with app.app_context():
        customer_id = db.session.get(Supporter, row.supporter_id).stripe_customer_id
    bad = stripe_client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": CARDS[card], "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    stripe_client.v1.payment_methods.attach(bad.id, params={"customer": customer_id})
    stripe_client.v1.customers.update(
        customer_id, params={"invoice_settings": {"default_payment_method": bad.id}}
    )
    invoice = stripe_client.v1.invoices.create(
        params={"customer": customer_id, "subscription": row.stripe_subscription_id}
    )
    with pytest.raises(stripe.CardError) as refused:  # a 402, as Stripe answers
        stripe_client.v1.invoices.pay(invoice.id)
    assert refused.value.code == PAY_REFUSALS[card]
    assert stripe_client.v1.invoices.retrieve(invoice.id)["status"] == "open"
    with app.app_context():
        stored = db.session.get(Membership, row.id)
        stored.status = MembershipStatus.PAST_DUE
        db.session.add(
            Payment(
                supporter_id=row.supporter_id,
                membership=stored,
                stripe_invoice_id=invoice.id,
                amount=100,
                currency="usd",
                status=PaymentStatus.FAILED,
                failure_code="card_declined",
            )
        )
        db.session.commit()
    return invoice.id


def sign_in_in_browser(page: Any, live_server: str, app: Flask, lang: str) -> None:
    """In the browser (a Playwright page): ask for the link, open it from the email, sign in."""
    from playwright.sync_api import expect

    page.goto(f"{live_server}/{lang}/account")
    page.wait_for_url(re.compile(rf"/{lang}/account/sign-in$"))
    page.locator("#email").fill(EMAIL)
    page.locator("#sign-in-form button[type=submit]").click()
    expect(page.locator("#link-sent")).to_contain_text(EMAIL)
    page.goto(live_server + latest_link(app, EMAIL, lang))
    page.locator("#sign-in-button").click()
    page.wait_for_url(re.compile(rf"/{lang}/account$"))
