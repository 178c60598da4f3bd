"""The SQL the figures share: per-dialect functions (PostgreSQL and SQLite) and the definitions.

``month_of``, ``month_of_day`` and ``day_of`` compile to each dialect's own
date functions; the expressions below say in SQL when a membership started,
ended and was ever a member, and which payments were charged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, case, func, literal_column, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from app.models import (
    ENDED_STATUSES,
    NEVER_STARTED_STATUSES,
    Membership,
    Payment,
)
from app.services.reports.periods import DayRange, Month, midnight

ONCE = "once"
#: Inlined, not a bound parameter: PostgreSQL must see GROUP BY and SELECT as one expression.
ONCE_SQL = sa.literal_column("'once'", sa.String)
EMPTY_SQL = sa.literal_column("''", sa.String)


# -- per-dialect functions -------------------------------------------------------------------


class month_of(FunctionElement[Any]):
    """The UTC month of a timestamp: PostgreSQL gives a timestamp, SQLite ``YYYY-MM``."""

    name = "month_of"
    inherit_cache = True


@compiles(month_of, "postgresql")
def _month_of_pg(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('month', {compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC')"


@compiles(month_of, "sqlite")
def _month_of_sqlite(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


class month_of_day(FunctionElement[Any]):
    """The month of a ``DATE`` column (a summary's day)."""

    name = "month_of_day"
    inherit_cache = True


@compiles(month_of_day, "postgresql")
def _month_of_day_pg(element: month_of_day, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('month', {compiler.process(element.clauses, **kw)})"


@compiles(month_of_day, "sqlite")
def _month_of_day_sqlite(element: month_of_day, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


class day_of(FunctionElement[Any]):
    """The UTC day of a timestamp, as a ``DATE`` (SQLite: ``YYYY-MM-DD``, as it stores dates)."""

    name = "day_of"
    type = sa.Date()
    inherit_cache = True


@compiles(day_of, "postgresql")
def _day_of_pg(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC') AS DATE)"


@compiles(day_of, "sqlite")
def _day_of_sqlite(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


def as_month(value: Any) -> Month:
    if isinstance(value, datetime | date):
        return value.year, value.month
    year, month = str(value)[:7].split("-")
    return int(year), int(month)


def by_position(*numbers: int) -> list[Any]:
    """``GROUP BY 1, 2``: one expression for PostgreSQL even when it holds bound parameters."""
    return [literal_column(str(n)) for n in numbers]


# -- the definitions in SQL ------------------------------------------------------------------

M = Membership
end_time = func.coalesce(M.canceled_at, M.updated_at)
has_ended = M.status.in_(ENDED_STATUSES)
#: Ever a member (an end recorded before the start can only be a record of history we never saw).
ever_member = and_(M.status.not_in(NEVER_STARTED_STATUSES), or_(not_(has_ended), end_time >= M.started_at))


def in_ranges(column: Any, ranges: Sequence[DayRange]) -> Any:
    """``column`` inside any of the day ranges, written so an index on it serves each one."""
    parts = [
        column < midnight(end) if first is None else and_(column >= midnight(first), column < midnight(end))
        for first, end in ranges
    ]
    return or_(*parts) if parts else sa.false()


def ended_in(ranges: Sequence[DayRange]) -> Any:
    """coalesce(canceled_at, updated_at) in the ranges, written so the two indexes serve each range.

    (The status test is repeated inside: ``(status, updated_at)`` is the index of the second part.)
    """
    return and_(
        has_ended,
        or_(
            in_ranges(M.canceled_at, ranges),
            *(and_(has_ended, M.canceled_at.is_(None), in_ranges(M.updated_at, [one])) for one in ranges),
        ),
    )


def came_back() -> Any:
    """The membership started after an earlier one of its supporter had ended: a reactivation."""
    earlier = sa.orm.aliased(Membership)
    earlier_end = func.coalesce(earlier.canceled_at, earlier.updated_at)
    return (
        select(earlier.id)
        .where(
            earlier.supporter_id == M.supporter_id,
            earlier.id != M.id,
            earlier.status.in_(ENDED_STATUSES),
            earlier_end <= M.started_at,
            earlier_end >= earlier.started_at,
        )
        .exists()
    )


def frequency_of_membership() -> Any:
    return case((Payment.membership_id.is_(None), ONCE_SQL), else_=Membership.interval)


def frequency_looked_up() -> Any:
    """The same, looked up per payment: for a few days of payments an index lookup each beats
    joining every membership (which PostgreSQL's planner prefers, hashing them all)."""
    interval = select(Membership.interval).where(Membership.id == Payment.membership_id).scalar_subquery()
    return case((Payment.membership_id.is_(None), ONCE_SQL), else_=interval)


def in_day_ranges(column: Any, ranges: Sequence[DayRange]) -> Any:
    """A summary's ``day`` inside any of the ranges."""
    parts = [column < end if first is None else and_(column >= first, column < end) for first, end in ranges]
    return or_(*parts) if parts else sa.false()
