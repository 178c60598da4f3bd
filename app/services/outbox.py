"""The email outbox: queue an email in the same transaction as the change
that calls for it; publish its task only after that transaction commits.

``(kind, about)`` is unique, so however often an event repeats, one email.
If the broker is down at commit, the row waits in the table and the beat
sweep publishes it later: nothing is lost.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from flask_sqlalchemy.session import Session
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached

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
    """Add one email to an address (a reminder may have no supporter yet).

    One ``INSERT ... ON CONFLICT (kind, about) DO NOTHING``: a twin queued
    before, or by a concurrent transaction, wins without an error (a look-up
    first and an insert in a savepoint cost four round trips, for each
    receipt of a renewal day: ``bench/webhooks.py``).  The row is then put in
    the session as loaded, without reading it back.
    """
    if supporter is not None and supporter.id is None:
        db.session.flush()
    values = {
        "kind": kind,
        "about": about,
        "supporter_id": supporter.id if supporter is not None else None,
        "to_address": to_address,
        "locale": locale,
        "status": EmailStatus.PENDING,
        "attempts": 0,
        "created_at": utcnow(),
    }
    connection = db.session.connection()  # as a statement of the transaction, not a flush of the session
    email_id = connection.execute(_insert_unless_queued(connection.dialect.name), values).scalar_one_or_none()
    if email_id is None:
        return None
    row = EmailLog(id=email_id, **values)
    make_transient_to_detached(row)  # its other columns load when read
    db.session.add(row)
    db.session.info.setdefault(_PENDING_KEY, []).append(email_id)
    return row


@cache
def _insert_unless_queued(dialect: str) -> Any:
    table = EmailLog.__table__
    insert: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    return insert(table).on_conflict_do_nothing(index_elements=["kind", "about"]).returning(table.c.id)


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
    try:
        # One connection to the broker for them all: a batch of Stripe events queues a receipt
        # for each renewal, and each message alone took as long as applying its event.
        with _producer(celery) as producer:
            for email_id in ids:
                celery.send_task(SEND_TASK, args=[email_id], **({"producer": producer} if producer else {}))
                sent += 1
    except Exception as exc:  # any broker failure leaves the rows for the sweep
        current_app.logger.warning(
            "outbox: broker unavailable, %d email(s) wait (%s)", len(ids) - sent, type(exc).__name__
        )
    return sent


def _producer(celery: Any) -> Any:
    """Celery's producer from its pool (None for the tests' stand-in broker, which has none)."""
    acquire = getattr(celery, "producer_or_acquire", None)
    return acquire() if acquire is not None else nullcontext()


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
