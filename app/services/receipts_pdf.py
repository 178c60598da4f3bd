"""Receipts and yearly giving statements as PDF, in Arabic or English.

WeasyPrint lays the page out with Pango and HarfBuzz, so Arabic is shaped and
set right to left from the same HTML and CSS as the English page.  Receipt
numbers sit in left-to-right islands (``dir="ltr"``); amounts are written by the
pages' formatter, in islands of the page's direction (``money_island``), so an
Arabic receipt shows "US$ 12.34" as the pages and emails do.  Nothing is fetched
while rendering: the fonts are the system's.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from markupsafe import Markup

from app.i18n import format_day, format_money, text_direction
from app.models import CHARGED_STATUSES, Payment, PaymentStatus, Supporter
from app.models.types import utcnow


def money_island(amount: int, currency: str, locale: str) -> Markup:
    """Money as the pages show it: the page's formatter, in an island of the page's direction.

    In Arabic the pages' ``<bdi>`` takes its direction from the right-to-left mark Babel
    puts first, so "12.34 US$" shows as "US$ 12.34"; the island's ``dir`` does that here.
    The left-to-right mark Babel's Arabic money ends with stays: it keeps "$" with "US"
    (without it the island shows "$US")."""
    text = format_money(amount, currency, locale).lstrip("\u200f").strip()
    return Markup('<span class="money" dir="%s">%s</span>') % (text_direction(locale), text)


def given(payment: Payment) -> int:
    """What the newsroom kept: the amount less refunds; nothing for a lost dispute."""
    if payment.status == PaymentStatus.DISPUTED:
        return 0
    return payment.amount - (payment.refunded_amount or 0)


@dataclass(frozen=True)
class Newsroom:
    name: str
    legal_name: str
    address: str
    url: str


def newsroom(locale: str) -> Newsroom:
    config = current_app.config
    suffix = "_AR" if locale == "ar" else ""
    return Newsroom(
        name=config[f"NEWSROOM_NAME{suffix}"],
        legal_name=config[f"NEWSROOM_LEGAL_NAME{suffix}"],
        address=config[f"NEWSROOM_ADDRESS{suffix}"],
        url=config["NEWSROOM_URL"],
    )


def _render(template: str, locale: str, **context: Any) -> bytes:
    # Imported here: loading WeasyPrint (Pango, fonts) is for the requests that draw a PDF.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    with force_locale(locale):
        html = render_template(
            template,
            locale=locale,
            dir=text_direction(locale),
            newsroom=newsroom(locale),
            money=lambda amount, currency: money_island(amount, currency, locale),
            day=lambda value: format_day(value, locale),
            issued_on=format_day(utcnow(), locale),
            **context,
        )
    fetcher = URLFetcher(allowed_protocols=("data",))  # nothing from the network or the disk
    font_config = _font_config()
    html, stylesheets = _parsed_style(html, fetcher, font_config)
    pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf(
        stylesheets=stylesheets, font_config=font_config
    )
    return pdf


_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def _parsed_style(html: str, fetcher: Any, font_config: Any) -> tuple[str, list[Any]]:
    """The page without its ``<style>``, and that style parsed once per thread and text.

    Parsing the same style sheet for every receipt was a tenth of drawing it
    (``bench/receipts.py``).  Given as the only style sheet besides
    WeasyPrint's own, it wins over WeasyPrint's defaults as the page's own did.
    """
    match = _STYLE.search(html)
    if match is None:
        return html, []
    from weasyprint import CSS

    parsed: dict[str, Any] = _fonts.__dict__.setdefault("styles", {})
    text = match.group(1)
    if text not in parsed:
        if len(parsed) >= 8:  # a few templates and languages: never more than a handful
            parsed.clear()
        parsed[text] = CSS(string=text, url_fetcher=fetcher, font_config=font_config)
    return html[: match.start()] + html[match.end() :], [parsed[text]]


_fonts = threading.local()


def _font_config() -> Any:
    """WeasyPrint's font configuration, made once per thread and kept.

    A new one for every PDF (WeasyPrint's default) was a third of the time to
    draw a receipt, the bulk of mailing it (``bench/receipts.py``).  The PDFs
    use the system's fonts only (no ``@font-face``), so nothing accumulates.
    """
    config = getattr(_fonts, "config", None)
    if config is None:
        from weasyprint.text.fonts import FontConfiguration

        config = _fonts.config = FontConfiguration()
    return config


def receipt_filename(payment: Payment) -> str:
    return f"receipt-{payment.receipt_number}.pdf"


def receipt_pdf(payment: Payment, locale: str) -> bytes:
    return _render(
        "pdf/receipt.html",
        locale,
        payment=payment,
        membership=payment.membership,
        supporter=payment.supporter,
    )


def statement_filename(year: int) -> str:
    return f"giving-statement-{year}.pdf"


def statement_payments(supporter: Supporter, year: int) -> list[Payment]:
    start, end = date(year, 1, 1), date(year + 1, 1, 1)
    return sorted(
        (
            p
            for p in supporter.payments
            if p.paid_at and start <= p.paid_at.date() < end and p.status in CHARGED_STATUSES
        ),
        key=lambda p: (p.paid_at, p.id),
    )


def statement_pdf(supporter: Supporter, year: int, locale: str) -> bytes:
    payments = statement_payments(supporter, year)
    totals: dict[str, int] = defaultdict(int)
    for payment in payments:
        totals[payment.currency] += given(payment)
    return _render(
        "pdf/statement.html",
        locale,
        supporter=supporter,
        year=year,
        first_day=date(year, 1, 1),
        last_day=date(year, 12, 31),
        payments=payments,
        given=given,
        totals=sorted(totals.items()),
    )
