"""Stripe events for tests: built from Stripe's own example objects, signed as Stripe signs.

``tests/data/stripe_fixtures3.json`` holds Stripe's example objects in the
current API shape (a subset of ``openapi/fixtures3.json``).  Builders take one,
set what a test needs, and can turn it into the older shape that localstripe
and accounts on older API versions send:

| field | current shape | older shape |
| --- | --- | --- |
| invoice's subscription | ``parent.subscription_details.subscription`` | ``subscription`` |
| invoice's payment | none: event ``invoice_payment.paid`` | ``payment_intent``, ``charge`` |
| subscription period | ``items.data[0].current_period_end`` | ``current_period_end`` |
| payment intent / charge | no ``invoice`` | ``invoice`` (null for one-time) |
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
from functools import cache
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.services.gateway import EventGateway
from tests.conftest import WEBHOOK_SECRET

FIXTURES = Path(__file__).resolve().parent / "data" / "stripe_fixtures3.json"
CURRENT, OLD = "current", "old"

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_test{next(_ids):06d}{int(time.time() * 1000) % 100000:05d}"


@cache
def _resources() -> dict[str, Any]:
    return json.loads(FIXTURES.read_text())["resources"]


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of Stripe's example object ``name``."""
    return copy.deepcopy(_resources()[name])


# -- objects -------------------------------------------------------------------------------


def customer(
    customer_id: str, email: str | None = None, name: str | None = None, locales: list[str] | None = None
) -> dict[str, Any]:
    obj = fixture("customer")
    obj.update(
        id=customer_id,
        email=email,
        name=name,
        preferred_locales=locales or [],
        discount=None,
    )
    return obj


def subscription(
    subscription_id: str,
    customer_id: str,
    *,
    status: str = "active",
    amount: int = 1000,
    currency: str = "usd",
    interval: str = "month",
    quantity: int = 1,
    period_end: int | None = None,
    cancel_at_period_end: bool = False,
    canceled_at: int | None = None,
    metadata: dict[str, str] | None = None,
    shape: str = CURRENT,
) -> dict[str, Any]:
    obj = fixture("subscription")
    period_end = period_end or int(time.time()) + 30 * 86400
    obj.update(
        id=subscription_id,
        customer=customer_id,
        status=status,
        currency=currency,
        cancel_at_period_end=cancel_at_period_end,
        canceled_at=canceled_at,
        cancel_at=None,
        ended_at=canceled_at,
        metadata=metadata or {},
        cancellation_details={"comment": None, "feedback": None, "reason": None},
    )
    item = obj["items"]["data"][0]
    item["subscription"] = subscription_id
    item["quantity"] = quantity
    item["current_period_end"] = period_end
    item["current_period_start"] = period_end - 30 * 86400
    price = item["price"]
    price.update(unit_amount=amount, unit_amount_decimal=str(amount), currency=currency)
    price["recurring"]["interval"] = interval
    if shape == CURRENT:
        # As in the fixture: the plan view of a price may leave the amount out.
        item["plan"].update(amount=None, currency=currency, interval=interval, interval_count=1)
        return obj
    # Older versions: period on the subscription, a plan with its amount, no price.
    item.pop("current_period_end")
    item.pop("current_period_start")
    item.pop("price")
    item["plan"].update(
        amount=amount,
        amount_decimal=str(amount),
        currency=currency,
        interval=interval,
        interval_count=1,
        billing_scheme="per_unit",
    )
    obj["plan"] = item["plan"]
    obj["quantity"] = quantity
    obj["current_period_end"] = period_end
    obj["current_period_start"] = period_end - 30 * 86400
    return obj


