"""Daily summaries the finance dashboard reads for whole past days, and the days to build again.

``app/services/reports.py`` defines every figure; these tables hold the same
figures added up per UTC day, so a dashboard for a year reads a few thousand
small rows instead of millions of payments.  A day is *summarised* when it has
a ``report_day`` row and no ``report_dirty_day`` row; every other day (today,
days never built, days changed since they were built) is computed live from
the raw tables, so the figures are always those of the raw tables.

Keeping them right: a change to a payment or a membership marks, in the same
transaction, every day whose figures it changes (the flush hook below, so every
writer is covered: webhooks, sync, the donation flow, staff and self-service
actions).  A late refund marks the day the payment was charged, a cancellation
the day the membership ended, a sync import the day it started at Stripe.
``reports.build_days`` (the beat task ``refresh-report-summaries`` and
``flask --app app reports rebuild``) rebuilds marked days and removes the marks
it saw.  Code that writes payments or memberships with SQL instead of the ORM
must call ``mark_days`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.extensions import db
from app.models.membership import Membership, MembershipStatus
from app.models.payment import Payment, PaymentStatus
from app.models.types import UTCDateTime, utcnow

#: Whole-number sums of minor units can pass 2**31 in a day of a big currency.
Amount = sa.BigInteger


class ReportDay(db.Model):  # type: ignore[name-defined,misc]
    """A day whose summary rows were built (a day with no activity has this row and no others)."""

    __tablename__ = "report_day"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportDirtyDay(db.Model):  # type: ignore[name-defined,misc]
    """A day changed since its summary was built: computed live until it is built again.

    Only ever inserted (never updated), so writers never wait on each other's
    marks; the builder deletes the marks it saw in the snapshot it built from.
    """

    __tablename__ = "report_dirty_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, index=True)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DailyPayments(db.Model):  # type: ignore[name-defined,misc]
    """Payments per day, currency, frequency and campaign.

    Charged, refunded and disputed figures are of the payments charged that day
    (``paid_at``); failed ones of the charges that failed that day
    (``created_at``).  ``frequency`` is ``month``, ``year`` or ``once``;
    ``campaign`` is empty for none.
    """

    __tablename__ = "report_daily_payments"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    frequency: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    campaign: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    charged: Mapped[int] = mapped_column(sa.Integer, default=0)
    charged_amount: Mapped[int] = mapped_column(Amount, default=0)
    refunded: Mapped[int] = mapped_column(sa.Integer, default=0, comment="payments with a refund")
    refunded_amount: Mapped[int] = mapped_column(Amount, default=0)
    disputed: Mapped[int] = mapped_column(sa.Integer, default=0)
    disputed_amount: Mapped[int] = mapped_column(Amount, default=0)
    failed: Mapped[int] = mapped_column(sa.Integer, default=0)
    failed_amount: Mapped[int] = mapped_column(Amount, default=0)


class DailyFailures(db.Model):  # type: ignore[name-defined,misc]
    """Failed charges per day, currency and failure code (empty for none)."""

    __tablename__ = "report_daily_failures"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    failure_code: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    failed: Mapped[int] = mapped_column(sa.Integer, default=0)
    failed_amount: Mapped[int] = mapped_column(Amount, default=0)


class DailyMemberships(db.Model):  # type: ignore[name-defined,misc]
    """Memberships that started and ended per day, currency and interval.

    ``started_amount - ended_amount`` is the day's change in recurring amounts
    (per interval; MRR is the monthly ones plus the yearly ones / 12), and
    ``started - ended`` the change in members.  ``reactivated`` counts the
    starts that were reactivations (``started - reactivated`` are new members).
    """

    __tablename__ = "report_daily_memberships"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    interval: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    started: Mapped[int] = mapped_column(sa.Integer, default=0)
    started_amount: Mapped[int] = mapped_column(Amount, default=0)
    reactivated: Mapped[int] = mapped_column(sa.Integer, default=0)
    ended: Mapped[int] = mapped_column(sa.Integer, default=0)
    ended_amount: Mapped[int] = mapped_column(Amount, default=0)


class DailyCancellationReasons(db.Model):  # type: ignore[name-defined,misc]
    """Memberships that ended per day, by cancellation reason (empty for none given)."""

    __tablename__ = "report_daily_cancellation_reasons"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    ended: Mapped[int] = mapped_column(sa.Integer, default=0)


SUMMARY_TABLES = (DailyPayments, DailyFailures, DailyMemberships, DailyCancellationReasons)


# -- which days a row counts on ------------------------------------------------------------

ENDED = (MembershipStatus.CANCELED, MembershipStatus.UNPAID, MembershipStatus.PAUSED)
CHARGED = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED)

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
    if status in CHARGED and paid_at is not None:
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
    if status in ENDED:
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
                old_status in ENDED
                and old_canceled is None
                and _day(_old(obj, "updated_at")) != utcnow().date()
            )
            if not (moves_end or _changed(obj, MEMBERSHIP_COLUMNS)):
                continue
            days |= membership_days(
                old_status, _old(obj, "started_at"), old_canceled, _old(obj, "updated_at")
            )
            days |= membership_days(obj.status, obj.started_at, obj.canceled_at, obj.updated_at)
            if obj.status in ENDED and obj.canceled_at is None:
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


@event.listens_for(Session, "before_flush")
def _mark_changed_days(session: Session, flush_context: Any, instances: Any) -> None:
    if not any(
        isinstance(obj, Payment | Membership)
        for group in (session.new, session.dirty, session.deleted)
        for obj in group
    ):
        return
    mark_days(session, days_touched(session))


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_marks(session: Session, *args: Any) -> None:
    session.info.pop(_MARKED, None)
