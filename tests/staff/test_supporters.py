"""Finding a supporter by email or name, and their page: history, emails, Stripe events; views audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import (
    AuditEntry,
    EmailKind,
    EmailLog,
    EmailStatus,
    MembershipStatus,
    PaymentStatus,
    WebhookEvent,
)
from tests.factories import MembershipFactory, PaymentFactory, SupporterFactory
from tests.staff.conftest import Staff


def seed(app: Flask) -> dict[str, int]:
    with app.app_context():
        layla = SupporterFactory(
            email="layla.haddad@example.org", name="ليلى حداد", stripe_customer_id="cus_layla"
        )
        SupporterFactory(email="omar@example.org", name="Omar Haddad")
        SupporterFactory(email="percent@example.org", name="100% reader")
        membership = MembershipFactory(
            supporter=layla, status=MembershipStatus.PAST_DUE, amount=500, stripe_subscription_id="sub_layla"
        )
        PaymentFactory(
            membership=membership, amount=500, stripe_charge_id="ch_layla_1", receipt_number="2026-0000042"
        )
        PaymentFactory(
            membership=membership,
            amount=500,
            status=PaymentStatus.FAILED,
            paid_at=None,
            receipt_number=None,
            stripe_charge_id="ch_layla_2",
            failure_code="insufficient_funds",
        )
        db.session.add(
            EmailLog(
                kind=EmailKind.PAYMENT_FAILED,
                about="payment:2",
                supporter=layla,
                to_address=layla.email,
                locale="ar",
                status=EmailStatus.SENT,
                subject="لم تنجح عملية الدفع",
                attempts=1,
                sent_at=datetime(2026, 11, 2, tzinfo=UTC),
            )
        )
        db.session.flush()
        # As applying them links them (tests/services/test_report_summaries.py applies real ones).
        for number, (kind, obj, about) in enumerate(
            [
                (
                    "invoice.payment_failed",
                    {"id": "in_1", "customer": "cus_layla", "subscription": "sub_layla"},
                    layla.id,
                ),
                ("charge.dispute.created", {"id": "dp_1", "charge": "ch_layla_1"}, layla.id),
                ("invoice.paid", {"id": "in_2", "customer": "cus_someone_else"}, None),
            ]
        ):
            db.session.add(
                WebhookEvent(
                    stripe_event_id=f"evt_{number}",
                    type=kind,
                    created=datetime(2026, 11, 1 + number, tzinfo=UTC),
                    payload={"id": f"evt_{number}", "type": kind, "data": {"object": obj}},
                    processed_at=datetime(2026, 11, 1 + number, tzinfo=UTC),
                    attempts=1,
                    supporter_id=about,
                )
            )
        db.session.commit()
        return {"layla": layla.id}


def found(client: FlaskClient, query: str) -> list[str]:
    """The emails listed for ``query``."""
    page = client.get("/staff/supporters", query_string={"q": query}).get_data(as_text=True)
    return re.findall(r'<td><bdi dir="ltr"><a href="/staff/supporters/\d+">([^<]+)</a>', page)


def test_search_by_email_or_name(app: Flask, finance_client: FlaskClient) -> None:
    seed(app)
    assert found(finance_client, "LAYLA.haddad@example.org") == ["layla.haddad@example.org"]
    assert found(finance_client, "layla") == ["layla.haddad@example.org"]  # the start of an email
    assert found(finance_client, "حداد") == ["layla.haddad@example.org"]  # part of an Arabic name
    assert found(finance_client, "haddad") == ["omar@example.org"]  # part of a name, any case
    assert found(finance_client, "%") == ["percent@example.org"]  # a percent sign, not a wildcard
    assert found(finance_client, "_") == []
    assert found(finance_client, "nobody") == []


def test_supporter_page_shows_history_emails_and_events(
    app: Flask, finance: Staff, finance_client: FlaskClient
) -> None:
    ids = seed(app)
    response = finance_client.get(f"/staff/supporters/{ids['layla']}?lang=en")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "ليلى حداد" in page and "layla.haddad@example.org" in page
    assert "In grace (payment failed)" in page and "sub_layla" in page
    payments = page.split('id="table-payments"')[1].split("</table>")[0]
    assert payments.count("<tr id=") == 2
    assert "2026-0000042" in payments and "insufficient_funds" in payments
    emails = page.split('id="table-emails"')[1].split("</table>")[0]
    assert "Payment failed" in emails and "لم تنجح عملية الدفع" in emails and "Sent" in emails
    events = page.split('id="table-events"')[1].split("</table>")[0]
    assert "invoice.payment_failed" in events and "charge.dispute.created" in events
    assert "cus_someone_else" not in events and "evt_2" not in events
    with app.app_context():
        views = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "supporter.view")).all()
        assert [(v.actor, v.supporter_id) for v in views] == [(f"staff:{finance.id}", ids["layla"])]


def test_unknown_supporter_is_not_found(app: Flask, finance_client: FlaskClient) -> None:
    assert finance_client.get("/staff/supporters/999999").status_code == 404


def test_the_card_brand_is_spelt_as_on_the_account_page(app: Flask, finance_client: FlaskClient) -> None:
    with app.app_context():
        supporter = SupporterFactory(
            card_brand="visa", card_last4="4242", card_exp_month=12, card_exp_year=2030
        )
        db.session.commit()
        supporter_id = supporter.id
    page = finance_client.get(f"/staff/supporters/{supporter_id}").get_data(as_text=True)
    assert "Visa ···· 4242" in page and "visa ····" not in page
