"""The demo's payouts: localstripe (devtools/localstripe_server.py) pays out what it holds, and the
service reads the payout through the real gateway and reconciles it to zero, or not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Flask

from app.extensions import db
from app.models import Payout
from app.services import reconciliation
from app.services.stripe_gateway import get_gateway
from devtools.demo_payout import pay_out
from devtools.localstripe_server import CARD_FEE_BPS, CARD_FEE_FIXED, UNMATCHED_AMOUNT
from tests.factories import PaymentFactory, SupporterFactory
from tests.harness import empty_localstripe, own_localstripe_url  # noqa: F401 (fixtures: a localstripe of this module's own, emptied before each test)


def gift(stripe_client: stripe.StripeClient, amount: int) -> str:
    """A paid one-time gift at localstripe; its charge id."""
    customer = stripe_client.v1.customers.create(params={"email": "hala@example.org"})
    stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    intent = stripe_client.v1.payment_intents.create(
        params={
            "customer": customer.id,
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    latest = intent["latest_charge"]
    return str(latest if isinstance(latest, str) else latest["id"])


def fee(amount: int) -> int:
    return amount * CARD_FEE_BPS // 10000 + CARD_FEE_FIXED


def reconcile(app: Flask, payout: dict[str, Any]) -> reconciliation.PayoutCheck:
    """Apply the two events localstripe sends for the payout (their objects, as it renders them)."""
    at = datetime.now(UTC)
    with app.app_context():
        reconciliation.payout_paid({**payout, "reconciliation_status": "in_progress"}, at, get_gateway())
        now = get_gateway().retrieve_payout(payout["id"]).to_dict()  # as the hourly re-check asks
        assert now["reconciliation_status"] == "completed"
        reconciliation.payout_reconciliation_completed(now, at, get_gateway())
        db.session.commit()
        row = db.session.scalars(sa.select(Payout).where(Payout.stripe_payout_id == payout["id"])).one()
        check = reconciliation.payout_check(row.id)
        assert check is not None
        return check


def test_a_demo_payout_of_recorded_gifts_reconciles_to_zero_and_one_with_a_stranger_does_not(
    app: Flask, localstripe_url: str, stripe_client: stripe.StripeClient
) -> None:
    charges = [gift(stripe_client, 1000), gift(stripe_client, 2500)]
    with app.app_context():
        reader = SupporterFactory(email="hala@example.org")
        for charge_id, amount in zip(charges, (1000, 2500), strict=True):
            PaymentFactory(membership=None, supporter=reader, amount=amount, stripe_charge_id=charge_id)
        db.session.commit()

    [payout] = pay_out(localstripe_url, unmatched=False)
    assert payout["amount"] == 3500 - fee(1000) - fee(2500)
    assert (payout["automatic"], payout["status"]) == (True, "paid")
    check = reconcile(app, payout)
    assert [line.state for line in check.lines] == ["matched", "matched"]
    assert check.difference == 0 and check.settled

    # The next payout holds only what came since, and a charge the service never recorded.
    charges.append(gift(stripe_client, 500))
    with app.app_context():
        other = SupporterFactory(email="omar@example.org")
        PaymentFactory(membership=None, supporter=other, amount=500, stripe_charge_id=charges[-1])
        db.session.commit()
    [stranger] = pay_out(localstripe_url, unmatched=True)
    check = reconcile(app, stranger)
    assert sorted(line.state for line in check.lines) == ["matched", "missing"]
    assert check.difference == UNMATCHED_AMOUNT  # its amount: Stripe kept its fee, we expected nothing
