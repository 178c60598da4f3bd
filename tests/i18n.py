"""What the catalogs say, so tests compare with the real translation instead of guessing it."""

from __future__ import annotations

import re

from bidi import get_display
from flask import Flask
from flask_babel import force_locale, gettext

from app.bidi import plain_text
from app.i18n import format_money
from app.messages import message_for

ARABIC = re.compile(r"[\u0600-\u06FF]")

#: What a reader's eye meets, left to right, for a line of a right-to-left paragraph.
INVISIBLE = str.maketrans("", "", "\u200e\u200f\u2066\u2067\u2068\u2069")


def seen(line: str) -> str:
    """The line as drawn on a right-to-left screen, left to right, without the invisible marks."""
    return get_display(line, base_dir="R").translate(INVISIBLE)


def money_as_on_the_page(app: Flask, amount: int, currency: str = "usd") -> str:
    """An Arabic amount as the pages draw it: their formatter, through a bidi algorithm
    (and a no-break space read as a space, as pypdf reads it back from a PDF)."""
    with app.app_context():
        return seen(format_money(amount, currency, "ar")).replace("\xa0", " ")


def translate(app: Flask, english: str, locale: str = "ar", **values: str) -> str:
    with app.test_request_context(f"/{locale}/support"), force_locale(locale):
        return gettext(english, **values)


def subject(app: Flask, english: str, locale: str = "ar", **values: str) -> str:
    """An email's subject as sent: the translation, its codes isolated in Arabic (app.bidi)."""
    return plain_text(translate(app, english, locale, **values), locale)


def message(app: Flask, code: str, locale: str = "ar", **values: str) -> str:
    with app.test_request_context(f"/{locale}/support"), force_locale(locale):
        return message_for(code, **values)


def is_arabic(text: str) -> bool:
    """Arabic script, and no Latin word beyond currency codes and brand names."""
    latin = set(re.findall(r"[A-Za-z]{2,}", text)) - {"US", "USD", "EUR", "TRY", "Stripe", "CVC"}
    return bool(ARABIC.search(text)) and not latin
