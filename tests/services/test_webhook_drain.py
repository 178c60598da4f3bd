"""Stored events applied by a worker's run, a batch in one transaction, and the endpoint waking the
workers once per interval, not once per event (``apply_stored``, ``wake_workers``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import EmailKind, EmailLog, Membership, Payment, Supporter, WebhookEvent
from app.services import event_rows, webhook_queue, webhooks
from tests import stripe_events as se
from tests.factories import MembershipFactory

NOW = int(time.time())


class Broker:
    """Stands in for Celery: records what is published, or fails like a broker that is down."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.down = False
        self._lock = threading.Lock()

    def send_task(self, name: str, args: Any = None, **kw: Any) -> None:
        if self.down:
            raise ConnectionError("broker down")
        with self._lock:
            self.sent.append(name)


@pytest.fixture()
def broker(app: Flask) -> Broker:
    fake = Broker()
    app.extensions["celery"] = fake
    return fake


def renewals(app: Flask, count: int) -> list[str]:
    """``count`` members, each with a paid renewal stored and not applied yet."""
    with app.app_context():
        members = [
            (m.supporter.stripe_customer_id, m.stripe_subscription_id)
            for m in MembershipFactory.create_batch(count)
        ]
        db.session.commit()  # the events are stored in a transaction of their own
        ids = []
        for n, (customer_id, subscription_id) in enumerate(members):
            invoice = se.invoice(f"in_drain{n}", customer_id, subscription_id, amount=100)
            event = se.event("invoice.paid", invoice, created=NOW - count + n)
            ids.append(webhooks.store_event(event).stripe_event_id)
    return ids


def test_a_run_applies_every_stored_event_oldest_first(app: Flask, gateway: se.FakeGateway) -> None:
    ids = renewals(app, 5)
    with app.app_context():
        drained = webhook_queue.apply_stored(seconds=60)
        assert drained.applied == {webhooks.Applied.APPLIED: 5} and not drained.failed and not drained.more
        order = db.session.scalars(
            sa.select(WebhookEvent.stripe_event_id).order_by(WebhookEvent.processed_at)
        )
        assert list(order) == ids
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 5
        assert webhook_queue.apply_stored(seconds=60).applied == {}  # nothing left
    assert gateway.calls == []


def test_a_failed_event_is_left_to_its_own_retries_and_a_run_stops_on_time(
    app: Flask, gateway: se.FakeGateway
) -> None:
    renewals(app, 2)
    refund = se.event("charge.refunded", se.charge("ch_unknown", "pi_unknown", amount_refunded=100))
    with app.app_context():
        webhooks.store_event(refund)
        stopped = webhook_queue.apply_stored(seconds=0)
        assert stopped.more and stopped.applied == {}
        drained = webhook_queue.apply_stored(seconds=60)
        assert drained.failed == [refund["id"]]
        assert drained.applied == {webhooks.Applied.APPLIED: 2, webhooks.Applied.FAILED: 1}
        assert webhook_queue.apply_stored(seconds=60).applied == {}  # tried once: not claimed again
        failed = db.session.scalars(sa.select(WebhookEvent).where(WebhookEvent.last_error.is_not(None))).one()
        assert failed.attempts == 1 and failed.processed_at is None


