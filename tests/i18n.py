"""What the catalogs say, so tests compare with the real translation instead of guessing it."""

from __future__ import annotations

import re

from flask import Flask
from flask_babel import force_locale, gettext

from app.bidi import plain_text
from app.messages import message_for

ARABIC = re.compile(r"[\u0600-\u06FF]")


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
