"""``flask supporters show`` and the options of the operator commands.

Rows come from factories where the test needs exact dates and orders, and
from localstripe through ``stripe sync`` where it checks the whole way round.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
from click.testing import Result
from flask import Flask

from app.extensions import db
from app.models import Interval, MembershipStatus, PaymentStatus
from tests.factories import MembershipFactory, PaymentFactory, SupporterFactory
from tests.harness import empty_localstripe, own_localstripe_url  # noqa: F401 (fixtures: a localstripe of this module's own, emptied before each test)
from tests.services.test_sync import reader, subscribe

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def show_json(app: Flask, email: str) -> dict[str, Any]:
    result = run(app, "supporters", "show", email, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_supporters_show_json_is_the_supporters_rows(app: Flask) -> None:
    with app.app_context():
        supporter = SupporterFactory(email="layla@example.org", name="ليلى حداد", locale="ar")
        old = MembershipFactory(
            supporter=supporter,
            status=MembershipStatus.CANCELED,
            amount=300,
            currency="usd",
            current_period_end=T0 + timedelta(days=400),  # later than the current one's
        )
        current = MembershipFactory(
            supporter=supporter,
            status=MembershipStatus.PAST_DUE,  # still a member while Stripe retries
            amount=2000,
            currency="eur",
            interval=Interval.YEAR,
            current_period_end=T0 + timedelta(days=30),
            cancel_at_period_end=True,
        )
        first = PaymentFactory(membership=old, amount=300, paid_at=T0)
        refunded = PaymentFactory(
            membership=None,
            supporter=supporter,
            stripe_invoice_id=None,
            stripe_payment_intent_id="pi_once",
            amount=1500,
            currency="try",
            status=PaymentStatus.REFUNDED,
            refunded_amount=1500,
            paid_at=T0 + timedelta(days=10),
        )
        renewal = PaymentFactory(
            membership=current, amount=2000, currency="eur", paid_at=T0 + timedelta(days=20)
        )
        failed = PaymentFactory(
            membership=current,
            amount=2000,
            currency="eur",
            status=PaymentStatus.FAILED,
            failure_code="card_declined",
            paid_at=None,
            receipt_number=None,
            stripe_charge_id=None,
        )
        SupporterFactory(email="someone.else@example.org")
        db.session.commit()
        expected_payments = [
            {
                "amount": p.amount,
                "currency": p.currency,
                "status": p.status.value,
                "paid_at": iso(p.paid_at),
                "receipt_number": p.receipt_number,
                "refunded_amount": p.refunded_amount,
                "one_time": p.membership_id is None,
                "failure_code": p.failure_code,
                "stripe_invoice_id": p.stripe_invoice_id,
                "stripe_payment_intent_id": p.stripe_payment_intent_id,
                "stripe_charge_id": p.stripe_charge_id,
            }
            # Newest first; the failed attempt (never paid) counts from when it was recorded.
            for p in (failed, renewal, refunded, first)
        ]
        expected = {
            "email": "layla@example.org",
            "locale": "ar",
            "name": "ليلى حداد",
            "stripe_customer_id": supporter.stripe_customer_id,
            "membership": {
                "status": "past_due",
                "amount": 2000,
                "currency": "eur",
                "interval": "year",
                "current_period_end": "2026-03-31T09:30:15Z",
                "cancel_at_period_end": True,
                "stripe_subscription_id": current.stripe_subscription_id,
            },
            "payments": expected_payments,
        }

    data = show_json(app, "  Layla@EXAMPLE.org ")
    assert data == expected
    raw = run(app, "supporters", "show", "layla@example.org", "--json").stdout
    assert "ليلى حداد" in raw  # not \\u-escaped


def test_without_a_current_membership_the_most_recent_one_is_shown(app: Flask) -> None:
    with app.app_context():
        supporter = SupporterFactory(email="former@example.org")
        MembershipFactory(supporter=supporter, status=MembershipStatus.CANCELED, current_period_end=T0)
        later = MembershipFactory(
            supporter=supporter,
            status=MembershipStatus.UNPAID,
            current_period_end=T0 + timedelta(days=31),
        )
        SupporterFactory(email="new@example.org", name="")
        db.session.commit()
        later_id = later.stripe_subscription_id
    membership = show_json(app, "former@example.org")["membership"]
    assert (membership["status"], membership["stripe_subscription_id"]) == ("unpaid", later_id)
    assert show_json(app, "new@example.org") | {"stripe_customer_id": None} == {
        "email": "new@example.org",
        "locale": "ar",
        "name": "",
        "stripe_customer_id": None,
        "membership": None,
        "payments": [],
    }


def test_supporters_show_without_json_prints_a_summary(app: Flask) -> None:
    with app.app_context():
        supporter = SupporterFactory(email="sam@example.org", name="Sam", locale="en")
        membership = MembershipFactory(
            supporter=supporter, amount=500, currency="usd", current_period_end=T0, cancel_at_period_end=True
        )
        PaymentFactory(membership=membership, amount=500, paid_at=T0, receipt_number="2026-0000042")
        PaymentFactory(
            membership=None,
            supporter=supporter,
            amount=25000,
            currency="try",
            refunded_amount=5000,
            paid_at=T0 - timedelta(days=1),
        )
        db.session.commit()
    result = run(app, "supporters", "show", "SAM@example.org")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Sam <sam@example.org>, language en")
    assert (
        "membership: active, 5.00 USD a month, period ends 2026-03-01T09:30:15Z, cancels at period end"
        in lines[1]
    )
    assert lines[2] == "payments: 2"
    assert "5.00 USD" in lines[3] and "receipt 2026-0000042" in lines[3]
    assert "250.00 TRY" in lines[4] and "50.00 TRY refunded" in lines[4] and "one-time" in lines[4]


def test_supporters_show_unknown_email_exits_non_zero(app: Flask) -> None:
    with app.app_context():
        SupporterFactory(email="known@example.org")
        db.session.commit()
    for args in (["nobody@example.org", "--json"], ["nobody@example.org"]):
        result = run(app, "supporters", "show", *args)
        assert result.exit_code != 0
        assert result.stdout == ""
        assert "no supporter with email nobody@example.org" in result.stderr


def test_supporters_show_after_sync_says_what_stripe_says(
    app: Flask, stripe_client: stripe.StripeClient
) -> None:
    customer = reader(stripe_client, "Nour@Example.org", "نور", ("ar",))
    subscription = subscribe(stripe_client, customer.id, 300, "usd", "month")
    assert run(app, "stripe", "sync").exit_code == 0

    data = show_json(app, "nour@example.org")
    invoice = stripe_client.v1.invoices.retrieve(subscription["latest_invoice"])
    charge = invoice["charge"] if isinstance(invoice["charge"], str) else invoice["charge"]["id"]
    assert (data["email"], data["name"], data["locale"], data["stripe_customer_id"]) == (
        "nour@example.org",
        "نور",
        "ar",
        customer.id,
    )
    assert data["membership"] == {
        "status": subscription["status"],
        "amount": 300,
        "currency": "usd",
        "interval": "month",
        "current_period_end": iso(datetime.fromtimestamp(subscription["current_period_end"], UTC)),
        "cancel_at_period_end": False,
        "stripe_subscription_id": subscription.id,
    }
    [payment] = data["payments"]
    assert (payment["amount"], payment["currency"], payment["status"], payment["refunded_amount"]) == (
        300,
        "usd",
        "succeeded",
        0,
    )
    assert (
        payment["stripe_invoice_id"],
        payment["stripe_payment_intent_id"],
        payment["stripe_charge_id"],
    ) == (
        invoice.id,
        invoice["payment_intent"],
        charge,
    )
    assert payment["paid_at"] == iso(datetime.fromtimestamp(invoice["status_transitions"]["paid_at"], UTC))
    assert payment["receipt_number"]


@pytest.mark.parametrize(
    "args",
    [
        ["stripe", "replay", "--days", "31"],
        ["stripe", "replay", "--days", "0"],
        ["stripe", "sync", "--limit", "0"],
        ["stripe", "sync", "--page-size", "101"],
        ["supporters", "show"],
    ],
)
def test_operator_commands_refuse_bad_options(app: Flask, args: list[str]) -> None:
    result = run(app, *args)
    assert result.exit_code == 2, result.output
    assert "Error" in result.stderr
