"""The test matrix: every handled event sequence, in both payload shapes and in any
delivery order, ends in the same supporter, membership, payments and emails.

Each sequence is what Stripe sends for one thing that happens (a sign-up, a
renewal, a failed renewal then paid, a refund, a dispute won or lost, a payout
of a renewal), built from Stripe's own example objects (``tests/data/
stripe_fixtures3.json``), in the current shape (``2025-03-31.basil`` on: no
payment on invoices, no invoice on payment intents and charges; the link is
``invoice_payment.paid``) or the older pinned ``2024-06-20`` shape
(``invoice.subscription``, ``invoice.payment_intent`` / ``charge``,
``payment_intent.invoice``, ``charge.invoice``,
``subscription.current_period_end``).  It is delivered in order, reversed,
shuffled and with every event twice, through the real path
(``webhooks.store_event`` and ``webhooks.apply_event``, then the retries of
``webhook_queue.apply_pending`` until nothing is left), and the end state is
compared with what the sequence means; and the same deliveries stored first, then
applied by a worker's run in batches (``webhook_queue.apply_stored``).  Stripe is asked nothing the events
carry: never a payment intent; the customer once (events name it only by
id); the subscription only when an invoice came before its subscription's
events (an invoice names the subscription, not its terms); a payout's
transactions once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import EmailKind, EmailLog, Membership, Payment, Supporter, WebhookEvent
from app.services import reconciliation, webhook_queue, webhooks
from tests import stripe_events as se

CUSTOMER, SUBSCRIPTION = "cus_matrix", "sub_matrix"
EMAIL = "matrix.reader@example.org"
MONTH = 30 * 86400


@dataclass
class Story:
    """What Stripe sends for one happening, and what it means for us."""

    events: list[dict[str, Any]] = field(default_factory=list)
    final_subscription: dict[str, Any] | None = None
    #: (invoice, payment intent, charge, amount, status, refunded amount), by invoice
    payments: set[tuple[Any, ...]] = field(default_factory=set)
    #: (kind, what about), the about naming Stripe's ids instead of our row ids
    emails: set[tuple[str, str]] = field(default_factory=set)
    #: payout id -> the balance transactions Stripe lists for it
    payouts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: an email sent only when one event is delivered before another: email -> (event, event)
    only_if_before: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)


class Builder:
    """Events of one story, each ten seconds after the last (Stripe's ``created`` order)."""

    def __init__(self, shape: str) -> None:
        self.shape = shape
        self.story = Story()
        # Recent, so that waiting for a link is what happens (``payments.LINK_WAIT``).
        self.at = int(time.time()) - 300
        self.started = self.at

    def send(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.at += 10
        evt = se.event(event_type, obj, created=self.at)
        self.story.events.append(evt)
        return evt

    def subscription(self, event_type: str, status: str, period_end: int, amount: int = 1000) -> None:
        obj = se.subscription(
            SUBSCRIPTION, CUSTOMER, status=status, amount=amount, period_end=period_end, shape=self.shape
        )
        obj["start_date"] = obj["created"] = self.started
        self.send(event_type, obj)
        self.story.final_subscription = obj

    def invoice_paid(
        self, n: int, *, reason: str = "subscription_cycle", both: bool = False, amount: int = 1000
    ) -> None:
        """``invoice.paid`` (and ``invoice.payment_succeeded`` when ``both``), the intent's
        ``payment_intent.succeeded`` and, in the current shape, ``invoice_payment.paid``."""
        old = self.shape == se.OLD
        invoice_id, intent_id, charge_id = f"in_m{n}", f"pi_m{n}", f"ch_m{n}"
        invoice = se.invoice(
            invoice_id,
            CUSTOMER,
            SUBSCRIPTION,
            amount=amount,
            payment_intent=intent_id if old else None,
            charge=charge_id if old else None,
            paid_at=self.at + 10,
            shape=self.shape,
        )
        invoice["billing_reason"] = reason
        intent = se.payment_intent(
            intent_id, CUSTOMER, amount=amount, charge=charge_id, invoice_id=invoice_id, shape=self.shape
        )
        self.send("payment_intent.succeeded", intent)
        self.send("invoice.paid", invoice)
        if both:
            self.send("invoice.payment_succeeded", invoice)
        if not old:
            self.send(
                "invoice_payment.paid",
                se.invoice_payment(invoice_id, payment_intent=intent_id, amount=amount, paid_at=self.at),
            )
        self.story.emails.add((EmailKind.RECEIPT, f"payment:{invoice_id}"))

    def payment(self, n: int, status: str = "succeeded", refunded: int = 0, amount: int = 1000) -> None:
        self.story.payments.add((f"in_m{n}", f"pi_m{n}", f"ch_m{n}", amount, status, refunded))

    def member(self) -> None:
        """An active member since the story began (``customer.subscription.created``)."""
        self.subscription("customer.subscription.created", "active", self.started + MONTH)
        self.story.emails.add((EmailKind.WELCOME, f"membership:{SUBSCRIPTION}"))


def sign_up(b: Builder) -> None:
    b.subscription("customer.subscription.created", "incomplete", b.started + MONTH)
    b.invoice_paid(1, reason="subscription_create", both=True)
    b.subscription("customer.subscription.updated", "active", b.started + MONTH)
    b.story.emails.add((EmailKind.WELCOME, f"membership:{SUBSCRIPTION}"))
    b.payment(1)


def renewal(b: Builder) -> None:
    b.member()
    b.invoice_paid(2)
    b.subscription("customer.subscription.updated", "active", b.started + 2 * MONTH)
    b.payment(2)


def failed_renewal_then_paid(b: Builder) -> None:
    """The first try is declined, Stripe retries the same payment intent and it succeeds."""
    b.member()
    old = b.shape == se.OLD
    failed = se.invoice(
        "in_m3",
        CUSTOMER,
        SUBSCRIPTION,
        status="open",
        payment_intent="pi_m3" if old else None,
        charge="ch_m3_declined" if old else None,
        shape=b.shape,
    )
    declined = se.payment_intent(
        "pi_m3",
        CUSTOMER,
        status="requires_payment_method",
        charge="ch_m3_declined",
        invoice_id="in_m3",
        decline_code="insufficient_funds",
        shape=b.shape,
    )
    b.send("payment_intent.payment_failed", declined)
    failure = b.send("invoice.payment_failed", failed)
    b.subscription("customer.subscription.updated", "past_due", b.started + MONTH)
    b.invoice_paid(3)
    paid = b.story.events[-1 if old else -2]
    b.subscription("customer.subscription.updated", "active", b.started + 2 * MONTH)
    b.payment(3)
    # The member hears of the failure only if it is applied before the retry's payment:
    # once paid, a failure that comes late is history.
    b.story.only_if_before[(EmailKind.PAYMENT_FAILED, "payment:in_m3")] = (failure["id"], paid["id"])


def refund(b: Builder) -> None:
    b.member()
    b.invoice_paid(4)
    charge = se.charge(
        "ch_m4", "pi_m4", amount_refunded=400, customer_id=CUSTOMER, invoice_id="in_m4", shape=b.shape
    )
    b.send("charge.refunded", charge)
    b.payment(4, refunded=400)
    b.story.emails.add((EmailKind.REFUND, "payment:in_m4:refund:400"))


def dispute(outcome: str) -> Callable[[Builder], None]:
    def story(b: Builder) -> None:
        b.member()
        b.invoice_paid(5)
        b.send("charge.dispute.created", se.dispute("dp_m5", "ch_m5", "pi_m5", status="needs_response"))
        b.send("charge.dispute.closed", se.dispute("dp_m5", "ch_m5", "pi_m5", status=outcome))
        b.payment(5, status="succeeded" if outcome == "won" else "disputed")

    return story


def payout(b: Builder) -> None:
    """A renewal's money reaches the bank: the payout lists its charge."""
    b.member()
    b.invoice_paid(6)
    b.payment(6)
    paid = se.payout("po_m6", amount=1000 - 59, arrival_date=b.at + 86400)
    b.story.payouts["po_m6"] = [
        {
            "id": "txn_m6",
            "object": "balance_transaction",
            "type": "charge",
            "reporting_category": "charge",
            "amount": 1000,
            "fee": 59,
            "net": 941,
            "currency": "usd",
            "exchange_rate": None,
            "source": "ch_m6",
            "created": b.at,
        }
    ]
    b.send("payout.paid", paid)
    b.send("payout.reconciliation_completed", paid)  # where payouts are read once it is handled


STORIES: dict[str, Callable[[Builder], None]] = {
    "sign-up": sign_up,
    "renewal": renewal,
    "failed-renewal-then-paid": failed_renewal_then_paid,
    "refund": refund,
    "dispute-won": dispute("won"),
    "dispute-lost": dispute("lost"),
    "payout": payout,
}


def deliveries(events: list[dict[str, Any]], order: str) -> list[dict[str, Any]]:
    if order == "in-order":
        return list(events)
    if order == "reversed":
        return events[::-1]
    rng = random.Random(order)
    if order.startswith("shuffled"):
        return rng.sample(events, len(events))
    # "twice": every event delivered again (Stripe redelivers), all shuffled
    return rng.sample(events * 2, 2 * len(events))


ORDERS = ["in-order", "reversed", "shuffled-1", "shuffled-2", "shuffled-3", "twice"]
#: Each order applied one by one; two of them also by a worker's run in batches (which applies
#: the oldest first whatever the order of delivery: more orders would test the same).
RUNS = [(order, "one-by-one") for order in ORDERS] + [
    (order, "in-batches") for order in ("shuffled-1", "twice")
]


def apply_all(app: Flask, delivered: list[dict[str, Any]], path: str = "one-by-one") -> None:
    """Store and apply each delivery (or store them all, then a worker's run applies them in
    batches of two: ``webhook_queue.apply_stored``); then the retries, until a pass applies nothing."""
    with app.app_context():
        for evt in delivered:
            stored = webhooks.store_event(evt)
            if path == "one-by-one":
                webhooks.apply_event(stored.stripe_event_id)
        if path == "in-batches":
            webhook_queue.apply_stored(seconds=60)
        for _ in range(len(delivered)):
            if not webhook_queue.apply_pending().get(webhooks.Applied.APPLIED):
                break
        waiting = db.session.scalars(sa.select(WebhookEvent).where(WebhookEvent.processed_at.is_(None)))
        assert [(e.type, e.last_error) for e in waiting] == []


def end_state(app: Flask) -> dict[str, Any]:
    with app.app_context():
        supporters = [(s.email, s.stripe_customer_id) for s in db.session.scalars(sa.select(Supporter))]
        memberships = [
            (m.stripe_subscription_id, m.status, m.amount, m.current_period_end)
            for m in db.session.scalars(sa.select(Membership))
        ]
        payments = list(db.session.scalars(sa.select(Payment)))
        by_row = {f"payment:{p.id}": f"payment:{p.stripe_invoice_id}" for p in payments}
        by_row |= {
            f"membership:{m.id}": f"membership:{m.stripe_subscription_id}"
            for m in db.session.scalars(sa.select(Membership))
        }
        emails = set()
        for email in db.session.scalars(sa.select(EmailLog)):
            about = email.about
            for ours, theirs in by_row.items():
                if about == ours or about.startswith(ours + ":"):
                    about = theirs + about[len(ours) :]
            emails.add((email.kind, about))
        checks = [
            (c.payout.stripe_payout_id, c.payout.status, c.difference, c.unmatched)
            for c in reconciliation.payouts_between(
                datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
            )
        ]
        return {
            "supporters": supporters,
            "memberships": memberships,
            "payments": {
                (
                    p.stripe_invoice_id,
                    p.stripe_payment_intent_id,
                    p.stripe_charge_id,
                    p.amount,
                    p.status,
                    p.refunded_amount,
                )
                for p in payments
            },
            "payment_owners": {(p.membership_id is not None) for p in payments},
            "emails": emails,
            "payouts": checks,
        }


@pytest.mark.parametrize(("order", "path"), RUNS)
@pytest.mark.parametrize("shape", [se.CURRENT, se.OLD])
@pytest.mark.parametrize("name", list(STORIES))
def test_any_order_of_either_shape_ends_the_same(
    app: Flask, gateway: se.FakeGateway, name: str, shape: str, order: str, path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    builder = Builder(shape)
    STORIES[name](builder)
    story = builder.story
    gateway.customers[CUSTOMER] = se.customer(CUSTOMER, EMAIL, "Matrix Reader", ["en"])
    assert story.final_subscription is not None
    gateway.subscriptions[SUBSCRIPTION] = story.final_subscription  # Stripe's state at the end
    gateway.payouts.update(story.payouts)
    delivered = deliveries(story.events, order)
    monkeypatch.setattr(webhook_queue, "CLAIM_BATCH", 2)  # a story's events span several batches
    created = {evt["id"]: evt["created"] for evt in delivered}

    apply_all(app, delivered, path)
    state = end_state(app)

    assert state["supporters"] == [(EMAIL, CUSTOMER)]
    final = story.final_subscription
    assert [m[:3] for m in state["memberships"]] == [(SUBSCRIPTION, final["status"], 1000)]
    assert state["memberships"][0][3] is not None
    assert int(state["memberships"][0][3].timestamp()) == se_period_end(final)
    assert state["payments"] == story.payments
    assert state["payment_owners"] == {True}  # a membership's charges, never taken for gifts
    expected_emails = set(story.emails)
    position = {evt["id"]: i for i, evt in reversed(list(enumerate(delivered)))}
    if path == "in-batches":  # a worker's run applies the oldest first (Stripe's time, then arrival)
        position = {i: n for n, i in enumerate(sorted(position, key=lambda i: (created[i], position[i])))}
    for email, (first, then) in story.only_if_before.items():
        if position[first] < position[then]:
            expected_emails.add(email)
    assert state["emails"] == expected_emails
    if story.payouts:
        assert state["payouts"] == [("po_m6", "paid", 0, 0)]  # every charge in it is ours

    # Stripe was asked nothing the events carried.
    assert [call for call in gateway.calls if call[0] == "payment_intent"] == []
    assert gateway.calls.count(("customer", CUSTOMER)) == 1
    assert gateway.calls.count(("subscription", SUBSCRIPTION)) <= 1
    assert all(gateway.calls.count(("payout_balance_transactions", p)) == 1 for p in story.payouts)


def se_period_end(subscription: dict[str, Any]) -> int:
    if "current_period_end" in subscription:
        return int(subscription["current_period_end"])
    return int(subscription["items"]["data"][0]["current_period_end"])
