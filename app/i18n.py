"""Locale choice and locale-aware formatting of money and dates."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, format_decimal, get_currency_name, get_decimal_symbol
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    has_app_context,
    has_request_context,
    request,
    url_for,
)
from flask_babel import force_locale, get_translations
from markupsafe import Markup, escape

from app.services.amounts import exponent, to_decimal

LOCALES = ("ar", "en")
DEFAULT_LOCALE = "ar"
RTL_LOCALES = frozenset({"ar"})
DEFAULT_ARABIC_LOCALE = "ar_SY"


def best_locale() -> str:
    """The reader's language from the URL, else their browser, else Arabic."""
    if has_request_context():
        lang = g.get("lang")
        if lang in LOCALES:
            return str(lang)
        return request.accept_languages.best_match(LOCALES, default=DEFAULT_LOCALE) or DEFAULT_LOCALE
    return DEFAULT_LOCALE


def babel_locale(locale: str | None = None) -> str:
    """The Babel locale that writes dates, months, numbers and money for a page language:
    ``ARABIC_LOCALE`` for Arabic (``ar_SY`` by default: كانون الثاني, not يناير)."""
    locale = locale or best_locale()
    if locale != "ar":
        return locale
    if has_app_context():
        return str(current_app.config.get("ARABIC_LOCALE") or DEFAULT_ARABIC_LOCALE)
    return DEFAULT_ARABIC_LOCALE


def text_direction(locale: str) -> str:
    return "rtl" if locale in RTL_LOCALES else "ltr"


ARABIC_INDIC = str.maketrans("0123456789%", "٠١٢٣٤٥٦٧٨٩٪")


def arabic_digits(locale: str | None = None) -> bool:
    """Arabic-Indic digits for this locale?  Only Arabic, and only with ``ARABIC_DIGITS`` on."""
    locale = locale or best_locale()
    return locale == "ar" and has_app_context() and bool(current_app.config.get("ARABIC_DIGITS"))


def numbering_system(locale: str | None = None) -> str:
    """Babel's numbering system: ``arab`` gives the Arabic separators (٫ ٬), never the digits."""
    return "arab" if arabic_digits(locale) else "latn"


#: Left as they are inside a sentence: email addresses, URLs and HTML attribute values.
KEEP_LATIN_DIGITS = re.compile(r"[^\s<>\"']+@[^\s<>\"']+|https?://[^\s<>\"']+|=\"[^\"]*\"")


def localize_digits(text: Any, locale: str | None = None) -> str:
    """``text`` with ٠-٩ for 0-9 where the setting asks for them; Markup stays Markup.

    For what the service writes (money, dates, counts, sentences with them); email
    addresses and URLs in it keep their digits.  Never apply it to a value the server
    parses back (an input's value) or to a card's digits.
    """
    text = text if isinstance(text, str) else str(text)
    if not arabic_digits(locale):
        return text
    pieces, last = [], 0
    for kept in KEEP_LATIN_DIGITS.finditer(text):
        pieces += [text[last : kept.start()].translate(ARABIC_INDIC), text[kept.start() : kept.end()]]
        last = kept.end()
    pieces.append(text[last:].translate(ARABIC_INDIC))
    return text[:0].join(pieces)  # slices of Markup are Markup, and so is the join


#: A whole amount in words and a number, as the newsroom writes its appeal ("دولار واحد",
#: "3 دولارات"): the catalog holds each currency's six Arabic plural forms.
CURRENCY_WORDS: dict[str, Callable[[Any, int], str]] = {
    "usd": lambda t, n: t.ungettext("%(num)s US dollar", "%(num)s US dollars", n),
    "eur": lambda t, n: t.ungettext("%(num)s euro", "%(num)s euros", n),
    "try": lambda t, n: t.ungettext("%(num)s Turkish lira", "%(num)s Turkish liras", n),
}


def money_words(whole: int, currency: str, locale: str) -> str:
    """``whole`` major units of ``currency`` in words, in ``locale`` ("3 دولارات").

    The count picks the plural form; the number in it is written as the locale writes
    counts (its separators, ``ARABIC_DIGITS``)."""
    with force_locale(locale):
        form = CURRENCY_WORDS[currency.lower()](get_translations(), whole)
    return str(form) % {"num": format_number(whole, locale)}


def format_money(amount: int, currency: str, locale: str | None = None, short: bool = False) -> str:
    """``amount`` minor units as the locale writes money; ``short`` drops ".00", and in Arabic
    writes a whole amount in words ("دولار واحد", "10 دولارات": the appeal's chips, button and
    limits)."""
    locale = locale or best_locale()
    whole, cents = divmod(amount, 10 ** exponent(currency))
    if short and not cents and locale in RTL_LOCALES and currency.lower() in CURRENCY_WORDS:
        return money_words(whole, currency, locale)
    system, babel = numbering_system(locale), babel_locale(locale)
    text = format_currency(
        to_decimal(amount, currency), currency.upper(), locale=babel, numbering_system=system
    )
    if short and amount % 10 ** exponent(currency) == 0:
        text = text.replace(get_decimal_symbol(babel, numbering_system=system) + "00", "")
    if locale in RTL_LOCALES:
        # A left-to-right mark after "US$" keeps the "$" with "US" inside Arabic text
        # (otherwise the bidi algorithm shows "$US").  In HTML, |bdi isolates it as well.
        text += "\u200e"
    return localize_digits(text, locale)


