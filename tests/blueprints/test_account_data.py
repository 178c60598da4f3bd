"""Receipts and statements to download, one's data as JSON, erasure, and "give again"."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from app.extensions import db
from app.models import (
    AuditEntry,
    EmailKind,
    EmailLog,
    EmailStatus,
    Membership,
    MembershipStatus,
    Payment,
    SignInToken,
    Supporter,
    WebhookEvent,
)
from tests import i18n
from tests import stripe_events as se
from tests.account_helpers import EMAIL, give, membership, page_csrf, sign_in
from tests.factories import PaymentFactory
from tests.harness import StripeJs
from tests.mail import parts
from workers.tasks import send_email


def the_payment(app: Flask) -> Payment:
    with app.app_context():
        row = db.session.scalars(sa.select(Payment)).one()
        db.session.expunge(row)
        return row


def test_receipt_and_statement_download_in_arabic(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    give(client, stripe_js, "ar")
    sign_in(app, client, EMAIL, "ar")
    payment = the_payment(app)
    home = client.get("/ar/account").get_data(as_text=True)
    assert f"/ar/account/payments/{payment.id}/receipt.pdf" in home
    assert payment.receipt_number in home

    response = client.get(f"/ar/account/payments/{payment.id}/receipt.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f'filename="receipt-{payment.receipt_number}.pdf"' in response.headers["Content-Disposition"]
    # (Noto Naskh Arabic draws the no-break space as a space glyph: pypdf reads back a space.)
    text = PdfReader(io.BytesIO(response.data)).pages[0].extract_text().replace("\xa0", " ")
    assert "ليلى حداد" in text and payment.receipt_number in text
    assert i18n.money_as_on_the_page(app, 100) in text

    year = payment.paid_at.year
    statement = client.get(f"/ar/account/statement?year={year}")
    assert statement.status_code == 200 and statement.mimetype == "application/pdf"
    assert client.get(f"/ar/account/statement?year={year - 1}").status_code == 404
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEntry.action)).all()
    assert "receipt.download" in actions and "statement.download" in actions


def test_only_ones_own_receipts(app: Flask, client: FlaskClient, stripe_js: StripeJs) -> None:
    give(client, stripe_js, "en")
    sign_in(app, client, EMAIL, "en")
    with app.app_context():
        other = PaymentFactory()
        db.session.commit()
        other_id = other.id
    assert client.get(f"/en/account/payments/{other_id}/receipt.pdf").status_code == 404
    assert app.test_client().get(f"/en/account/payments/{other_id}/receipt.pdf").status_code == 302


def test_my_data_as_json(app: Flask, client: FlaskClient, stripe_js: StripeJs) -> None:
    give(client, stripe_js, "en", campaign="spring")
    sign_in(app, client, EMAIL, "en")
    response = client.get("/en/account/data.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["supporter"]["email"] == EMAIL and data["supporter"]["name"] == "ليلى حداد"
    assert data["supporter"]["card"]["last4"] == "4242"
    (row,) = data["memberships"]
    assert (row["amount"], row["interval"], row["status"], row["campaign"]) == (
        100,
        "month",
        "active",
        "spring",
    )
    (payment,) = data["payments"]
    assert payment["receipt_number"] and payment["amount"] == 100
    assert {e["kind"] for e in data["emails"]} >= {"receipt", "welcome", "sign_in_link"}
    assert [a["action"] for a in data["activity"]][:2] == ["account.sign_in_link", "account.sign_in"]
    assert "ليلى" in response.get_data(as_text=True)  # UTF-8, not \\u escapes


NAME = "ليلى حداد"
PHONE = "+961 1 234 567"
ADDRESS = {"line1": "12 Hamra Street", "city": "Beirut", "country": "LB", "postal_code": "1103"}


def rows_mentioning(app: Flask, *needles: str) -> list[tuple[str, dict[str, Any]]]:
    """Every stored row, in every table, that holds one of ``needles`` anywhere (JSON included)."""
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)).mappings():
                text = json.dumps(dict(row), default=str, ensure_ascii=False).lower()
                if any(n.lower() in text for n in needles):
                    found.append((table.name, dict(row)))
    return found


def personal_events(customer_id: str, invoice_id: str, charge_id: str) -> list[dict[str, Any]]:
    """What Stripe tells us about the person: their customer, an invoice's and a charge's copies."""
    customer = se.customer(customer_id, EMAIL, NAME, ["ar"])
    customer.update(phone=PHONE, address=ADDRESS, shipping={"name": NAME, "phone": PHONE, "address": ADDRESS})
    invoice = se.invoice(invoice_id, customer_id, None, amount=100)
    invoice.update(customer_email=EMAIL, customer_name=NAME, customer_phone=PHONE, customer_address=ADDRESS)
    charge = se.charge(charge_id, None, amount=100, customer_id=customer_id)
    charge.update(
        receipt_email=EMAIL,
        description=f"Gift from {NAME} <{EMAIL}>",
        billing_details={"name": NAME, "email": EMAIL, "phone": PHONE, "address": ADDRESS},
    )
    return [
        se.event("customer.updated", customer),
        se.event("invoice.finalized", invoice),  # a type we only store
        se.event("charge.succeeded", charge),
    ]


def test_erasure_ends_the_membership_at_stripe_and_keeps_the_payments(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client: stripe.StripeClient, smtp: Any
) -> None:
    app.config.update(SMTP_PORT=smtp.port)
    give(client, stripe_js, "ar")
    sign_in(app, client, EMAIL, "ar")
    row = membership(app)
    payment = the_payment(app)
    with app.app_context():
        supporter = db.session.scalars(sa.select(Supporter)).one()
        supporter_id, customer_id = supporter.id, supporter.stripe_customer_id
    for event in personal_events(customer_id, payment.stripe_invoice_id, payment.stripe_charge_id or "ch_x"):
        assert se.post(client, event).status_code == 200
    cancel = f"/ar/account/membership/{row.id}/cancel"
    client.post(cancel, data={"csrf_token": page_csrf(client, cancel), "reason": f"{NAME} is moving"})
    stripe_client.v1.customers.update(customer_id, params={"phone": PHONE, "address": ADDRESS})
    before = {table for table, _ in rows_mentioning(app, EMAIL, NAME, PHONE)}
    assert {"supporter", "webhook_event", "email_log", "membership"} <= before

    unconfirmed = client.post(
        "/ar/account/erase", data={"csrf_token": page_csrf(client, "/ar/account/erase")}
    )
    assert unconfirmed.status_code == 400
    token = page_csrf(client, "/ar/account/erase")
    erased = client.post("/ar/account/erase", data={"csrf_token": token, "confirm": "1"})
    assert erased.status_code == 200
    assert i18n.translate(app, "Your data has been erased") in erased.get_data(as_text=True)
    assert client.get("/ar/account").status_code == 302  # signed out

    with app.app_context():
        supporter = db.session.get(Supporter, supporter_id)
        assert supporter.email == f"erased-{supporter_id}@invalid" and supporter.name == ""
        assert supporter.card_last4 is None and supporter.card_brand is None and supporter.erased_at
        assert supporter.stripe_customer_id == customer_id  # a late event finds the tombstone
        assert db.session.get(Membership, row.id).status == MembershipStatus.CANCELED
        kept = db.session.scalars(sa.select(Payment)).one()  # accounting keeps it, as it was
        assert (kept.amount, kept.receipt_number, kept.stripe_charge_id) == (
            payment.amount,
            payment.receipt_number,
            payment.stripe_charge_id,
        )
        assert all(t.session_ended_at for t in db.session.scalars(sa.select(SignInToken)))
        logs = db.session.scalars(sa.select(EmailLog).order_by(EmailLog.id)).all()
        confirmation = [e for e in logs if e.kind == EmailKind.ACCOUNT_ERASED]
        assert len(confirmation) == 1 and confirmation[0].to_address == EMAIL
        others = [e for e in logs if e.kind != EmailKind.ACCOUNT_ERASED]
        assert all(e.to_address != EMAIL and e.status != EmailStatus.PENDING for e in others)
        entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
        assert entries[-1].action == "supporter.erase"
        own = [e for e in entries if e.actor == f"supporter:{supporter_id}"]
        assert len(own) > 3 and all(e.ip is None for e in own)  # their addresses, the erasure's too
        events = db.session.scalars(sa.select(WebhookEvent)).all()
        charge_event = next(e for e in events if e.type == "charge.succeeded")
        assert charge_event.object["billing_details"] is None
        assert charge_event.object["description"] == "Gift from [erased] <[erased]>"
        assert charge_event.object["customer"] == customer_id  # ids stay: they tie the money
    # Until it is sent, the confirmation alone knows the address; nothing knows the name.
    assert [table for table, _ in rows_mentioning(app, EMAIL)] == ["email_log"]
    assert rows_mentioning(app, NAME, PHONE, ADDRESS["line1"]) == []

    # Stripe answers the erasure with events of its own; they are kept without the person.
    previous = se.customer(customer_id, None, None, ["ar"])
    late = se.event("customer.updated", previous)
    late["data"]["previous_attributes"] = {"email": EMAIL, "name": NAME, "phone": PHONE}
    assert se.post(client, late).status_code == 200

    with app.app_context():
        assert send_email.run(confirmation[0].id) == "sent"
    (message,) = smtp.inbox.wait_for(1)
    assert message["To"] == EMAIL
    assert message["Subject"] == i18n.subject(app, "Your data has been erased")
    text, _ = parts(message)
    assert "ليلى" not in text
    assert rows_mentioning(app, EMAIL, NAME, PHONE, ADDRESS["line1"]) == []

    assert stripe_client.v1.subscriptions.retrieve(row.stripe_subscription_id)["status"] == "canceled"
    customer = stripe_client.v1.customers.retrieve(customer_id)
    for field in ("email", "name", "phone", "address", "shipping", "description"):
        assert not customer[field], field
    cards = stripe_client.v1.payment_methods.list(params={"customer": customer_id, "type": "card"})
    assert cards.data == []  # detached: nobody can charge them again

    # The address can ask for links again, but nobody answers to it any more.
    token = page_csrf(client, "/ar/account/sign-in")
    client.post("/ar/account/sign-in", data={"csrf_token": token, "email": EMAIL})
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(EmailLog)
                .where(EmailLog.kind == EmailKind.SIGN_IN_LINK)
            )
            == 0
        )


def test_a_one_time_donor_can_give_again_with_the_same_choices(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    give(client, stripe_js, "en", frequency="once", amount="other", custom_amount="7.50", currency="eur")
    sign_in(app, client, EMAIL, "en")
    page = client.get("/en/account").get_data(as_text=True)
    assert "You have no membership running." not in page
    assert "Would you like to give again?" in page
    start = page.index('id="give-again"')
    href = page[page.rindex('href="', 0, start) + 6 :]
    url = urlparse(href[: href.index('"')].replace("&amp;", "&"))
    assert url.path == "/en/support"
    assert parse_qs(url.query) == {
        "currency": ["eur"],
        "frequency": ["once"],
        "amount": ["other"],
        "custom_amount": ["7.5"],
    }
    support = client.get(f"{url.path}?{url.query}").get_data(as_text=True)
    assert 'value="7.5"' in support and 'value="once" checked' in support
