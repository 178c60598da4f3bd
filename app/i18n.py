"""Locale choice and locale-aware formatting of money and dates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, get_currency_name, get_decimal_symbol
from flask import Blueprint, Flask, abort, current_app, g, has_request_context, request

from app.services.amounts import to_decimal

LOCALES = ("ar", "en")
DEFAULT_LOCALE = "ar"
RTL_LOCALES = frozenset({"ar"})


def best_locale() -> str:
    """The reader's language from the URL, else their browser, else Arabic."""
    if has_request_context():
        lang = g.get("lang")
        if lang in LOCALES:
            return str(lang)
        return request.accept_languages.best_match(LOCALES, default=DEFAULT_LOCALE) or DEFAULT_LOCALE
    return DEFAULT_LOCALE


def text_direction(locale: str) -> str:
    return "rtl" if locale in RTL_LOCALES else "ltr"


def format_money(amount: int, currency: str, locale: str | None = None, short: bool = False) -> str:
    """``amount`` minor units as the locale writes money; ``short`` drops ".00"."""
    locale = locale or best_locale()
    text = format_currency(to_decimal(amount, currency), currency.upper(), locale=locale)
    if short and amount % 100 == 0:
        text = text.replace(get_decimal_symbol(locale) + "00", "")
    if locale in RTL_LOCALES:
        # A left-to-right mark after "US$" keeps the "$" with "US" inside Arabic text
        # (otherwise the bidi algorithm shows "$US").
        text += "\u200e"
    return text


def format_day(value: date | datetime | None, locale: str | None = None) -> str:
    if value is None:
        return ""
    return babel_format_date(value, "long", locale=locale or best_locale())


def format_month(year: int | None, month: int | None, locale: str | None = None) -> str:
    """ "December 2026" / "ديسمبر 2026"."""
    if not year or not month:
        return ""
    return babel_format_date(date(year, month, 1), "LLLL y", locale=locale or best_locale())


def register_template_helpers(app: Flask) -> None:
    @app.template_global()
    def newsroom_name() -> str:
        key = "NEWSROOM_NAME_AR" if best_locale() == "ar" else "NEWSROOM_NAME"
        return str(current_app.config[key])

    app.add_template_global(best_locale, "get_locale")
    app.add_template_global(format_money)
    app.add_template_global(format_day)
    app.add_template_global(format_month)
    app.add_template_global(text_direction)

    @app.template_global()
    def currency_name(code: str) -> str:
        return get_currency_name(code.upper(), locale=best_locale())


def language_prefix(bp: Blueprint) -> None:
    """Routes under ``/<lang>``: an unknown language is 404, ``url_for`` keeps the current one."""

    @bp.url_value_preprocessor
    def take_lang(endpoint: str | None, values: dict[str, Any] | None) -> None:
        lang = (values or {}).pop("lang", None)
        if lang not in LOCALES:
            abort(404)
        g.lang = lang

    @bp.url_defaults
    def give_lang(endpoint: str, values: dict[str, Any]) -> None:
        values.setdefault("lang", g.get("lang") or best_locale())
