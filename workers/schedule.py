"""The beat schedule: every periodic job, in one table (times in UTC)."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Stripe events stored but not applied (a task lost, a worker stopped): the
    # stored event is the queue; failures wait between tries, up to a limit.
    "apply-pending-webhooks": {"task": "workers.tasks.apply_pending_webhooks", "schedule": 60.0},
    # Emails whose task never reached the broker (it was down at commit) or was lost.
    "sweep-outbox": {"task": "workers.tasks.sweep_outbox", "schedule": 60.0},
    # Asks for sign-in links whose task never reached the broker, likewise.
    "sweep-sign-in-asks": {"task": "workers.tasks.sweep_sign_in_asks", "schedule": 60.0},
    # "Remind me later" emails that are due, once a day in the morning of the region.
    "queue-reminders": {"task": "workers.tasks.queue_reminders", "schedule": crontab(hour=7, minute=0)},
    # The finance dashboard's daily summaries: days changed since they were built (a late
    # refund, a cancellation, a sync import) and the day just ended.  Until it runs those days
    # are computed live (right, only slower); with nothing to do it costs a few small queries.
    "refresh-report-summaries": {"task": "workers.tasks.refresh_report_summaries", "schedule": 60.0},
    # Cards that expire at the end of next month; the email log keeps it to one notice per card.
    "card-expiring": {"task": "workers.tasks.queue_card_expiring", "schedule": crontab(hour=7, minute=30)},
    # Paid payouts whose payout.reconciliation_completed never came: asked about again, a few an hour.
    "recheck-payouts": {"task": "workers.tasks.recheck_payouts", "schedule": crontab(minute=40)},
    # Payment attempts kept a week to judge card testers (hashed addresses only).
    "purge-payment-attempts": {
        "task": "workers.tasks.purge_payment_attempts",
        "schedule": crontab(hour=3, minute=15),
    },
}
