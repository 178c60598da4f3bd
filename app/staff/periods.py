"""The period a staff page reports on: a preset (this month, the last 12 months...) or two dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import flash, request
from flask_babel import gettext as _

from app.services.reports.periods import Period
from app.staff import text

MAX_DAYS = 3660
#: The reports step a period back and forward (the one before it, the day after it): dates
#: outside these overflowed Python's calendar (a 500), so they are refused like a reversed period.
EARLIEST, LATEST = date(1900, 1, 1), date(9000, 12, 31)


def presets(today: date) -> dict[str, Period]:
    first = today.replace(day=1)
    last_month_end = first - timedelta(days=1)
    year, month = (first.year, first.month - 11) if first.month == 12 else (first.year - 1, first.month + 1)
    return {
        "this_month": Period(first, today),
        "last_month": Period(last_month_end.replace(day=1), last_month_end),
        "last_7_days": Period(today - timedelta(days=6), today),
        "last_12_months": Period(date(year, month, 1), today),
        "this_year": Period(date(today.year, 1, 1), today),
    }


def preset_labels() -> dict[str, str]:
    return {
        "this_month": _("This month"),
        "last_month": _("Last month"),
        "last_7_days": _("Last 7 days"),
        "last_12_months": _("Last 12 months"),
        "this_year": _("This year"),
    }


def chosen_period(default: str = "this_month") -> Period:
    """The request's ``preset``, or its ``from`` and ``to`` dates; ``default`` (with a message
    for dates that do not make a period) otherwise."""
    today = datetime.now(UTC).date()
    choices = presets(today)
    chosen = request.args.get("preset")
    if chosen in choices:
        return choices[chosen]
    first, last = request.args.get("from"), request.args.get("to")
    if not first and not last:
        return choices[default]
    try:
        period = Period(date.fromisoformat(first or ""), date.fromisoformat(last or ""))
    except ValueError:
        flash(str(text.ERRORS["bad_dates"]), "error")
        return choices[default]
    if (
        period.first > period.last
        or (period.last - period.first).days > MAX_DAYS
        or not EARLIEST <= period.first <= period.last <= LATEST
    ):
        flash(str(text.ERRORS["bad_dates"]), "error")
        return choices[default]
    return period