@pytest.mark.postgres
def test_workers_running_at_once_each_claim_another_event(
    app: Flask, database_url: str, gateway: se.FakeGateway
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks: PostgreSQL only")
    ids = renewals(app, 3)
    other = sa.create_engine(database_url)
    try:
        with other.begin() as conn, app.app_context():
            conn.execute(
                sa.text("SELECT 1 FROM webhook_event WHERE stripe_event_id = :id FOR UPDATE"), {"id": ids[0]}
            )
            drained = webhook_queue.apply_stored(seconds=60)  # another worker holds the oldest: skipped
            assert drained.applied == {webhooks.Applied.APPLIED: 2}
            waiting = db.session.scalars(
                sa.select(WebhookEvent.stripe_event_id).where(WebhookEvent.processed_at.is_(None))
            )
            assert list(waiting) == [ids[0]]
            db.session.rollback()
    finally:
        other.dispose()


def test_the_endpoint_wakes_the_workers_once_per_interval(app: Flask, broker: Broker) -> None:
    with app.app_context():
        assert all(webhook_queue.wake_workers() for _ in range(50))  # a burst of events
        assert broker.sent == [webhook_queue.APPLY_STORED_TASK]  # the first asks at once
        time.sleep(webhook_queue.WAKE_EVERY * 2)
        assert broker.sent == [webhook_queue.APPLY_STORED_TASK] * 2  # the rest once more at the end
        time.sleep(webhook_queue.WAKE_EVERY * 2)
        assert broker.sent == [webhook_queue.APPLY_STORED_TASK] * 2  # nothing new: nothing asked
        webhook_queue.wake_workers()
        assert broker.sent == [webhook_queue.APPLY_STORED_TASK] * 3  # after a quiet spell, at once


def test_while_the_broker_is_down_every_event_asks_again(app: Flask, broker: Broker) -> None:
    broker.down = True
    with app.app_context():
        assert webhook_queue.wake_workers() is False
        assert webhook_queue.wake_workers() is False
        broker.down = False
        assert webhook_queue.wake_workers() is True
    assert broker.sent == [webhook_queue.APPLY_STORED_TASK]


def test_a_stored_event_answers_queued_and_wakes_the_workers(app: Flask, broker: Broker) -> None:
    app.extensions.pop("webhook_hand_over")  # the workers apply it, as in production
    client = app.test_client()
    event = se.event("customer.updated", se.customer(se.new_id("cus"), "x@example.org"))
    for _ in range(2):  # Stripe delivers it twice
        response = se.post(client, event)
        assert response.status_code == 200 and response.get_json()["outcome"] == "queued"
    assert broker.sent == [webhook_queue.APPLY_STORED_TASK]  # a duplicate asks for nothing


@pytest.mark.postgres
def test_a_payment_another_worker_adds_meanwhile_rolls_the_batch_back_and_it_is_applied_again(
    app: Flask, database_url: str, gateway: se.FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch read its rows, then another worker applied the same invoice's twin event first."""
    if not database_url.startswith("postgresql"):
        pytest.skip("two writers at once: PostgreSQL only")
    ids = renewals(app, 3)
    with app.app_context():
        customer_id, subscription_id = db.session.execute(
            sa.select(Supporter.stripe_customer_id, Membership.stripe_subscription_id)
            .join(Membership)
            .order_by(Membership.id)
            .limit(1)
        ).one()
        invoice = se.invoice("in_drain0", customer_id, subscription_id, amount=100)
        twin = webhooks.store_event(
            se.event("invoice.payment_succeeded", invoice, created=NOW)
        ).stripe_event_id
        db.session.execute(  # tried before: not this batch's, another worker's
            sa.update(WebhookEvent).where(WebhookEvent.stripe_event_id == twin).values(attempts=1)
        )
        db.session.commit()
    loads: list[int] = []
    real_load = event_rows.load

    def load_then_another_worker(objects: Any) -> event_rows.Rows:
        rows = real_load(objects)
        loads.append(len(rows.found))
        if len(loads) == 1:
            worker = threading.Thread(target=apply_in_another_session, args=(app, twin))
            worker.start()
            worker.join(30)
        return rows

    monkeypatch.setattr(event_rows, "load", load_then_another_worker)
    with app.app_context():
        drained = webhook_queue.apply_stored(seconds=60)
        assert drained.applied == {webhooks.Applied.APPLIED: 3} and not drained.failed
        assert len(loads) == 2  # the first try lost the race on the payment: tried again
        payments = db.session.scalars(sa.select(Payment).order_by(Payment.id)).all()
        assert sorted(p.stripe_invoice_id for p in payments) == ["in_drain0", "in_drain1", "in_drain2"]
        receipts = db.session.scalars(sa.select(EmailLog.about).where(EmailLog.kind == EmailKind.RECEIPT))
        assert sorted(receipts) == sorted(f"payment:{p.id}" for p in payments)  # one each
        events = db.session.scalars(sa.select(WebhookEvent).where(WebhookEvent.stripe_event_id.in_(ids)))
        assert {(e.attempts, e.last_error, e.processed_at is not None) for e in events} == {(1, None, True)}


def apply_in_another_session(app: Flask, stripe_event_id: str) -> None:
    with app.app_context():
        assert webhooks.apply_event(stripe_event_id) == webhooks.Applied.APPLIED
