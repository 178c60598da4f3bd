"""The daily summaries: building them (the beat task, ``reports rebuild``), and the session listeners.

``app/models/report_summary.py`` holds the tables; they hold the figures of
``dashboard.py`` added up per UTC day.  A day is *summarised* when it has a
``report_day`` row and no ``report_dirty_day`` row.  The listeners attached
by ``init_app`` mark, in the same transaction, the days each flush changes
(``dirty_days.py`` says which); ``build_days`` builds days again and removes
the marks it saw.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.database import listen_once
from app.extensions import db
from app.models import (
    CHARGED_STATUSES,
    DailyCancellationReasons,
    DailyFailures,
    DailyMemberships,
    DailyPayments,
    Membership,
    Payment,
    PaymentStatus,
    ReportDay,
    ReportDirtyDay,
)
from app.models.types import utcnow
from app.services.reports.dirty_days import days_touched, forget_marks, mark_days
from app.services.reports.periods import day_runs, table_days
from app.services.reports.sql import (
    EMPTY_SQL,
    by_position,
    came_back,
    day_of,
    end_time,
    ended_in,
    ever_member,
    frequency_of_membership,
    in_ranges,
)

M = Membership


# -- the session listeners -------------------------------------------------------------------


def _mark_changed_days(session: Session, flush_context: Any, instances: Any) -> None:
    if not any(
        isinstance(obj, Payment | Membership)
        for group in (session.new, session.dirty, session.deleted)
        for obj in group
    ):
        return
    mark_days(session, days_touched(session))


def _forget_marks(session: Session, *args: Any) -> None:
    forget_marks(session)


_LISTENERS = (
    ("before_flush", _mark_changed_days),
    ("after_soft_rollback", _forget_marks),
    ("after_commit", _forget_marks),
)


def init_app(app: Flask) -> None:
    """Mark the days every flush changes, in every session."""
    listen_once(Session, _LISTENERS)


# -- building --------------------------------------------------------------------------------

#: Days built in one transaction (a month of payments at a time on a big database).
CHUNK_DAYS = 31
#: Serialises builders on PostgreSQL (the beat task, the command): an arbitrary constant.
_LOCK_KEY = 7_130_826


def _payment_summary(first: date, end: date) -> Any:
    """``report_daily_payments`` rows for ``[first, end)``, from the raw payments."""
    frequency = frequency_of_membership()
    campaign = func.coalesce(Payment.campaign, EMPTY_SQL)
    disputed = Payment.status == PaymentStatus.DISPUTED
    zero = sa.literal_column("0", sa.Integer)
    charged = (
        select(
            day_of(Payment.paid_at).label("day"),
            Payment.currency.label("currency"),
            frequency.label("frequency"),
            campaign.label("campaign"),
            func.count().label("charged"),
            func.sum(Payment.amount).label("charged_amount"),
            func.count().filter(Payment.refunded_amount > 0).label("refunded"),
            func.coalesce(func.sum(Payment.refunded_amount), 0).label("refunded_amount"),
            func.count().filter(disputed).label("disputed"),
            func.coalesce(func.sum(Payment.amount).filter(disputed), 0).label("disputed_amount"),
            zero.label("failed"),
            zero.label("failed_amount"),
        )
        .select_from(Payment)
        .outerjoin(Membership, Membership.id == Payment.membership_id)
        .where(in_ranges(Payment.paid_at, [(first, end)]), Payment.status.in_(CHARGED_STATUSES))
        .group_by(*by_position(1, 2, 3, 4))
    )
    failed = (
        select(
            day_of(Payment.created_at),
            Payment.currency,
            frequency,
            campaign,
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            func.count(),
            func.sum(Payment.amount),
        )
        .select_from(Payment)
        .outerjoin(Membership, Membership.id == Payment.membership_id)
        .where(in_ranges(Payment.created_at, [(first, end)]), Payment.status == PaymentStatus.FAILED)
        .group_by(*by_position(1, 2, 3, 4))
    )
    both = sa.union_all(charged, failed).subquery()
    columns = [c.name for c in DailyPayments.__table__.columns]
    keys = columns[:4]
    return (
        columns,
        select(*(both.c[k] for k in keys), *(func.sum(both.c[c]) for c in columns[4:])).group_by(
            *(both.c[k] for k in keys)
        ),
    )


def _failure_summary(first: date, end: date) -> Any:
    select_ = (
        select(
            day_of(Payment.created_at),
            Payment.currency,
            func.coalesce(Payment.failure_code, EMPTY_SQL),
            func.count(),
            func.sum(Payment.amount),
        )
        .where(in_ranges(Payment.created_at, [(first, end)]), Payment.status == PaymentStatus.FAILED)
        .group_by(*by_position(1, 2, 3))
    )
    return ["day", "currency", "failure_code", "failed", "failed_amount"], select_


def _membership_summary(first: date, end: date) -> Any:
    zero = sa.literal_column("0", sa.Integer)
    started = (
        select(
            day_of(M.started_at).label("day"),
            M.currency.label("currency"),
            M.interval.label("interval"),
            func.count().label("started"),
            func.sum(M.amount).label("started_amount"),
            func.coalesce(func.sum(case((came_back(), 1), else_=0)), 0).label("reactivated"),
            zero.label("ended"),
            zero.label("ended_amount"),
        )
        .where(ever_member, in_ranges(M.started_at, [(first, end)]))
        .group_by(*by_position(1, 2, 3))
    )
    ended = (
        select(day_of(end_time), M.currency, M.interval, zero, zero, zero, func.count(), func.sum(M.amount))
        .where(ever_member, ended_in([(first, end)]))
        .group_by(*by_position(1, 2, 3))
    )
    both = sa.union_all(started, ended).subquery()
    columns = [c.name for c in DailyMemberships.__table__.columns]
    keys = columns[:3]
    return (
        columns,
        select(*(both.c[k] for k in keys), *(func.sum(both.c[c]) for c in columns[3:])).group_by(
            *(both.c[k] for k in keys)
        ),
    )


def _reason_summary(first: date, end: date) -> Any:
    select_ = (
        select(day_of(end_time), func.coalesce(M.cancellation_reason, EMPTY_SQL), func.count())
        .where(ever_member, ended_in([(first, end)]))
        .group_by(*by_position(1, 2))
    )
    return ["day", "reason", "ended"], select_


_SUMMARIES = (
    (DailyPayments, _payment_summary),
    (DailyFailures, _failure_summary),
    (DailyMemberships, _membership_summary),
    (DailyCancellationReasons, _reason_summary),
)


def _build_range(conn: Connection, first: date, end: date) -> None:
    """Replace the summaries of ``[first, end)`` and clear the marks seen, in the caller's snapshot."""
    for model, build in _SUMMARIES:
        table = model.__table__
        conn.execute(table.delete().where(table.c.day >= first, table.c.day < end))
        columns, query = build(first, end)
        conn.execute(table.insert().from_select(columns, query))
    days = table_days(first, end)
    day_table = ReportDay.__table__
    conn.execute(day_table.delete().where(day_table.c.day >= first, day_table.c.day < end))
    now = utcnow()
    conn.execute(day_table.insert(), [{"day": d, "built_at": now} for d in days])
    # Only the marks this snapshot sees: a change committed after it keeps its mark.
    dirty = ReportDirtyDay.__table__
    conn.execute(dirty.delete().where(dirty.c.day >= first, dirty.c.day < end))


