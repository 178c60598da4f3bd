"""The outbox: an email is never lost when the broker is down at commit time."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import EmailLog, EmailStatus
from app.services import outbox
from tests.blueprints.test_donation_flow import confirm, start
from tests.conftest import empty_tables, make_app
from tests.harness import CARDS, StripeJs, free_port


def test_broker_down_at_commit_loses_nothing(database_url: str, localstripe_url: str) -> None:
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = make_app(database_url, localstripe_url, CELERY_BROKER_URL=dead_broker)
    try:
        client = app.test_client()
        token, started = start(client, "en", frequency="once", amount="5")
        intent = StripeJs(localstripe_url).confirm_card_payment(started["client_secret"], CARDS["visa"])
        began = time.monotonic()
        response = confirm(client, "en", token, intent["id"])
        assert response.status_code == 200  # the reader is not kept waiting on the broker
        assert time.monotonic() - began < 10
        with app.app_context():
            (row,) = db.session.scalars(sa.select(EmailLog)).all()
            assert row.status == EmailStatus.PENDING
            email_id = row.id

        # The broker is back (here: another app on a working broker); the sweep publishes it.
        healthy = make_app(database_url, localstripe_url)
        with healthy.app_context():
            assert outbox.due_for_sweep() == []  # too fresh: its own task may still come
            due = outbox.due_for_sweep(older_than=timedelta(0))
            assert due == [email_id]
            assert outbox.publish(due) == 1
            db.session.remove()
            db.engine.dispose()
    finally:
        empty_tables(app)


def test_a_rolled_back_change_publishes_nothing(app: Flask) -> None:
    from tests.factories import PaymentFactory

    with app.app_context():
        payment = PaymentFactory()
        from app.models import EmailKind

        outbox.queue(EmailKind.RECEIPT, f"payment:{payment.id}", payment.supporter)
        db.session.rollback()
        assert db.session.info.get("outbox_new_ids") is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailLog)) == 0
