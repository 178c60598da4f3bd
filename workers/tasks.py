"""Celery tasks.  Each takes ids, reloads rows and checks they still need doing."""

from __future__ import annotations

import smtplib
import socket
from datetime import timedelta

from celery import shared_task
from celery.utils.log import get_task_logger
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import EmailStatus, WebhookEvent
from app.models.types import utcnow
from app.ops import metrics
from app.services import attempts, emails, outbox, reconciliation, reminders, webhook_queue, webhooks
from app.services.account import links
from app.services.reports import summaries
from app.services.stripe_gateway import get_gateway

logger = get_task_logger(__name__)

SMTP_ERRORS = (smtplib.SMTPException, OSError, socket.timeout)


@shared_task(bind=True, acks_late=True, name="workers.tasks.send_email", max_retries=None)
def send_email(self, email_log_id: int) -> str:
    """Send one email from the outbox, once; retry SMTP failures with backoff."""
    row = outbox.lock_pending(email_log_id)
    if row is None:
        db.session.rollback()
        return "nothing to do"
    message = emails.compose(row)
    row.attempts += 1
    row.subject = str(message["Subject"])[:300]
    try:
        emails.send(message)
    except SMTP_ERRORS as exc:
        row.last_error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = row.attempts
        if attempts >= current_app.config["EMAIL_MAX_ATTEMPTS"]:
            row.status = EmailStatus.FAILED
            outbox.settle(row)
            db.session.commit()
            logger.error("email %s failed after %s tries", email_log_id, attempts)
            metrics.EMAILS.labels("failed").inc()
            return "failed"
        delay = current_app.config["EMAIL_RETRY_SECONDS"] * 2 ** (attempts - 1)
        row.next_try_at = utcnow() + timedelta(seconds=delay)
        db.session.commit()
        metrics.EMAILS.labels("retried").inc()
        raise self.retry(countdown=delay, exc=exc) from exc
    row.status = EmailStatus.SENT
    row.sent_at = utcnow()
    row.message_id = str(message["Message-ID"])
    row.last_error = None
    outbox.settle(row)
    db.session.commit()
    metrics.EMAILS.labels("sent").inc()
    return "sent"


@shared_task(name="workers.tasks.sweep_outbox")
def sweep_outbox() -> int:
    """Publish emails whose task never reached the broker."""
    ids = outbox.due_for_sweep()
    db.session.rollback()
    return outbox.publish(ids) if ids else 0


@shared_task(acks_late=True, name="workers.tasks.send_sign_in_link")
def send_sign_in_link(attempt_id: int) -> str:
    """Look up the address of one ask for a sign-in link; a supporter's gets a link (by the outbox)."""
    token = links.send_link(attempt_id)
    db.session.commit()
    return "issued" if token is not None else "nothing to do"


@shared_task(name="workers.tasks.sweep_sign_in_asks")
def sweep_sign_in_asks() -> int:
    """Asks for sign-in links whose task never reached the broker."""
    ids = links.due_for_sweep()
    db.session.rollback()
    for attempt_id in ids:
        links.hand_over(attempt_id)
    return len(ids)


@shared_task(name="workers.tasks.queue_reminders")
def queue_reminders() -> int:
    """Daily: "remind me later" emails that are due."""
    count = reminders.queue_due_reminders()
    db.session.commit()
    return count


@shared_task(name="workers.tasks.queue_card_expiring")
def queue_card_expiring() -> int:
    """Daily: members whose card expires at the end of next month."""
    count = reminders.queue_card_expiring()
    db.session.commit()
    return count


@shared_task(name="workers.tasks.recheck_payouts")
def recheck_payouts() -> int:
    """Hourly: payouts whose payout.reconciliation_completed never came are asked about again."""
    count = reconciliation.recheck_unreconciled(get_gateway())
    db.session.commit()
    return count


@shared_task(name="workers.tasks.purge_payment_attempts")
def purge_payment_attempts() -> int:
    """Daily: forget payment attempts older than a week (card-testing defence)."""
    count = attempts.purge()
    db.session.commit()
    return count


@shared_task(bind=True, acks_late=True, name="workers.tasks.apply_webhook_event", max_retries=None)
def apply_webhook_event(self, stripe_event_id: str) -> str:
    """Apply one stored Stripe event; a failure keeps its error and retries with backoff."""
    outcome = webhooks.apply_event(stripe_event_id)
    if outcome == webhooks.Applied.FAILED:
        event = db.session.scalar(select(WebhookEvent).where(WebhookEvent.stripe_event_id == stripe_event_id))
        attempts = event.attempts if event else 0
        db.session.rollback()
        if attempts < current_app.config["WEBHOOK_MAX_ATTEMPTS"]:
            raise self.retry(countdown=_webhook_retry_delay(attempts))
    return str(outcome)


def _webhook_retry_delay(attempts: int) -> int:
    return min(10 * 2**attempts, 3600)


#: One run of ``apply_stored_webhooks`` at most; then it hands over to a new task.
APPLY_STORED_SECONDS = 30.0


@shared_task(acks_late=True, name="workers.tasks.apply_stored_webhooks")
def apply_stored_webhooks() -> int:
    """Apply the stored Stripe events nobody has tried yet (the endpoint asks after storing some).

    Several workers share them (each claims the next one); an event that
    fails keeps its error and goes on with its own retries, with backoff.
    """
    drained = webhook_queue.apply_stored(APPLY_STORED_SECONDS)
    try:
        for stripe_event_id in drained.failed:
            apply_webhook_event.apply_async(args=[stripe_event_id], countdown=_webhook_retry_delay(1))
        if drained.more:
            apply_stored_webhooks.delay()
    except Exception as exc:  # the events stay stored: the beat sweep applies them
        logger.warning("stored stripe events left for the sweep: broker unavailable (%s)", type(exc).__name__)
    return sum(drained.applied.values())


@shared_task(name="workers.tasks.apply_pending_webhooks")
def apply_pending_webhooks() -> int:
    """Apply stored events a lost task or a stopped worker left behind."""
    counts = webhook_queue.apply_pending(
        limit=500,
        received_before=utcnow() - timedelta(seconds=30),
        max_attempts=current_app.config["WEBHOOK_MAX_ATTEMPTS"],
    )
    return sum(counts.values())


@shared_task(name="workers.tasks.refresh_report_summaries")
def refresh_report_summaries() -> dict[str, int]:
    """Rebuild the dashboard's daily summaries of dirty days and of days not built yet.

    Skips (``busy``) while another build holds the lock; the next run catches up.
    """
    done = summaries.refresh(wait=False)
    return {"dirty": done.dirty, "missing": done.missing, "built": done.built, "busy": int(done.busy)}