def invoice(
    invoice_id: str,
    customer_id: str,
    subscription_id: str | None,
    *,
    amount: int = 1000,
    currency: str = "usd",
    status: str = "paid",
    payment_intent: str | None = None,
    charge: str | None = None,
    paid_at: int | None = None,
    metadata: dict[str, str] | None = None,
    shape: str = CURRENT,
) -> dict[str, Any]:
    obj = fixture("invoice")
    paid = status == "paid"
    obj.update(
        id=invoice_id,
        customer=customer_id,
        currency=currency,
        status=status,
        amount_due=amount,
        amount_paid=amount if paid else 0,
        amount_remaining=0 if paid else amount,
        total=amount,
        subtotal=amount,
        billing_reason="subscription_cycle" if subscription_id else "manual",
        last_finalization_error=None,
        from_invoice=None,
    )
    obj["status_transitions"]["paid_at"] = (paid_at or int(time.time())) if paid else None
    line = obj["lines"]["data"][0]
    line.update(amount=amount, currency=currency, invoice=invoice_id, metadata=metadata or {})
    if shape == CURRENT:
        if payment_intent or charge:
            # Webhooks never carry the expanded ``payments`` list: the link is
            # its own event (``invoice_payment``, below).
            raise TypeError("a current-shape invoice names no payment: send invoice_payment.paid")
        obj["subscription"] = None
        obj["parent"] = (
            {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"subscription": subscription_id, "metadata": metadata or {}},
            }
            if subscription_id
            else None
        )
        return obj
    obj.pop("parent")
    obj.update(subscription=subscription_id, payment_intent=payment_intent, charge=charge, paid=paid)
    line["subscription"] = subscription_id
    return obj


def invoice_payment(
    invoice_id: str,
    *,
    payment_intent: str | None = None,
    charge: str | None = None,
    amount: int = 1000,
    currency: str = "usd",
    paid_at: int | None = None,
) -> dict[str, Any]:
    """The link from an invoice to what paid it (``invoice_payment.paid``, API 2025-03-31 on).

    Stripe names the payment intent, or the charge only when it has no intent.
    """
    obj = fixture("invoice_payment")
    paid = paid_at or int(time.time())
    obj.update(
        id=new_id("inpay"),
        invoice=invoice_id,
        amount_paid=amount,
        amount_requested=amount,
        currency=currency,
        status="paid",
        livemode=False,
        created=paid,
    )
    obj["payment"] = (
        {"type": "payment_intent", "payment_intent": payment_intent}
        if payment_intent
        else {"type": "charge", "charge": charge}
    )
    obj["status_transitions"] = {"canceled_at": None, "paid_at": paid}
    return obj


def payment_intent(
    intent_id: str,
    customer_id: str | None,
    *,
    amount: int = 1000,
    currency: str = "usd",
    status: str = "succeeded",
    charge: str | None = None,
    invoice_id: str | None = None,
    metadata: dict[str, str] | None = None,
    decline_code: str | None = None,
    shape: str = CURRENT,
) -> dict[str, Any]:
    obj = fixture("payment_intent")
    obj.update(
        id=intent_id,
        customer=customer_id,
        amount=amount,
        amount_received=amount if status == "succeeded" else 0,
        currency=currency,
        status=status,
        latest_charge=charge,
        metadata=metadata or {},
        client_secret=f"{intent_id}_secret_test",
        next_action=None,
        last_payment_error=(
            {"type": "card_error", "code": "card_declined", "decline_code": decline_code}
            if status == "requires_payment_method"
            else None
        ),
    )
    if shape == OLD:
        obj["invoice"] = invoice_id
    return obj


def charge(
    charge_id: str,
    intent_id: str | None,
    *,
    amount: int = 1000,
    amount_refunded: int = 0,
    currency: str = "usd",
    customer_id: str | None = None,
    invoice_id: str | None = None,
    shape: str = CURRENT,
) -> dict[str, Any]:
    obj = fixture("charge")
    obj.update(
        id=charge_id,
        payment_intent=intent_id,
        amount=amount,
        amount_captured=amount,
        amount_refunded=amount_refunded,
        refunded=amount_refunded >= amount,
        currency=currency,
        customer=customer_id,
        captured=True,
        source=None,
    )
    if shape == OLD:
        obj["invoice"] = invoice_id
    return obj


