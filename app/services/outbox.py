"""The email outbox: queue an email in the same transaction as the change
that calls for it; publish its task only after that transaction commits.

``(kind, about)`` is unique, so however often an event repeats, one email.
If the broker is down at commit, the row waits in the table and the beat
sweep publishes it later: nothing is lost.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, current_app
from flask_sqlalchemy.session import Session
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.database import listen_once
from app.extensions import db
from app.models import EmailKind, EmailLog, EmailStatus, Supporter
from app.models.types import utcnow

SEND_TASK = "workers.tasks.send_email"
_PENDING_KEY = "outbox_new_ids"


def queue(kind: EmailKind, about: str, supporter: Supporter) -> EmailLog | None:
    """Add one email to a supporter unless one of this kind about this object exists."""
    if supporter.erased_at is not None or not supporter.email:
        return None
    return queue_to(kind, about, supporter.email, supporter.locale, supporter)


def queue_to(
    kind: EmailKind, about: str, to_address: str, locale: str, supporter: Supporter | None = None
) -> EmailLog | None:
    """Add one email to an address (a reminder may have no supporter yet)."""
    found = db.session.scalar(select(EmailLog).where(EmailLog.kind == kind, EmailLog.about == about))
    if found is not None:
        return None
    row = EmailLog(
        kind=kind,
        about=about,
        supporter=supporter,
        to_address=to_address,
        locale=locale,
        status=EmailStatus.PENDING,
        attempts=0,
    )
    try:
        with db.session.begin_nested():  # a concurrent twin loses here, not the whole transaction
            db.session.add(row)
    except IntegrityError:
        return None
    db.session.info.setdefault(_PENDING_KEY, []).append(row.id)
    return row


def _publish_after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING_KEY, None)
    if ids:
        publish(ids)


def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


_LISTENERS = (("after_commit", _publish_after_commit), ("after_rollback", _forget_after_rollback))


def init_app(app: Flask) -> None:
    """Publish the emails a transaction queued once it commits, in every session."""
    listen_once(Session, _LISTENERS)


def publish(ids: list[int]) -> int:
    """Hand email ids to the workers; a broker outage only logs (the sweep retries)."""
    celery = current_app.extensions["celery"]
    sent = 0
    for email_id in ids:
        try:
            celery.send_task(SEND_TASK, args=[email_id])
            sent += 1
        except Exception as exc:  # any broker failure leaves the row for the sweep
            current_app.logger.warning(
                "outbox: broker unavailable, email %s waits (%s)", email_id, type(exc).__name__
            )
            break
    return sent


def due_for_sweep(older_than: timedelta = timedelta(minutes=1)) -> list[int]:
    """Pending emails that should have gone by now."""
    cutoff = utcnow() - older_than
    return list(
        db.session.scalars(
            select(EmailLog.id)
            .where(
                EmailLog.status == EmailStatus.PENDING,
                sa.func.coalesce(EmailLog.next_try_at, EmailLog.created_at) < cutoff,
            )
            .order_by(EmailLog.id)
            .limit(1000)
        )
    )


def lock_pending(email_id: int) -> EmailLog | None:
    """The row, locked, if it still needs sending now.

    A second task for the same row (published again by the sweep while the
    first waited) finds it sent, or its retry not yet due, and does nothing.
    """
    row = db.session.scalar(select(EmailLog).where(EmailLog.id == email_id).with_for_update())
    if row is None or row.status != EmailStatus.PENDING:
        return None
    if row.next_try_at is not None and row.next_try_at > utcnow() + timedelta(seconds=1):
        return None
    return row


def settle(row: EmailLog) -> None:
    """Once sent (or given up), an email to a supporter erased meanwhile keeps no address.

    That is the erasure confirmation: queued to the address the supporter
    had, it is the last trace of it.
    """
    supporter = row.supporter
    if supporter is None or supporter.erased_at is None or row.to_address == supporter.email:
        return
    if row.last_error:
        row.last_error = row.last_error.replace(row.to_address, supporter.email)
    row.to_address = supporter.email
