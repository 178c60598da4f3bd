"""The server's reading of the gift, in the page's language: what the page, its button and
the wallet sheet show (``GET /<lang>/support/quote``, and the page's first render)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.i18n import RTL_LOCALES, bdi, best_locale, format_money
from app.services.amounts import CURRENCIES, Quote

TOTAL_LINES = {
    "month": _l("Total: %(amount)s a month"),
    "year": _l("Total: %(amount)s a year"),
    "once": _l("Total: %(amount)s, once"),
}
#: The typed amount's label names the currency as a reader says it ("مبلغ آخر (بالدولار
#: الأمريكي)"), not by its code.
CUSTOM_AMOUNT_LABELS = {
    "usd": _l("Other amount (in US dollars)"),
    "eur": _l("Other amount (in euros)"),
    "try": _l("Other amount (in Turkish liras)"),
}
LIMITS_HINT = _l("From %(minimum)s to %(maximum)s.")


def limits_hint(currency: str) -> Markup:
    """The typed amount's limits in ``currency``, each in its own ``<bdi>``."""
    rule = CURRENCIES[currency]
    return Markup.escape(LIMITS_HINT) % {
        "minimum": bdi(format_money(rule.minimum, currency, short=True)),
        "maximum": bdi(format_money(rule.maximum, currency, short=True)),
    }


BUTTON_LABELS = {
    "month": _l("Give %(amount)s a month"),
    "year": _l("Give %(amount)s a year"),
    "once": _l("Give %(amount)s"),
}


def total_money(quote: Quote) -> str:
    """The total: in Arabic a whole one in words, as the chips and the button write it
    ("الإجمالي: دولار واحد شهريًا" beside "ادعمنا بمبلغ دولار واحد شهريًا", never "US$ 1.00"
    beside "دولار واحد"); English totals keep their cents ("Total: $10.00, once")."""
    return format_money(quote.total, quote.currency, short=best_locale() in RTL_LOCALES)


def button_money(quote: Quote) -> str:
    return format_money(quote.total, quote.currency, short=True)


def total_line(quote: Quote) -> Markup:
    """The total as the page writes it: the amount in its own ``<bdi>``."""
    return Markup.escape(TOTAL_LINES[quote.frequency]) % {"amount": bdi(total_money(quote))}


def button_label(quote: Quote) -> Markup:
    return Markup.escape(BUTTON_LABELS[quote.frequency]) % {"amount": bdi(button_money(quote))}


def as_json(quote: Quote) -> dict[str, Any]:
    """The quote for support.js: minor units and code for Stripe.js (the Express Checkout
    Element's ``amount``/``currency``/``mode``), the amounts as the page writes them."""
    return {
        "amount": quote.amount,
        "fee_cover": quote.fee_cover,
        "total": quote.total,
        "currency": quote.currency,
        "frequency": quote.frequency,
        "interval": quote.frequency if quote.recurring else None,
        "mode": "subscription" if quote.recurring else "payment",
        "total_money": total_money(quote),
        "button_money": button_money(quote),
        "total_line": str(TOTAL_LINES[quote.frequency] % {"amount": total_money(quote)}),
        "button_label": str(BUTTON_LABELS[quote.frequency] % {"amount": button_money(quote)}),
        "shown": as_shown(quote),  # what the page sends back to ``/start`` with the choice
    }


#: The fields of the quote the page showed, sent to ``/start`` beside the choice.
SHOWN_FIELDS = ("amount", "currency", "frequency", "cover_fees", "total")


def as_shown(quote: Quote) -> dict[str, str]:
    """The quote as the page sends it back (``quoted_<field>``): what the reader saw."""
    values = {"amount": quote.amount, "currency": quote.currency, "frequency": quote.frequency}
    values |= {"cover_fees": int(quote.cover_fees), "total": quote.total}
    return {f"quoted_{name}": str(values[name]) for name in SHOWN_FIELDS}


def was_shown(quote: Quote, form: Mapping[str, str]) -> bool:
    """The page showed the reader exactly this reading (a missing field is a mismatch)."""
    expected = as_shown(quote)
    return all(form.get(name, "").strip() == value for name, value in expected.items())
