"""Deliveries at the same moment, on PostgreSQL, through a live threaded server:
one event sent eight times is applied once; two events about the same new
payment do not double it."""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from app.extensions import db
from app.models import Membership, Payment, Supporter, WebhookEvent
from app.services import webhook_queue
from tests import stripe_events as se
from tests.conftest import count_rows
from tests.harness import free_port

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL"), reason="needs TEST_DATABASE_URL (PostgreSQL)"
    ),
]

THREADS = 8


class SlowGateway(se.FakeGateway):
    """Stripe a little slow to answer, so that concurrent deliveries overlap."""

    def _get(self, kind: str, table: dict[str, dict[str, Any]], object_id: str) -> dict[str, Any]:
        time.sleep(0.05)
        return super()._get(kind, table, object_id)


@pytest.fixture()
def live(app: Flask) -> Iterator[tuple[str, SlowGateway]]:
    gateway = SlowGateway()
    app.extensions["stripe_gateway"] = gateway
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/stripe", gateway
    server.shutdown()
    thread.join(10)


def deliver_at_once(url: str, bodies: list[bytes]) -> list[tuple[int, bytes]]:
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, bytes]] = [(0, b"")] * len(bodies)

    def send(i: int, body: bytes) -> None:
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Stripe-Signature": se.sign(body), "Content-Type": "application/json"},
        )
        barrier.wait()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                results[i] = (response.status, response.read())
        except urllib.error.HTTPError as exc:
            results[i] = (exc.code, exc.read())

    threads = [threading.Thread(target=send, args=(i, body)) for i, body in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def a_stranger(gateway: se.FakeGateway) -> tuple[str, str]:
    """A customer and subscription made at Stripe that we have never seen."""
    customer_id, subscription_id = se.new_id("cus"), se.new_id("sub")
    gateway.customers[customer_id] = se.customer(customer_id, "same.time@example.org", "Same Time", ["en"])
    gateway.subscriptions[subscription_id] = se.subscription(subscription_id, customer_id, amount=1200)
    return customer_id, subscription_id


def test_one_event_delivered_eight_times_at_once_is_applied_once(
    app: Flask, live: tuple[str, SlowGateway]
) -> None:
    url, gateway = live
    customer_id, subscription_id = a_stranger(gateway)
    event = se.event("invoice.paid", se.invoice("in_same", customer_id, subscription_id, amount=1200))
    results = deliver_at_once(url, [se.body_of(event)] * THREADS)

    assert [status for status, _ in results] == [200] * THREADS
    assert sum(b'"duplicate":false' in body.replace(b" ", b"") for _, body in results) == 1
    with app.app_context():
        stored = db.session.scalars(sa.select(WebhookEvent)).one()
        assert stored.processed_at is not None and stored.attempts == 1 and stored.last_error is None
    rows = count_rows(app)
    assert (rows["webhook_event"], rows["supporter"], rows["membership"], rows["payment"]) == (1, 1, 1, 1)
    # Applied once: Stripe was asked once for the subscription and once for the customer.
    assert sorted(kind for kind, _ in gateway.calls) == ["customer", "subscription"]


def test_eight_events_about_one_new_membership_at_once_make_one_row_each(
    app: Flask, live: tuple[str, SlowGateway]
) -> None:
    """Each event once, all at once: the races are on the supporter, membership
    and payment rows (unique Stripe ids), not on the event row."""
    url, gateway = live
    customer_id, subscription_id = a_stranger(gateway)
    subscription = gateway.subscriptions[subscription_id]

    def invoice(**kw: Any) -> dict[str, Any]:
        return se.invoice("in_all", customer_id, subscription_id, amount=1200, **kw)

    intent = se.payment_intent(
        "pi_all", customer_id, amount=1200, charge="ch_all", invoice_id="in_all", shape=se.OLD
    )
    events = [
        se.event("invoice.paid", invoice()),
        se.event("invoice_payment.paid", se.invoice_payment("in_all", payment_intent="pi_all", amount=1200)),
        se.event(
            "invoice.payment_succeeded", invoice(payment_intent="pi_all", charge="ch_all", shape=se.OLD)
        ),
        se.event("invoice.paid", invoice(payment_intent="pi_all", charge="ch_all", shape=se.OLD)),
        se.event("customer.subscription.created", subscription),
        se.event("customer.subscription.updated", subscription),
        se.event("payment_intent.succeeded", intent),
        se.event("customer.updated", gateway.customers[customer_id]),
    ]
    results = deliver_at_once(url, [se.body_of(e) for e in events])
    assert [status for status, _ in results] == [200] * THREADS

    with app.app_context():
        # The link waits when it is applied before any invoice event (payment_not_found).
        webhook_queue.apply_pending()
        stored = list(db.session.scalars(sa.select(WebhookEvent)))
        assert len(stored) == THREADS
        assert [(e.type, e.last_error) for e in stored if e.last_error or not e.processed_at] == []
        payment = db.session.scalars(sa.select(Payment)).one()
        assert (payment.stripe_invoice_id, payment.stripe_payment_intent_id, payment.stripe_charge_id) == (
            "in_all",
            "pi_all",
            "ch_all",
        )
        membership = db.session.scalars(sa.select(Membership)).one()
        assert payment.membership_id == membership.id and membership.amount == 1200
        assert db.session.scalars(sa.select(Supporter)).one().email == "same.time@example.org"
