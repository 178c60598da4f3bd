"""A renewal the member's bank must confirm (3-D Secure): the email, the account page's button,
and a 402 from ``invoices.pay`` that is a state of the payment, never "service unavailable".

localstripe plays Stripe: its invoice is left open with the payment intent ``requires_action``
and ``invoices.pay`` answers the 402 Stripe answers (``devtools/localstripe_server.py``); the
``invoice.payment_action_required`` event, which localstripe never sends, is built from its own
invoice and signed as Stripe signs.
"""

from __future__ import annotations

import html
import re
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.i18n import format_money
from app.models import EmailKind, EmailLog, Membership, Payment, PaymentStatus
from app.services.payments import AWAITS_AUTHENTICATION
from tests import i18n
from tests import stripe_events as se
from tests.account_helpers import (
    EMAIL,
    JSON,
    fail_a_renewal,
    give,
    membership,
    page_csrf,
    sign_in,
)
from tests.harness import StripeJs
from tests.mail import parts
from workers.tasks import send_email


def member(app: Flask, client: FlaskClient, stripe_js: StripeJs, lang: str) -> Membership:
    give(client, stripe_js, lang)
    sign_in(app, client, EMAIL, lang)
    return membership(app)


def action_required(stripe_client: stripe.StripeClient, invoice_id: str) -> dict[str, Any]:
    """The event Stripe sends, with localstripe's own invoice (the 2017-08-15 shape it speaks)."""
    invoice = stripe_client.v1.invoices.retrieve(invoice_id).to_dict()
    invoice["billing_reason"] = "subscription_cycle"
    return se.event("invoice.payment_action_required", invoice, api_version="2017-08-15")


def waiting_payment(app: Flask, invoice_id: str) -> Payment:
    with app.app_context():
        payment = db.session.scalars(sa.select(Payment).where(Payment.stripe_invoice_id == invoice_id)).one()
        db.session.expunge(payment)
        return payment


def emails(app: Flask, kind: EmailKind) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(EmailLog.id).where(EmailLog.kind == kind)))


def test_the_member_is_mailed_once_in_arabic_and_confirms_on_the_account_page(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client: stripe.StripeClient, smtp: Any
) -> None:
    row = member(app, client, stripe_js, "ar")
    invoice_id = fail_a_renewal(app, stripe_client, row, card="3ds")
    event = action_required(stripe_client, invoice_id)
    assert se.post(client, event).status_code == 200
    again = {**event, "id": se.new_id("evt")}  # Stripe asks again at its next retry
    assert se.post(client, again).status_code == 200
    assert se.post(client, event).status_code == 200  # and redelivers
    payment = waiting_payment(app, invoice_id)
    assert payment.status == PaymentStatus.FAILED and payment.failure_code == AWAITS_AUTHENTICATION
    [email_id] = emails(app, EmailKind.ACTION_REQUIRED)

    app.config.update(SMTP_PORT=smtp.port)
    with app.app_context():
        assert send_email.run(email_id) == "sent"
    [message] = smtp.inbox.wait_for(1)
    text, body = parts(message)
    assert message["To"] == EMAIL and message["Content-Language"] == "ar"
    assert message["Subject"] == i18n.subject(app, "Your bank asks you to confirm your membership payment")
    assert i18n.is_arabic(message["Subject"])
    assert '<html lang="ar" dir="rtl">' in body
    with app.test_request_context("/ar/account"):
        amount = format_money(100, "usd", "ar")
    assert amount in text
    assert f"{app.config['BASE_URL'].rstrip('/')}/ar/account" in text
    assert i18n.translate(app, "Confirm the payment") in text
    assert i18n.is_arabic(re.sub(r"https?://\S+", "", text)), text

    page = client.get("/ar/account").get_data(as_text=True)
    assert f'id="confirm-payment-{payment.id}"' in page
    notice = i18n.translate(
        app,
        "Your bank asks you to confirm the payment of %(amount)s for your membership. Nothing has been charged yet.",
        amount=f"<bdi>{amount}</bdi>",
    )
    assert notice in html.unescape(page)
    token = page_csrf(client, "/ar/account")
    started = client.post(
        f"/ar/account/payment/{payment.id}/confirm/start", data={"csrf_token": token}, headers=JSON
    )
    assert started.status_code == 200, started.get_json()
    secret = started.get_json()["client_secret"]
    assert secret.startswith(stripe_client.v1.invoices.retrieve(invoice_id)["payment_intent"])
    assert stripe_js.confirm_card_payment(secret)["status"] == "succeeded"  # the bank's check passed
    done = client.post(
        f"/ar/account/payment/{payment.id}/confirm/done", data={"csrf_token": token}, headers=JSON
    )
    assert done.status_code == 200 and done.get_json()["redirect"].endswith("/ar/account")

    after = html.unescape(client.get("/ar/account").get_data(as_text=True))
    assert i18n.translate(app, "Thank you: your payment of %(amount)s is complete.", amount=amount) in after
    assert f'id="confirm-payment-{payment.id}"' not in after
    paid = waiting_payment(app, invoice_id)
    assert paid.status == PaymentStatus.SUCCEEDED and paid.failure_code is None and paid.receipt_number
    assert membership(app).status == "active"
    assert stripe_client.v1.invoices.retrieve(invoice_id)["status"] == "paid"
    assert len(emails(app, EmailKind.RECEIPT)) == 2  # the first gift's and this renewal's, once each


