"""Periods of whole UTC days, runs of days, and which days come from the daily summaries.

A period is ``[start, end)``; the dashboard asks for whole days, so ``end`` is
midnight after the last day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import ReportDay, ReportDirtyDay
from app.models.types import utcnow

Month = tuple[int, int]
#: ``[first, end)`` in whole days; ``None`` as the first is "from the beginning".
DayRange = tuple[date | None, date]


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


@dataclass(frozen=True)
class Period:
    """Whole UTC days, ``first`` to ``last`` inclusive."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return midnight(self.first)

    @property
    def end(self) -> datetime:
        return midnight(self.last + timedelta(days=1))

    @property
    def months(self) -> list[Month]:
        months: list[Month] = []
        year, month = self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            months.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months


def this_month(today: date) -> Period:
    return Period(today.replace(day=1), today)


def clip(ranges: Sequence[DayRange], first: date, end: date) -> list[DayRange]:
    """The parts of ``ranges`` inside ``[first, end)``."""
    clipped: list[DayRange] = []
    for a, b in ranges:
        lo = first if a is None else max(a, first)
        hi = min(b, end)
        if lo < hi:
            clipped.append((lo, hi))
    return clipped


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as ``[first, end)`` runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + timedelta(days=1))
        else:
            runs.append((day, day + timedelta(days=1)))
    return runs


def table_days(first: date, end: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((end - first).days)]


# -- which days come from the summaries ------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """The days before ``end``: read from the summaries, or computed live."""

    end: date
    summarised: list[tuple[date, date]]
    live: list[DayRange]

    @property
    def summarised_days(self) -> int:
        return sum((b - a).days for a, b in self.summarised)


def coverage(end: date, today: date | None = None) -> Coverage:
    """Days before ``end`` with a summary built and not changed since; the rest is live.

    Today is always live (it is not over), and so is every day after it.
    """
    today = today or utcnow().date()
    until = min(end, today)
    dirty = set(db.session.scalars(select(ReportDirtyDay.day).where(ReportDirtyDay.day < until).distinct()))
    built = [
        d for d in db.session.scalars(select(ReportDay.day).where(ReportDay.day < until)) if d not in dirty
    ]
    summarised = day_runs(built)
    live: list[DayRange] = []
    cursor: date | None = None
    for a, b in summarised:
        if cursor is None or cursor < a:
            live.append((cursor, a))
        cursor = b
    if cursor is None or cursor < end:
        live.append((cursor, end))
    return Coverage(end, summarised, live)
