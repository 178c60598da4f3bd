"""Emails: composed in the supporter's language, sent once, retried when SMTP is down."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import EmailKind, EmailLog, EmailStatus, Payment
from app.services import emails, outbox
from tests import i18n
from tests.factories import MembershipFactory, PaymentFactory
from tests.mail import parts
from workers.tasks import send_email


def queue_receipt(app: Flask, locale: str = "ar", **payment: Any) -> int:
    with app.app_context():
        row = PaymentFactory(membership__supporter__locale=locale, **payment)
        email = outbox.queue(EmailKind.RECEIPT, f"payment:{row.id}", row.supporter)
        db.session.commit()
        assert email is not None
        return email.id


def test_arabic_receipt_has_both_parts_rtl_and_arabic_amounts(app: Flask) -> None:
    email_id = queue_receipt(app, "ar")
    with app.app_context():
        message = emails.compose(db.session.get(EmailLog, email_id))
    text, html = parts(message)
    assert message["Content-Language"] == "ar"
    assert message["Date"] and message["Message-ID"]
    with app.app_context():
        payment = db.session.get(Payment, int(db.session.get(EmailLog, email_id).about.split(":")[1]))
        number = payment.receipt_number
    assert message["Subject"] == i18n.subject(app, "Your receipt %(number)s", number=number)
    assert i18n.is_arabic(message["Subject"])
    assert '<html lang="ar" dir="rtl">' in html
    assert "1.00" in text and "US$" in text
    assert "25 كانون الأول 2026" in text  # next payment date, Arabic month name
    assert "ليلى حداد" in text
    assert app.config["NEWSROOM_LEGAL_NAME_AR"] in text  # legal name and address from config
    assert app.config["NEWSROOM_ADDRESS_AR"] in text
    assert i18n.is_arabic(re.sub(r"https?://\S+", "", text)), text
    assert "List-Unsubscribe" not in message  # never on receipts


def test_english_receipt(app: Flask) -> None:
    email_id = queue_receipt(app, "en", amount=1234, currency="eur")
    with app.app_context():
        message = emails.compose(db.session.get(EmailLog, email_id))
    text, html = parts(message)
    assert message["Subject"].startswith("Your receipt 2026-")
    assert '<html lang="en" dir="ltr">' in html
    assert "€12.34" in text and "Monthly membership" in text
    assert "December 25, 2026" in text


def test_same_email_about_the_same_thing_is_queued_once(app: Flask) -> None:
    with app.app_context():
        payment = PaymentFactory()
        first = outbox.queue(EmailKind.RECEIPT, f"payment:{payment.id}", payment.supporter)
        second = outbox.queue(EmailKind.RECEIPT, f"payment:{payment.id}", payment.supporter)
        db.session.commit()
        assert first is not None and second is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailLog)) == 1


def test_task_sends_once_even_when_run_twice(app: Flask, smtp: Any) -> None:
    app.config.update(SMTP_PORT=smtp.port)
    email_id = queue_receipt(app)
    with app.app_context():
        assert send_email.run(email_id) == "sent"
        assert send_email.run(email_id) == "nothing to do"
        row = db.session.get(EmailLog, email_id)
        assert row.status == EmailStatus.SENT and row.sent_at and row.attempts == 1
    received = smtp.inbox.wait_for(1)
    assert len(received) == 1
    assert received[0]["To"].addresses[0].addr_spec.startswith("reader")


def test_smtp_down_retries_with_backoff_then_delivers_once(app: Flask, smtp: Any) -> None:
    port = smtp.port
    smtp.stop()
    app.config.update(SMTP_PORT=port, EMAIL_RETRY_SECONDS=0)
    email_id = queue_receipt(app)
    with app.app_context():
        # Called directly, Celery's retry re-raises the SMTP error (a worker would re-queue it).
        with pytest.raises(ConnectionRefusedError):
            send_email.run(email_id)
        row = db.session.get(EmailLog, email_id)
        assert row.status == EmailStatus.PENDING and row.attempts == 1
        assert row.last_error and "Connection" in row.last_error
        db.session.rollback()
    from tests.mail import SmtpServer

    server = SmtpServer(port).start()
    try:
        with app.app_context():
            assert send_email.run(email_id) == "sent"
            assert send_email.run(email_id) == "nothing to do"
        assert len(server.inbox.wait_for(1)) == 1
    finally:
        server.stop()


def test_a_worker_keeps_its_smtp_connection_and_opens_another_when_the_server_restarted(
    app: Flask, smtp: Any
) -> None:
    app.config.update(SMTP_PORT=smtp.port)
    first, second, third = (queue_receipt(app, "en") for _ in range(3))
    with app.app_context():
        assert send_email.run(first) == "sent"
        assert send_email.run(second) == "sent"
    smtp.inbox.wait_for(2)
    assert len(set(smtp.inbox.peers)) == 1  # one connection for both
    smtp.stop()
    from tests.mail import SmtpServer

    server = SmtpServer(smtp.port).start()  # the kept connection is dead now
    try:
        with app.app_context():
            assert send_email.run(third) == "sent"  # checked before use, made anew: not a failed try
            assert db.session.get(EmailLog, third).attempts == 1
        assert len(server.inbox.wait_for(1)) == 1
    finally:
        server.stop()


def test_after_the_last_try_the_email_is_logged_as_failed(app: Flask, smtp: Any) -> None:
    port = smtp.port
    smtp.stop()
    app.config.update(SMTP_PORT=port, EMAIL_RETRY_SECONDS=0, EMAIL_MAX_ATTEMPTS=2)
    email_id = queue_receipt(app)
    with app.app_context():
        with pytest.raises(ConnectionRefusedError):
            send_email.run(email_id)
        assert send_email.run(email_id) == "failed"
        assert db.session.get(EmailLog, email_id).status == EmailStatus.FAILED
        assert send_email.run(email_id) == "nothing to do"


def test_welcome_and_cancellation_in_arabic(app: Flask) -> None:
    with app.app_context():
        membership = MembershipFactory(cancel_at_period_end=True)
        welcome = outbox.queue(EmailKind.WELCOME, f"membership:{membership.id}", membership.supporter)
        cancel = outbox.queue(EmailKind.CANCELLATION, f"membership:{membership.id}", membership.supporter)
        db.session.commit()
        welcome_text, _ = parts(emails.compose(welcome))
        cancel_text, _ = parts(emails.compose(cancel))
    assert (
        i18n.translate(
            app, "Your support pays for reporting that answers to readers, not to owners or advertisers."
        )
        in welcome_text
    )
    assert "1.00" in welcome_text
    assert "25 كانون الأول 2026" in cancel_text