@contextlib.contextmanager
def _builder(wait: bool = True) -> Iterator[Connection | None]:
    """A connection of its own, holding the builders' lock (``None`` if another builder holds it)."""
    with db.engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            if wait:
                conn.execute(select(func.pg_advisory_lock(_LOCK_KEY)))
                locked = True
            else:
                locked = bool(conn.execute(select(func.pg_try_advisory_lock(_LOCK_KEY))).scalar())
            conn.commit()
            if not locked:
                yield None
                return
            # Each range is built from one snapshot: what it reads and the marks it clears agree.
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield conn
        finally:
            if postgres:
                conn.rollback()
                conn.execute(select(func.pg_advisory_unlock(_LOCK_KEY)))
                conn.commit()


def build_days(days: Iterable[date], *, wait: bool = True) -> int:
    """Build the summaries of ``days`` (each run of days in chunks, one transaction each).

    Returns how many days were built; 0 without waiting when ``wait`` is false
    and another builder is at work.
    """
    runs = day_runs(days)
    built = 0
    with _builder(wait) as conn:
        if conn is None:
            return 0
        for first, end in runs:
            chunk_first = first
            while chunk_first < end:
                chunk_end = min(end, chunk_first + timedelta(days=CHUNK_DAYS))
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.execute(sa.text("SET LOCAL jit = off"))  # compiling costs more than it saves
                    _build_range(conn, chunk_first, chunk_end)
                built += (chunk_end - chunk_first).days
                chunk_first = chunk_end
    return built


