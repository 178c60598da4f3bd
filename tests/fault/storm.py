"""A storm of Stripe events: what a renewal day looks like, delivered the way Stripe delivers.

``history`` plays each supporter's year at Stripe (a subscription created,
changed, sometimes cancelled; invoices paid, sometimes after a failed try, in
both payload shapes) and keeps Stripe's final state.  ``deliver`` sends the
events signed, duplicated, shuffled and many at a time to a live server, and
delivers again whatever was not acknowledged, as Stripe does.  ``differences``
compares our tables with Stripe's final state.  The suite runs it small; the
benchmark ``bench/fault_storm.py`` runs it at 1,000 supporters and 10,000
events.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from app.extensions import db
from app.models import EmailKind, EmailLog, Membership, Payment, PaymentStatus, WebhookEvent
from tests import stripe_events as se
from tests.harness import free_port

DAY = 86400


@dataclass
class Stripe:
    """What happened at Stripe, as events, and where it ended."""

    events: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)  # subscription id -> object
    paid: dict[str, tuple[str, int]] = field(default_factory=dict)  # invoice id -> (subscription, amount)
    gateway: se.FakeGateway = field(default_factory=se.FakeGateway)


def history(supporters: int, seed: int = 7) -> Stripe:
    """About ten events per supporter, all within the last two days (so receipts are due)."""
    rng = random.Random(seed)
    stripe = Stripe()
    start = int(time.time()) - 2 * DAY
    for n in range(supporters):
        customer_id, subscription_id = f"cus_storm{n}", f"sub_storm{n}"
        stripe.gateway.customers[customer_id] = se.customer(
            customer_id, f"storm{n}@example.org", f"Storm {n}", [rng.choice(["ar", "en"])]
        )
        at = start + rng.randrange(3600)
        amount = rng.choice([100, 300, 500, 1000])
        current = se.subscription(subscription_id, customer_id, amount=amount, period_end=at + 30 * DAY)
        stripe.events.append(se.event("customer.subscription.created", current, created=at))
        for _ in range(rng.randint(1, 3)):
            at += rng.choice([0, 1, 5, 600])  # 0: a tie that only Stripe can settle
            status = rng.choice(["active", "active", "past_due"])
            amount = rng.choice([amount, 300, 500])
            current = se.subscription(
                subscription_id, customer_id, status=status, amount=amount, period_end=at + 30 * DAY
            )
            stripe.events.append(se.event("customer.subscription.updated", current, created=at))
        for j in range(rng.randint(3, 6)):
            invoice_id = f"in_storm{n}_{j}"
            paid_at = start + 3600 * (j + 2) + n
            price = rng.choice([100, 300, 500])
            stripe.paid[invoice_id] = (subscription_id, price)
            if rng.random() < 0.3:
                failed = se.invoice(invoice_id, customer_id, subscription_id, amount=price, status="open")
                stripe.events.append(se.event("invoice.payment_failed", failed, created=paid_at - 600))
            kinds = rng.choice(
                [[("invoice.paid", se.CURRENT)], [("invoice.payment_succeeded", se.OLD)]] * 2
                + [[("invoice.paid", se.CURRENT), ("invoice.payment_succeeded", se.OLD)]]
            )
            for kind, shape in kinds:
                paid = se.invoice(
                    invoice_id,
                    customer_id,
                    subscription_id,
                    amount=price,
                    # Only older shapes name the payment on the invoice.
                    payment_intent=f"pi_storm{n}_{j}" if shape == se.OLD else None,
                    charge=f"ch_storm{n}_{j}" if shape == se.OLD else None,
                    paid_at=paid_at,
                    shape=shape,
                )
                stripe.events.append(se.event(kind, paid, created=paid_at))
        if rng.random() < 0.2:
            at += rng.choice([1, 600])
            current = {**current, "status": "canceled", "canceled_at": at}
            stripe.events.append(se.event("customer.subscription.deleted", current, created=at))
        stripe.final[subscription_id] = current
        stripe.gateway.subscriptions[subscription_id] = current
    return stripe


def deliveries(stripe: Stripe, duplicated: float = 0.3, seed: int = 11) -> list[bytes]:
    """Every event once, ``duplicated`` of them twice, shuffled."""
    rng = random.Random(seed)
    bodies = [se.body_of(e) for e in stripe.events]
    bodies += rng.sample(bodies, int(len(bodies) * duplicated))
    rng.shuffle(bodies)
    return bodies


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/stripe"
    finally:
        server.shutdown()
        thread.join(10)


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Stripe-Signature": se.sign(body), "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 599  # no answer at all: Stripe retries those too


@dataclass
class Delivery:
    answers: Counter[int] = field(default_factory=Counter)
    rounds: int = 0
    seconds: float = 0.0


def deliver(
    url: str | Sequence[str],
    bodies: list[bytes],
    at_once: int = 16,
    during: Callable[[int], None] | None = None,
    max_rounds: int = 20,
) -> Delivery:
    """Send all, ``at_once`` at a time; send again what got no 2xx until all did.

    Several ``url``s (web instances behind one balancer) take the sends in turn.

    ``during(i)`` is called before the i-th send of the first round (an
    outage starts and ends there).
    """
    result = Delivery()
    began = time.perf_counter()
    waiting = list(bodies)
    while waiting and result.rounds < max_rounds:
        first = result.rounds == 0
        result.rounds += 1

        def send(item: tuple[int, bytes], first: bool = first) -> tuple[bytes, int]:
            index, body = item
            if first and during is not None:
                during(index)
            return body, post(url if isinstance(url, str) else url[index % len(url)], body)

        with ThreadPoolExecutor(at_once) as pool:
            answers = list(pool.map(send, enumerate(waiting)))
        result.answers.update(status for _, status in answers)
        waiting = [body for body, status in answers if status >= 300]
        if waiting:
            time.sleep(0.5)  # Stripe waits longer; the order of what is left changes nothing
    result.seconds = time.perf_counter() - began
    assert not waiting, f"{len(waiting)} events never acknowledged"
    return result


def differences(app: Flask, stripe: Stripe) -> list[str]:
    """Where our tables disagree with Stripe's final state; empty when all agree."""
    found: list[str] = []
    with app.app_context():
        events = db.session.scalars(sa.select(WebhookEvent)).all()
        unique = {e["id"] for e in stripe.events}
        if len(events) != len(unique):
            found.append(f"{len(events)} events stored, {len(unique)} sent")
        found += [f"{e.stripe_event_id} not applied: {e.last_error}" for e in events if not e.processed_at]
        memberships = {m.stripe_subscription_id: m for m in db.session.scalars(sa.select(Membership))}
        for subscription_id, final in stripe.final.items():
            m = memberships.get(subscription_id)
            item = final["items"]["data"][0]
            if m is None:
                found.append(f"{subscription_id} missing")
                continue
            want = (
                final["status"],
                item["price"]["unit_amount"],
                datetime.fromtimestamp(item["current_period_end"], UTC),
            )
            have = (m.status.value, m.amount, m.current_period_end)
            if have != want:
                found.append(f"{subscription_id}: ours {have}, Stripe's {want}")
        payments = {p.stripe_invoice_id: p for p in db.session.scalars(sa.select(Payment))}
        if set(payments) != set(stripe.paid):
            found.append(f"payments for {len(payments)} invoices, {len(stripe.paid)} paid at Stripe")
        for invoice_id, (subscription_id, amount) in stripe.paid.items():
            p = payments.get(invoice_id)
            if p is not None and (p.status, p.amount, p.membership_id) != (
                PaymentStatus.SUCCEEDED,
                amount,
                memberships[subscription_id].id,
            ):
                found.append(f"{invoice_id}: {p.status} {p.amount}")
        receipts = Counter(
            db.session.scalars(sa.select(EmailLog.about).where(EmailLog.kind == EmailKind.RECEIPT)).all()
        )
        if (
            sorted(receipts) != sorted(f"payment:{p.id}" for p in payments.values())
            or max(receipts.values(), default=1) != 1
        ):
            found.append(f"{sum(receipts.values())} receipts queued for {len(payments)} paid invoices")
    return found
