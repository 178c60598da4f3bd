"""Property: however Stripe's events for many supporters are ordered and
repeated, what we store ends equal to Stripe's final state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import Membership, Payment, PaymentStatus, Supporter, WebhookEvent
from app.services import webhook_queue, webhooks
from tests import stripe_events as se
from tests.conftest import empty_tables

BASE = int(time.time()) - 10 * 86400  # in the past: a re-fetch is always newer

#: Seconds between two changes of one subscription; 0 is a tie Stripe's
#: ``created`` cannot order.
GAPS = st.sampled_from([0, 0, 1, 2, 3600])
AMOUNTS = st.sampled_from([300, 500, 1000, 2500])


@st.composite
def a_supporter(draw: st.DrawFn, n: int) -> dict[str, Any]:
    changes = [(draw(st.sampled_from(["incomplete", "active", "trialing"])), draw(AMOUNTS))]
    for _ in range(draw(st.integers(0, 3))):
        changes.append((draw(st.sampled_from(["active", "past_due", "unpaid", "trialing"])), draw(AMOUNTS)))
    ends = draw(st.booleans())
    invoices = [
        {
            "amount": draw(AMOUNTS),
            "failed_first": draw(st.booleans()),
            "kinds": draw(
                st.sampled_from(
                    [
                        [("invoice.paid", se.CURRENT), ("invoice_payment.paid", se.CURRENT)],
                        [("invoice.payment_succeeded", se.OLD)],
                        [
                            ("invoice.paid", se.CURRENT),
                            ("invoice_payment.paid", se.CURRENT),
                            ("invoice.payment_succeeded", se.OLD),
                        ],
                    ]
                )
            ),
        }
        for _ in range(draw(st.integers(0, 2)))
    ]
    gaps = [draw(GAPS) for _ in range(len(changes) + 1)]
    return {"n": n, "changes": changes, "ends": ends, "invoices": invoices, "gaps": gaps}


@st.composite
def a_history(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[int], list[int]]:
    supporters = [draw(a_supporter(n)) for n in range(draw(st.integers(1, 3)))]
    count = sum(
        len(s["changes"]) + s["ends"] + sum(len(i["kinds"]) + i["failed_first"] for i in s["invoices"])
        for s in supporters
    )
    order = draw(st.permutations(range(count)))
    repeats = draw(st.lists(st.integers(0, count - 1), max_size=6))
    return supporters, list(order), repeats


@dataclass
class Stripe:
    """What happened at Stripe, as events, and where it ended."""

    events: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)  # subscription id -> object
    invoices: dict[str, tuple[str, int]] = field(default_factory=dict)  # invoice id -> (subscription, amount)
    gateway: se.FakeGateway = field(default_factory=se.FakeGateway)


def play(supporters: list[dict[str, Any]]) -> Stripe:
    stripe = Stripe()
    for s in supporters:
        customer_id, subscription_id = f"cus_p{s['n']}", f"sub_p{s['n']}"
        stripe.gateway.customers[customer_id] = se.customer(
            customer_id, f"p{s['n']}@example.org", f"P {s['n']}"
        )
        at = BASE
        current: dict[str, Any] = {}
        for i, (status, amount) in enumerate(s["changes"]):
            at += s["gaps"][i]
            current = se.subscription(
                subscription_id, customer_id, status=status, amount=amount, period_end=at + 30 * 86400
            )
            kind = "customer.subscription.created" if i == 0 else "customer.subscription.updated"
            stripe.events.append(se.event(kind, current, created=at))
        if s["ends"]:
            at += s["gaps"][-1]
            current = {**current, "status": "canceled", "canceled_at": at}
            stripe.events.append(se.event("customer.subscription.deleted", current, created=at))
        stripe.final[subscription_id] = current
        stripe.gateway.subscriptions[subscription_id] = current
        for j, inv in enumerate(s["invoices"]):
            invoice_id = f"in_p{s['n']}_{j}"
            stripe.invoices[invoice_id] = (subscription_id, inv["amount"])
            paid_at = BASE + 1000 * (j + 1)
            if inv["failed_first"]:
                failed = se.invoice(
                    invoice_id, customer_id, subscription_id, amount=inv["amount"], status="open"
                )
                stripe.events.append(se.event("invoice.payment_failed", failed, created=paid_at - 500))
            for kind, shape in inv["kinds"]:
                if kind == "invoice_payment.paid":  # the current shape's link to the charge
                    link = se.invoice_payment(
                        invoice_id, charge=f"ch_p{s['n']}_{j}", amount=inv["amount"], paid_at=paid_at
                    )
                    stripe.events.append(se.event(kind, link, created=paid_at))
                    continue
                paid = se.invoice(
                    invoice_id,
                    customer_id,
                    subscription_id,
                    amount=inv["amount"],
                    payment_intent=f"pi_p{s['n']}_{j}" if shape == se.OLD else None,
                    charge=f"ch_p{s['n']}_{j}" if shape == se.OLD else None,
                    paid_at=paid_at,
                    shape=shape,
                )
                stripe.events.append(se.event(kind, paid, created=paid_at))
    return stripe


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=a_history())
def test_shuffled_and_repeated_events_end_in_stripes_state(app: Flask, history: Any) -> None:
    supporters, order, repeats = history
    stripe = play(supporters)
    assert len(stripe.events) == len(order)
    app.extensions["stripe_gateway"] = stripe.gateway
    empty_tables(app)
    client = app.test_client()
    for index in [*order, *repeats]:
        response = se.post(client, stripe.events[index])
        assert response.status_code == 200
    with app.app_context():
        # A link that came before its invoice waited (payment_not_found): its retry applies it.
        while webhook_queue.apply_pending().get(webhooks.Applied.APPLIED):
            pass

    with app.app_context():
        events = list(db.session.scalars(sa.select(WebhookEvent)))
        assert len(events) == len(stripe.events)
        assert [e.last_error for e in events if e.last_error or not e.processed_at] == []
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Supporter)) == len(supporters)

        memberships = {m.stripe_subscription_id: m for m in db.session.scalars(sa.select(Membership))}
        assert set(memberships) == set(stripe.final)
        for subscription_id, final in stripe.final.items():
            membership = memberships[subscription_id]
            item = final["items"]["data"][0]
            assert (membership.status, membership.amount) == (final["status"], item["price"]["unit_amount"])
            assert membership.current_period_end == datetime.fromtimestamp(item["current_period_end"], UTC)

        payments = list(db.session.scalars(sa.select(Payment)))
        assert sorted(p.stripe_invoice_id for p in payments) == sorted(stripe.invoices)
        for payment in payments:
            subscription_id, amount = stripe.invoices[payment.stripe_invoice_id]
            assert payment.status == PaymentStatus.SUCCEEDED and payment.amount == amount
            assert payment.membership_id == memberships[subscription_id].id
            assert payment.stripe_charge_id == payment.stripe_invoice_id.replace("in_", "ch_")
