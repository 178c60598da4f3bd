"""Which days a change to a payment or a membership touches, and marking them dirty.

A change to a payment or a membership marks, in the same transaction, every
day whose figures it changes (the flush listener of ``summaries.py``, so every
writer is covered: webhooks, sync, the donation flow, staff and self-service
actions).  A late refund marks the day the payment was charged, a cancellation
the day the membership ended, a sync import the day it started at Stripe.
``summaries.build_days`` (the beat task ``refresh-report-summaries`` and
``flask --app app reports rebuild``) rebuilds marked days and removes the marks
it saw.  Code that writes payments or memberships with SQL instead of the ORM
must call ``mark_days`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models import (
    CHARGED_STATUSES,
    ENDED_STATUSES,
    Membership,
    Payment,
    PaymentStatus,
    ReportDirtyDay,
)
from app.models.types import utcnow

# -- which days a row counts on ------------------------------------------------------------


#: Columns whose change can move a payment's figures (or the day they count on).
PAYMENT_COLUMNS = (
    "status",
    "paid_at",
    "created_at",
    "amount",
    "currency",
    "refunded_amount",
    "campaign",
    "failure_code",
    "membership_id",
)
#: The same for a membership (``updated_at`` is its end when it has no ``canceled_at``).
MEMBERSHIP_COLUMNS = (
    "status",
    "started_at",
    "created_at",
    "canceled_at",
    "amount",
    "currency",
    "interval",
    "cancellation_reason",
    "supporter_id",
)


def _day(value: datetime) -> date:
    return value.astimezone(UTC).date()


def payment_days(status: Any, paid_at: datetime | None, created_at: datetime | None) -> set[date]:
    """The day a payment counts on: charged on ``paid_at``, failed on ``created_at``."""
    if status in CHARGED_STATUSES and paid_at is not None:
        return {_day(paid_at)}
    if status == PaymentStatus.FAILED:
        return {_day(created_at or utcnow())}
    return set()


def membership_days(
    status: Any,
    started_at: datetime | None,
    canceled_at: datetime | None,
    updated_at: datetime | None,
) -> set[date]:
    """The days a membership counts on: the day it started and, once ended, the day it ended."""
    days = {_day(started_at or utcnow())}
    if status in ENDED_STATUSES:
        days.add(_day(canceled_at or updated_at or utcnow()))
    return days


def _old(obj: Any, key: str) -> Any:
    """The value as loaded from the database (before this flush's changes)."""
    history = sa.inspect(obj).attrs[key].history
    if history.deleted:
        return history.deleted[0]
    if history.unchanged:
        return history.unchanged[0]
    return getattr(obj, key)


def _changed(obj: Any, keys: Iterable[str]) -> bool:
    attrs = sa.inspect(obj).attrs
    return any(attrs[key].history.has_changes() for key in keys)


# -- marking --------------------------------------------------------------------------------

_MARKED = "report_marked_days"


def mark_days(session: Session, days: Iterable[date | None]) -> None:
    """Mark ``days`` dirty in the session's transaction (once per day and transaction)."""
    marked: set[date] = session.info.setdefault(_MARKED, set())
    new = sorted({d for d in days if d is not None} - marked)
    if not new:
        return
    session.connection().execute(
        sa.insert(ReportDirtyDay.__table__),
        [{"day": d, "marked_at": utcnow()} for d in new],
    )
    marked.update(new)


def forget_marks(session: Session) -> None:
    """The transaction is over: the next one marks its days again."""
    session.info.pop(_MARKED, None)


def _supporter_start_days(session: Session, supporter_ids: set[int], skip: set[int]) -> set[date]:
    """Start days of a supporter's other memberships: whether they are reactivations may change."""
    if not supporter_ids:
        return set()
    rows = session.connection().execute(
        sa.select(Membership.__table__.c.id, Membership.__table__.c.started_at).where(
            Membership.__table__.c.supporter_id.in_(sorted(supporter_ids))
        )
    )
    days = set()
    for membership_id, started_at in rows:
        if membership_id not in skip and started_at is not None:
            value = started_at if started_at.tzinfo else started_at.replace(tzinfo=UTC)
            days.add(_day(value))
    return days


def _payment_days_of(session: Session, membership_ids: set[int]) -> set[date]:
    """Days of a membership's payments: their frequency follows its interval."""
    if not membership_ids:
        return set()
    table = Payment.__table__
    rows = session.connection().execute(
        sa.select(table.c.status, table.c.paid_at, table.c.created_at).where(
            table.c.membership_id.in_(sorted(membership_ids))
        )
    )
    days: set[date] = set()
    for status, paid_at, created_at in rows:
        days |= payment_days(status, paid_at, created_at)
    return days


def days_touched(session: Session) -> set[date]:
    """Every day whose figures this flush changes."""
    days: set[date] = set()
    supporters: set[int] = set()
    memberships: set[int] = set()
    interval_changed: set[int] = set()
    for obj in session.new:
        if isinstance(obj, Payment):
            days |= payment_days(obj.status, obj.paid_at, obj.created_at)
        elif isinstance(obj, Membership):
            days |= membership_days(
                obj.status, obj.started_at or obj.created_at, obj.canceled_at, obj.updated_at
            )
            if obj.supporter_id is not None:
                supporters.add(obj.supporter_id)
            elif obj.supporter is not None and obj.supporter.id is not None:
                supporters.add(obj.supporter.id)
    for obj in session.dirty:
        if isinstance(obj, Payment):
            if _changed(obj, PAYMENT_COLUMNS):
                days |= payment_days(_old(obj, "status"), _old(obj, "paid_at"), _old(obj, "created_at"))
                days |= payment_days(obj.status, obj.paid_at, obj.created_at)
        elif isinstance(obj, Membership):
            if not session.is_modified(obj, include_collections=False):
                continue
            old_status, old_canceled = _old(obj, "status"), _old(obj, "canceled_at")
            # Any update moves updated_at: the end of an ended membership without canceled_at.
            moves_end = (
                old_status in ENDED_STATUSES
                and old_canceled is None
                and _day(_old(obj, "updated_at")) != utcnow().date()
            )
            if not (moves_end or _changed(obj, MEMBERSHIP_COLUMNS)):
                continue
            days |= membership_days(
                old_status, _old(obj, "started_at"), old_canceled, _old(obj, "updated_at")
            )
            days |= membership_days(obj.status, obj.started_at, obj.canceled_at, obj.updated_at)
            if obj.status in ENDED_STATUSES and obj.canceled_at is None:
                days.add(utcnow().date())  # updated_at becomes now
            supporters |= {s for s in (_old(obj, "supporter_id"), obj.supporter_id) if s}
            memberships.add(obj.id)
            if _changed(obj, ("interval",)):
                interval_changed.add(obj.id)
    for obj in session.deleted:
        if isinstance(obj, Payment):
            days |= payment_days(_old(obj, "status"), _old(obj, "paid_at"), _old(obj, "created_at"))
        elif isinstance(obj, Membership):
            days |= membership_days(
                _old(obj, "status"),
                _old(obj, "started_at"),
                _old(obj, "canceled_at"),
                _old(obj, "updated_at"),
            )
            if _old(obj, "supporter_id"):
                supporters.add(_old(obj, "supporter_id"))
            memberships.add(obj.id)
            interval_changed.add(obj.id)
    days |= _supporter_start_days(session, supporters, memberships)
    days |= _payment_days_of(session, interval_changed)
    return days
