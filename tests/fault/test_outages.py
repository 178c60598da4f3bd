"""The broker and the mail server go away while renewals are being paid; nothing is lost or doubled.

A real Celery worker, a Redis server of this test's own (so it can be killed:
it keeps nothing on disk, like the machine's), a real SMTP server, and
localstripe for the member's sign-up.  After each outage the beat jobs' work
(``apply_pending`` for stored events, the outbox sweep for emails) runs once,
as the schedule would a minute later.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import EmailKind, EmailLog, EmailStatus, Membership, Payment
from app.services import outbox, webhook_queue
from tests import stripe_events as se
from tests.blueprints.test_donation_flow import confirm, start
from tests.conftest import empty_tables, make_app
from tests.harness import CARDS, StripeJs, free_port, wait_for_port
from tests.mail import SmtpServer
from tests.workers.test_worker_end_to_end import start_worker, worker_env

RENEWALS = 8


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        """Gone at once, with whatever tasks it held (it keeps nothing on disk)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture()
def broker() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture()
def worker_app(database_url: str, localstripe_url: str, broker: RedisServer) -> Iterator[Flask]:
    app = make_app(database_url, localstripe_url, CELERY_BROKER_URL=broker.url, apply_webhooks_at_once=False)
    yield app
    empty_tables(app)


def renewal(customer_id: str, subscription_id: str, n: int) -> dict[str, Any]:
    invoice = se.invoice(
        f"in_outage_{n}", customer_id, subscription_id, amount=100, paid_at=int(time.time()) - 60 + n
    )
    return se.event("invoice.paid", invoice, event_id=f"evt_outage_{n}")


def run_beat_jobs(app: Flask) -> None:
    """What ``apply-pending-webhooks`` and ``sweep-outbox`` do, without waiting their minute."""
    with app.app_context():
        webhook_queue.apply_pending(limit=500)
        db.session.commit()
        ids = outbox.due_for_sweep(older_than=timedelta(0))
        db.session.rollback()
        outbox.publish(ids)


def receipts_by_payment(app: Flask) -> Counter[str]:
    with app.app_context():
        return Counter(
            db.session.scalars(sa.select(EmailLog.about).where(EmailLog.kind == EmailKind.RECEIPT)).all()
        )


def wait_until(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError("timed out waiting")


def test_broker_and_smtp_outages_lose_and_double_nothing(
    worker_app: Flask, broker: RedisServer, database_url: str, localstripe_url: str, smtp: Any
) -> None:
    worker = start_worker(
        worker_env(
            database_url,
            broker.url,
            smtp.port,
            localstripe_url,
            EMAIL_RETRY_SECONDS="0.5",
            EMAIL_MAX_ATTEMPTS="12",
        )
    )
    try:
        client = worker_app.test_client()
        token, started = start(client, "ar")
        setup = StripeJs(localstripe_url).confirm_card_payment(started["client_secret"], CARDS["visa"])
        assert confirm(client, "ar", token, setup["id"]).status_code == 200
        smtp.inbox.wait_for(2, timeout=30)  # welcome and first receipt
        with worker_app.app_context():
            membership = db.session.scalars(sa.select(Membership)).one()
            ids = (membership.supporter.stripe_customer_id, membership.stripe_subscription_id)

        # 1. The broker dies in the middle of a run of renewals, losing what it held.
        for n in range(RENEWALS):
            if n == RENEWALS // 2:
                broker.kill()
            assert se.post(client, renewal(*ids, n)).status_code == 200  # stored: Stripe is answered
        broker.start()  # back, empty
        redis.Redis.from_url(broker.url).ping()
        run_beat_jobs(worker_app)
        wait_until(lambda: len(smtp.inbox.messages) >= 2 + RENEWALS)

        # 2. The mail server is down while more renewals are paid, then comes back.
        port = smtp.port
        smtp.stop()
        for n in range(RENEWALS, 2 * RENEWALS):
            assert se.post(client, renewal(*ids, n)).status_code == 200
        wait_until(
            lambda: receipts_pending_or_retrying(worker_app) == RENEWALS, timeout=60
        )  # every one tried and waiting for its next try
        back = SmtpServer(port).start()
        try:
            wait_until(lambda: len(back.inbox.messages) >= RENEWALS, timeout=90)
            time.sleep(2)  # nothing more should arrive
            run_beat_jobs(worker_app)  # a sweep now must not send anything again
            time.sleep(2)
            assert len(back.inbox.messages) == RENEWALS
            delivered = [*smtp.inbox.messages, *back.inbox.messages]
        finally:
            back.stop()

        with worker_app.app_context():
            payments = db.session.scalar(sa.select(sa.func.count()).select_from(Payment))
            statuses = Counter(db.session.scalars(sa.select(EmailLog.status)).all())
        assert payments == 1 + 2 * RENEWALS
        receipts = receipts_by_payment(worker_app)
        assert len(receipts) == payments and set(receipts.values()) == {1}
        assert statuses == Counter({EmailStatus.SENT: payments + 1})  # receipts and the welcome
        message_ids = [m["Message-ID"] for m in delivered]
        assert len(delivered) == payments + 1 and len(set(message_ids)) == len(message_ids)
    finally:
        worker.terminate()
        worker.communicate(timeout=30)


def receipts_pending_or_retrying(app: Flask) -> int:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(EmailLog).where(
                EmailLog.kind == EmailKind.RECEIPT, EmailLog.status == EmailStatus.PENDING
            )
        ).all()
        return sum(1 for r in rows if r.attempts >= 1)
