"""How the staff pages write money, numbers, percentages and times, in the page's language."""

from __future__ import annotations

from datetime import UTC, date, datetime

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_percent
from flask_babel import gettext as _

from app.i18n import (
    babel_locale,
    best_locale,
    format_money,
    format_month,
    format_number,
    localize_digits,
    numbering_system,
)
from app.services.amounts import major_units


def money(amount: int | None, currency: str) -> str:
    """Minor units of any ISO currency, as the page's language writes money ("" for none).

    In Arabic a negative amount (a fee, a refund in a payout) is in accounting parentheses:
    the bidi algorithm moves a minus sign to the far side of the figure ("US$ 0.60-")."""
    if amount is None:
        return ""
    if amount < 0 and best_locale() == "ar":
        return f"({format_money(-amount, currency)})"
    return format_money(amount, currency)


def number(value: int | float) -> str:
    return format_number(value)


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return localize_digits(
        format_percent(value, "#,##0.0%", locale=babel_locale(), numbering_system=numbering_system())
    )


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    # The day and the time joined as the locale joins them ("،" in Arabic, not a Latin comma).
    locale = babel_locale()
    glue = str(Locale.parse(locale).datetime_formats["medium"])
    moment = glue.replace("{1}", format_date(value.astimezone(UTC), "d MMM y", locale=locale)).replace(
        "{0}", format_time(value, "HH:mm", tzinfo=UTC, locale=locale)
    )
    return localize_digits(_("%(moment)s UTC", moment=moment))


def day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return localize_digits(format_date(value, "medium", locale=babel_locale()))


def month_name(month: tuple[int, int]) -> str:
    return format_month(month[0], month[1])


def major(amount: int | None, currency: str) -> str:
    """Minor units as a plain decimal in major units (``12.50``), for exports and form fields."""
    return "" if amount is None else major_units(amount, currency)