def dispute(
    dispute_id: str, charge_id: str, intent_id: str | None, *, status: str, amount: int = 1000
) -> dict[str, Any]:
    obj = fixture("dispute")
    obj.update(id=dispute_id, charge=charge_id, payment_intent=intent_id, status=status, amount=amount)
    return obj


def payout(
    payout_id: str,
    *,
    amount: int,
    status: str = "paid",
    currency: str = "usd",
    arrival_date: int | None = None,
    automatic: bool = True,
    failure_code: str | None = None,
    failure_message: str | None = None,
) -> dict[str, Any]:
    """Stripe's payout example with our ids; a failed one names why, as Stripe does."""
    obj = fixture("payout")
    arrival = arrival_date or int(time.time())
    obj.update(
        id=payout_id,
        amount=amount,
        currency=currency,
        status=status,
        automatic=automatic,
        arrival_date=arrival,
        created=arrival - 2 * 86400,
        balance_transaction=new_id("txn"),
        failure_code=failure_code,
        failure_message=failure_message,
        failure_balance_transaction=new_id("txn") if status == "failed" else None,
        reconciliation_status="completed" if status == "paid" else "not_applicable",
    )
    return obj


# -- events --------------------------------------------------------------------------------


def event(
    event_type: str,
    obj: dict[str, Any],
    *,
    created: int | None = None,
    event_id: str | None = None,
    livemode: bool = False,
    api_version: str | None = "2025-08-27.basil",
) -> dict[str, Any]:
    """A Stripe event about ``obj``, from the fixture's event envelope."""
    envelope = fixture("event")
    envelope.update(
        id=event_id or new_id("evt"),
        type=event_type,
        created=created if created is not None else int(time.time()),
        livemode=livemode,
        api_version=api_version,
        data={"object": copy.deepcopy(obj)},
        pending_webhooks=1,
    )
    return envelope


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header: HMAC-SHA256 of ``"{t}.{body}"``, as Stripe computes it."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def body_of(evt: dict[str, Any]) -> bytes:
    return json.dumps(evt, indent=2).encode()


def post(
    client: FlaskClient,
    evt: dict[str, Any] | bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> TestResponse:
    """POST an event to the endpoint as Stripe does: raw JSON, signed."""
    body = evt if isinstance(evt, bytes) else body_of(evt)
    header = signature if signature is not None else sign(body, secret, timestamp)
    headers = {"Stripe-Signature": header} if header else {}
    return client.post(
        "/webhooks/stripe", data=body, headers=headers, content_type="application/json; charset=utf-8"
    )


class FakeGateway(EventGateway):
    """Stripe's current state for the few re-fetches the webhooks make; counts them.

    It declares the handlers' ``EventGateway`` protocol, so mypy checks that it
    offers what the real gateway offers them, with the same signatures.
    """

    def __init__(self) -> None:
        self.customers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        self.payouts: dict[str, list[dict[str, Any]]] = {}  # payout id -> its balance transactions
        self.payout_objects: dict[str, dict[str, Any]] = {}  # payout id -> the payout now
        self.calls: list[tuple[str, str]] = []

    def _get(self, kind: str, table: dict[str, dict[str, Any]], object_id: str) -> dict[str, Any]:
        self.calls.append((kind, object_id))
        from app.services.errors import NotFound

        if object_id not in table:
            raise NotFound("resource_missing", detail=object_id)
        return copy.deepcopy(table[object_id])

    def retrieve_customer(self, customer_id: str) -> dict[str, Any]:
        return self._get("customer", self.customers, customer_id)

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._get("subscription", self.subscriptions, subscription_id)

    def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return self._get("payment_intent", self.payment_intents, payment_intent_id)

    def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._get("invoice", self.invoices, invoice_id)

    def retrieve_payment_method(self, payment_method_id: str) -> dict[str, Any]:
        return self._get("payment_method", self.payment_methods, payment_method_id)

    def retrieve_payout(self, payout_id: str) -> dict[str, Any]:
        return self._get("payout", self.payout_objects, payout_id)

    def payout_balance_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        self.calls.append(("payout_balance_transactions", payout_id))
        return copy.deepcopy(self.payouts.get(payout_id, []))
