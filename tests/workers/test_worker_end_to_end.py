"""A real Celery worker on Redis mails the welcome and the receipt of a real donation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import EmailLog, EmailStatus, Membership, Payment, WebhookEvent
from tests import i18n
from tests import stripe_events as se
from tests.blueprints.test_donation_flow import confirm, start
from tests.conftest import empty_tables, make_app
from tests.harness import CARDS, StripeJs
from tests.mail import parts

ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def start_worker(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "workers",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if " ready." in line:
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("the Celery worker did not start")


def worker_env(
    database_url: str, broker: str, smtp_port: int, localstripe_url: str, **extra: str
) -> dict[str, str]:
    """The environment of a worker that shares the test's database, broker, mail server and Stripe."""
    return {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "STRIPE_API_BASE": localstripe_url,
        "STRIPE_SECRET_KEY": "sk_test_suite",
        "STRIPE_WEBHOOK_SECRET": "whsec_test_secret",
        **extra,
    }


@pytest.fixture()
def redis_app(database_url: str, localstripe_url: str) -> Iterator[Flask]:
    redis.Redis.from_url(BROKER).flushdb()
    app = make_app(database_url, localstripe_url, CELERY_BROKER_URL=BROKER, apply_webhooks_at_once=False)
    yield app
    empty_tables(app)


def test_worker_applies_webhooks_and_mails_each_receipt_once_in_arabic(
    redis_app: Flask, database_url: str, localstripe_url: str, smtp: Any
) -> None:
    worker = start_worker(worker_env(database_url, BROKER, smtp.port, localstripe_url, LOG_FORMAT="json"))
    try:
        client = redis_app.test_client()
        token, started = start(client, "ar")
        setup = StripeJs(localstripe_url).confirm_card_payment(started["client_secret"], CARDS["visa"])
        confirmed = confirm(client, "ar", token, setup["id"])
        assert confirmed.status_code == 200

        received = smtp.inbox.wait_for(2, timeout=30)
        time.sleep(1)  # nothing more should arrive
        assert len(smtp.inbox.messages) == 2
        by_subject = {m["Subject"]: m for m in received}
        receipt_subject = i18n.subject(redis_app, "Your receipt %(number)s", number="")
        receipt = next(m for s, m in by_subject.items() if s.startswith(receipt_subject.strip()))
        assert i18n.is_arabic(receipt["Subject"])
        text, html = parts(receipt)
        assert receipt["To"].addresses[0].addr_spec == "reader@example.org"
        assert '<html lang="ar" dir="rtl">' in html
        assert "1.00" in text and "US$" in text
        with redis_app.app_context():
            statuses = db.session.scalars(sa.select(EmailLog.status)).all()
            assert statuses == [EmailStatus.SENT, EmailStatus.SENT]
            membership = db.session.scalars(sa.select(Membership)).one()
            subscription_id, customer_id = (
                membership.stripe_subscription_id,
                membership.supporter.stripe_customer_id,
            )

        # A month later: Stripe reports the renewal three times; the worker applies it once.
        renewal = se.invoice(
            "in_renewal_e2e", customer_id, subscription_id, amount=100, paid_at=int(time.time())
        )
        event = se.event("invoice.paid", renewal, event_id="evt_renewal_e2e")
        for _ in range(3):
            response = se.post(client, event)
            assert response.status_code == 200 and response.get_json()["outcome"] == "queued"
        smtp.inbox.wait_for(3, timeout=30)
        time.sleep(1.5)
        assert len(smtp.inbox.messages) == 3
        assert i18n.is_arabic(smtp.inbox.messages[2]["Subject"])
        with redis_app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 2
            stored = db.session.scalars(sa.select(WebhookEvent)).one()
            assert stored.processed_at is not None
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
    # The worker's log lines of the emails the confirmation queued carry its request id.
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    followed = [line for line in lines if line["request_id"] == confirmed.headers["X-Request-ID"]]
    assert any("send_email" in line["message"] and "succeeded" in line["message"] for line in followed), lines