def format_number(value: int | float, locale: str | None = None) -> str:
    """A count as the locale writes it (١٢٬٣٤٥ with ``ARABIC_DIGITS``)."""
    locale = locale or best_locale()
    return localize_digits(
        format_decimal(value, locale=babel_locale(locale), numbering_system=numbering_system(locale)),
        locale,
    )


def format_day(value: date | datetime | None, locale: str | None = None) -> str:
    if value is None:
        return ""
    locale = locale or best_locale()
    return localize_digits(babel_format_date(value, "long", locale=babel_locale(locale)), locale)


def format_month(year: int | None, month: int | None, locale: str | None = None) -> str:
    """ "December 2026" / "ديسمبر 2026"."""
    if not year or not month:
        return ""
    locale = locale or best_locale()
    return localize_digits(
        babel_format_date(date(year, month, 1), "LLLL y", locale=babel_locale(locale)), locale
    )


def months_since(start: datetime | None, now: datetime | None = None) -> int:
    """Whole months from ``start`` to now (0 in the first month)."""
    if start is None:
        return 0
    now = now or datetime.now(UTC)
    months = (now.year - start.year) * 12 + now.month - start.month
    if now.day < start.day:
        months -= 1
    return max(months, 0)


#: Card brands as Stripe names them (``visa``), as the card says them (``Visa``): one spelling
#: on the staff, account and email pages.
CARD_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}


def card_brand(brand: str | None) -> str:
    return CARD_BRANDS.get((brand or "").lower(), (brand or "").title())


def bdi(text: Any) -> Markup:
    """``text`` in its own direction inside the sentence around it: ``<bdi>``.

    Money, numbers and codes keep their order inside Arabic (and Arabic names
    inside English) whatever the words around them.
    """
    return Markup("<bdi>%s</bdi>") % escape(text)


#: The parts of the appeal the newsroom words itself (``APPEAL_<PART>_AR`` / ``_EN`` settings).
APPEAL_PARTS = ("headline", "lead", "slogan")


def appeal(part: str, locale: str | None = None) -> str:
    """The newsroom's own words for a part of its appeal, in the page's (or ``locale``'s) language."""
    suffix = "AR" if (locale or best_locale()) == "ar" else "EN"
    return str(current_app.config[f"APPEAL_{part.upper()}_{suffix}"]).strip()


def register_template_helpers(app: Flask) -> None:
    @app.template_global()
    def newsroom_name() -> str:
        key = "NEWSROOM_NAME_AR" if best_locale() == "ar" else "NEWSROOM_NAME"
        return str(current_app.config[key])

    app.add_template_global(best_locale, "get_locale")
    app.add_template_global(format_money)
    app.add_template_global(format_number)
    app.add_template_global(format_day)
    app.add_template_global(format_month)
    app.add_template_global(months_since)
    app.add_template_global(text_direction)
    app.add_template_global(card_brand)
    app.add_template_global(appeal)
    app.add_template_filter(bdi)
    app.add_template_filter(localize_digits, "digits")

    @app.template_global()
    def currency_name(code: str) -> str:
        return get_currency_name(code.upper(), locale=babel_locale())


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


def query_of(keys: Iterable[str]) -> list[tuple[str, str]]:
    """The request's values for ``keys`` (the first of each), and no other query key."""
    return [(key, request.args[key]) for key in keys if key in request.args]


def with_query(path: str, query: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(query)}" if query else path


def page_in(other: str, keys: Iterable[str], fallback: str) -> str:
    """This page in the ``other`` language, as a URL relative to our own host.

    Built from the route's own values and only the query ``keys`` the page reads,
    encoded by ``urlencode``: no request argument reaches ``url_for``, whose own
    keywords (``_external``, ``_scheme``, ``_anchor``, ``_method``) would change the
    link (a forged ``Host`` into a kept page), and a repeated ``lang`` is one value.
    Outside a GET of ``fallback``'s blueprint, ``fallback`` in that language.
    """
    rule, endpoint = request.url_rule, request.endpoint or ""
    if request.method != "GET" or rule is None or endpoint.split(".")[0] != fallback.split(".")[0]:
        return url_for(fallback, lang=other)
    values = dict(request.view_args or {})
    query = query_of(key for key in keys if key != "lang")
    if "lang" in rule.arguments:
        values["lang"] = other
    else:
        query.append(("lang", other))
    return with_query(url_for(endpoint, **values), query)