def test_a_failed_check_is_said_and_the_button_stays(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    row = member(app, client, stripe_js, "en")
    invoice_id = fail_a_renewal(app, stripe_client, row, card="3ds")
    assert se.post(client, action_required(stripe_client, invoice_id)).status_code == 200
    payment = waiting_payment(app, invoice_id)
    token = page_csrf(client, "/en/account")
    url = f"/en/account/payment/{payment.id}/confirm"
    secret = client.post(f"{url}/start", data={"csrf_token": token}, headers=JSON).get_json()["client_secret"]
    stripe_js.confirm_card_payment(secret, authenticate=False)  # "Fail authentication"
    refused = client.post(f"{url}/done", data={"csrf_token": token}, headers=JSON)
    assert refused.status_code == 402
    assert refused.get_json()["error"]["message"] == i18n.message(
        app, "payment_intent_authentication_failure", "en"
    )
    assert waiting_payment(app, invoice_id).status == PaymentStatus.FAILED
    assert f'id="confirm-payment-{payment.id}"' in client.get("/en/account").get_data(as_text=True)


def test_a_new_card_whose_bank_must_confirm_the_failed_renewal_is_not_a_decline(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    """``invoices.pay`` answers 402 ``invoice_payment_intent_requires_action``: the member is
    asked to confirm, on the account page, in their language; nothing says "unavailable"."""
    row = member(app, client, stripe_js, "ar")
    invoice_id = fail_a_renewal(app, stripe_client, row)
    token = page_csrf(client, "/ar/account/card")
    started = client.post("/ar/account/card/start", data={"csrf_token": token}, headers=JSON)
    setup = stripe_js.confirm_card_setup(started.get_json()["client_secret"], "4000002500003155")
    assert setup["status"] == "succeeded", setup
    saved = client.post(
        "/ar/account/card/confirm", data={"csrf_token": token, "setup_intent_id": setup["id"]}, headers=JSON
    )
    assert saved.status_code == 200, saved.get_json()
    page = html.unescape(client.get("/ar/account").get_data(as_text=True))
    with app.test_request_context("/ar/account"):
        amount = format_money(100, "usd", "ar")
    asked = i18n.translate(
        app,
        "Your bank asks you to confirm the payment that had failed (%(amount)s). Please press “Confirm the payment” below.",
        amount=amount,
    )
    assert asked in page
    assert i18n.message(app, "stripe_error") not in page
    assert (
        i18n.translate(app, "The payment that had failed (%(amount)s) was declined again:", amount=amount)
        not in page
    )
    payment = waiting_payment(app, invoice_id)
    assert payment.failure_code == AWAITS_AUTHENTICATION
    assert f'id="confirm-payment-{payment.id}"' in page