def first_day_with_data() -> date | None:
    """The earliest day any figure counts on (every index makes this a few lookups)."""
    found = [
        db.session.scalar(select(func.min(M.started_at))),
        db.session.scalar(select(func.min(Payment.paid_at))),
        db.session.scalar(select(func.min(Payment.created_at)).where(Payment.status == PaymentStatus.FAILED)),
    ]
    days = [value.astimezone(UTC).date() for value in found if value is not None]
    return min(days) if days else None


@dataclass
class Refresh:
    dirty: int = 0
    missing: int = 0
    built: int = 0
    busy: bool = False


def days_to_build(today: date | None = None) -> tuple[list[date], list[date]]:
    """(dirty days, days never built) before today."""
    today = today or utcnow().date()
    dirty = sorted(
        set(db.session.scalars(select(ReportDirtyDay.day).where(ReportDirtyDay.day < today).distinct()))
    )
    first = first_day_with_data()
    missing: list[date] = []
    if first is not None and first < today:
        built = set(db.session.scalars(select(ReportDay.day).where(ReportDay.day >= first)))
        missing = [d for d in table_days(first, today) if d not in built]
    db.session.rollback()  # no transaction held while building
    return dirty, missing


def refresh(today: date | None = None, *, wait: bool = False) -> Refresh:
    """The beat task's work: build the days marked dirty and the past days never built."""
    dirty, missing = days_to_build(today)
    report = Refresh(dirty=len(dirty), missing=len(missing))
    if dirty or missing:
        report.built = build_days([*dirty, *missing], wait=wait)
        report.busy = report.built == 0
    if report.built:
        current_app.logger.info(
            "report summaries: %s days built (%s dirty, %s never built)",
            report.built,
            len(dirty),
            len(missing),
        )
    return report


def rebuild(first: date | None = None, last: date | None = None) -> int:
    """Build every day from ``first`` (default: the first day with data) to ``last`` (default: yesterday)."""
    yesterday = utcnow().date() - timedelta(days=1)
    last = min(last or yesterday, yesterday)
    first = first or first_day_with_data()
    db.session.rollback()
    if first is None or first > last:
        return 0
    return build_days(table_days(first, last + timedelta(days=1)), wait=True)


@dataclass
class Status:
    built: int
    first: date | None
    last: date | None
    dirty: int


def status() -> Status:
    """Days built, days marked dirty, and the first and last day built."""
    built, first, last = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(ReportDay.day), sa.func.max(ReportDay.day))
    ).one()
    dirty = db.session.scalar(sa.select(sa.func.count(sa.distinct(ReportDirtyDay.day))))
    return Status(built, first, last, dirty or 0)
