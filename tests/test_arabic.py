"""Arabic as a reader reads it: plural forms, dates, Arabic-Indic digits, and no English
left in an Arabic email.  (Arabic pages are scanned in the browser, tests/e2e/test_reach.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import flask_babel
import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po
from flask import Flask

from app import config
from app.extensions import db
from app.i18n import format_day, format_money, format_month, format_number, localize_digits, months_since
from app.models import EmailKind, EmailLog, Reminder
from app.services import emails, outbox, reconciliation
from app.services.account import links
from app.staff.formatting import when as staff_when
from tests.account_helpers import give
from tests.conftest import empty_tables, make_app
from tests.e2e.reach import latin_words
from tests.factories import MembershipFactory, PaymentFactory
from tests.harness import StripeJs
from tests.mail import parts

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ARABIC_INDIC = re.compile(r"[٠-٩]")
LATIN_DIGIT = re.compile(r"[0-9]")

#: CLDR's Arabic plural categories: zero, one, two, few (3-10), many (11-99), other (100-102...).
FORM_OF = {0: 0, 1: 1, 2: 2, 3: 3, 11: 4, 100: 5}


def arabic_catalog():  # type: ignore[no-untyped-def]
    with open(ROOT / "app" / "translations" / "ar" / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale="ar")


def ngettext_ar(app: Flask, singular: str, plural: str, n: int) -> str:
    with app.test_request_context("/ar/support"), flask_babel.force_locale("ar"):
        return str(flask_babel.ngettext(singular, plural, n))


def test_every_plural_message_takes_the_right_form_for_0_1_2_3_11_100(app: Flask) -> None:
    plurals = [m for m in arabic_catalog() if m.id and isinstance(m.id, tuple)]
    assert len(plurals) >= 5
    for message in plurals:
        singular, plural = message.id
        assert len(message.string) == 6 and all(message.string), f"six Arabic forms needed: {singular}"
        for n, form in FORM_OF.items():
            said = ngettext_ar(app, singular, plural, n)
            assert said == message.string[form] % {"num": n}, (singular, n, said)
            if n >= 3:
                assert str(n) in said, f"{singular!r} for {n} does not say the number: {said!r}"


@pytest.mark.parametrize(
    ("singular", "plural", "expected"),
    [
        (
            "%(num)d payment",
            "%(num)d payments",
            {0: "لا دفعات", 1: "دفعة واحدة", 2: "دفعتان", 3: "3 دفعات", 11: "11 دفعة", 100: "100 دفعة"},
        ),
        (
            "A member for %(num)d month: thank you.",
            "A member for %(num)d months: thank you.",
            {1: "منذ شهر واحد", 2: "منذ شهرين", 3: "منذ 3 أشهر", 11: "منذ 11 شهرًا", 100: "منذ 100 شهر"},
        ),
        (
            "at the end of the period; %(num)d member at its start",
            "at the end of the period; %(num)d members at its start",
            {1: "وعضو واحد", 2: "وعضوان", 3: "و3 أعضاء", 11: "و11 عضوًا", 100: "و100 عضو"},
        ),
    ],
    ids=["payments", "months", "members"],
)
def test_payments_months_and_members_agree_with_their_number(
    app: Flask, singular: str, plural: str, expected: dict[int, str]
) -> None:
    for n, words in expected.items():
        said = ngettext_ar(app, singular, plural, n)
        assert words in said, (n, said)
        if n in (1, 2):
            assert str(n) not in said, f"Arabic says one and two with the noun alone: {said!r}"


def test_whole_months_of_membership() -> None:
    start = datetime(2026, 1, 31, tzinfo=UTC)
    assert months_since(start, now=datetime(2026, 2, 28, tzinfo=UTC)) == 0
    assert months_since(start, now=datetime(2026, 3, 31, tzinfo=UTC)) == 2
    assert months_since(start, now=datetime(2027, 1, 30, tzinfo=UTC)) == 11
    assert months_since(None) == 0


def test_dates_are_babels_arabic_with_month_names(app: Flask) -> None:
    with app.app_context():
        assert format_day(date(2026, 1, 5), "ar") == "5 كانون الثاني 2026"
        assert format_day(datetime(2026, 12, 25, 10, tzinfo=UTC), "ar") == "25 كانون الأول 2026"
        assert format_month(2026, 12, "ar") == "كانون الأول 2026"
        months = {format_month(2026, m, "ar").rsplit(" ", 1)[0] for m in range(1, 13)}
        assert len(months) == 12 and not latin_words(list(months))
        assert format_day(date(2026, 1, 5), "en") == "January 5, 2026"


def test_the_arabic_locale_is_a_setting_and_refuses_what_is_not_arabic(
    database_url: str, localstripe_url: str
) -> None:
    assert config.load({})["ARABIC_LOCALE"] == "ar_SY" and "`ARABIC_LOCALE`" in README.read_text("utf-8")
    egyptian = make_app(database_url, localstripe_url, ARABIC_LOCALE="ar_EG")
    with egyptian.app_context():
        assert format_day(date(2026, 1, 5), "ar") == "5 يناير 2026"
        assert format_day(date(2026, 1, 5), "en") == "January 5, 2026"
    with egyptian.test_request_context("/ar/support"):
        assert staff_when(datetime(2026, 11, 26, 1, 33, tzinfo=UTC)).startswith("26 نوفمبر 2026، 01:33")
    for other in ("fr_FR", "en", "ar_ZZ", ""):
        with pytest.raises(config.ConfigError, match="ARABIC_LOCALE"):
            config.load({"ARABIC_LOCALE": other})
    assert config.load({"ARABIC_LOCALE": "ar-LB"})["ARABIC_LOCALE"] == "ar_LB"


def test_arabic_digits_are_off_by_default_and_listed_in_the_settings() -> None:
    assert config.load({})["ARABIC_DIGITS"] is False
    assert config.load({"ARABIC_DIGITS": "1"})["ARABIC_DIGITS"] is True
    assert "ARABIC_DIGITS" in config.SETTINGS
    assert "`ARABIC_DIGITS`" in README.read_text(encoding="utf-8")


@pytest.fixture()
def digits_app(database_url: str, localstripe_url: str) -> Iterator[Flask]:
    app = make_app(database_url, localstripe_url, ARABIC_DIGITS=True)
    yield app
    empty_tables(app)


def test_arabic_digits_format_money_dates_and_counts(digits_app: Flask) -> None:
    with digits_app.app_context():
        assert format_money(123456, "usd", "ar") == "\u200f١٬٢٣٤٫٥٦\xa0US$\u200e"
        assert format_money(100, "usd", "ar", short=True) == "دولار واحد"
        assert format_money(300_000, "try", "ar", short=True) == "٣٬٠٠٠ ليرة تركية"
        assert format_day(date(2026, 1, 5), "ar") == "٥ كانون الثاني ٢٠٢٦"
        assert format_number(12345, "ar") == "١٢٬٣٤٥"
        assert format_money(123456, "usd", "en") == "$1,234.56"  # English pages keep theirs
        # In a sentence, addresses and links keep their digits.
        said = localize_digits("30 دقيقة: reader2026@example.org https://x.example/ar/1", "ar")
        assert said == "٣٠ دقيقة: reader2026@example.org https://x.example/ar/1"


def test_arabic_digits_on_pages_and_emails_but_not_in_what_is_typed_or_parsed(
    digits_app: Flask, stripe_js: StripeJs
) -> None:
    client = digits_app.test_client()
    page = client.get("/ar/support").get_data(as_text=True)
    assert "٣ دولارات" in page and "٥٬٠٠٠ دولار" in page  # presets and the limits
    # The radios' values are what the server parses back: Latin digits, always.
    assert re.findall(r'name="amount" value="([^"]+)"', page) == ["1", "3", "5", "10", "other"]
    # support.js shows the server's reading of the choice: with the same digits.
    assert (
        client.get("/ar/support/quote?amount=1&cover_fees=1").get_json()["total_money"]
        == "\u200f١٫٣٤\xa0US$\u200e"
    )
    assert not ARABIC_INDIC.search(client.get("/en/support").get_data(as_text=True))

    email = "reader2026@example.org"
    thanks = client.get(give(client, stripe_js, "ar", email=email)).get_data(as_text=True)
    assert "١٫٠٠\xa0US$" in thanks and "٢٠٢٦" in thanks
    assert email in thanks  # an address keeps its digits
    with digits_app.app_context():
        row = db.session.scalars(sa.select(EmailLog).where(EmailLog.kind == EmailKind.RECEIPT)).one()
        text, html = parts(emails.compose(row))
    assert "١٫٠٠\xa0US$" in text and "كانون الأول ٢٠٢٦" in text and "١٫٠٠\xa0US$" in html


class ReadableText(HTMLParser):
    """An email's words as a reader sees them, without what is marked as data or code."""

    SKIP_TAGS = frozenset({"style", "script", "code", "title"})

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr", "img", "meta", "input"):
            return
        found = dict(attrs)
        data = tag in self.SKIP_TAGS or found.get("dir") == "ltr" or found.get("translate") == "no"
        self.stack.append(data or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if self.stack and tag not in ("br", "hr", "img", "meta", "input"):
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.words.append(data)


def one_email_of_each_kind(app: Flask, locale: str) -> list[int]:
    """A queued email of every kind, about rows made for it; returns their ids."""
    with app.app_context():
        membership = MembershipFactory(supporter__locale=locale, supporter__card_brand="visa",
                                       supporter__card_last4="4242", supporter__card_exp_month=12,
                                       supporter__card_exp_year=2026)  # fmt: skip
        supporter = membership.supporter
        payment = PaymentFactory(membership=membership, refunded_amount=50)
        reminder = Reminder(email=supporter.email, locale=locale, choices={"amount": "5"}, token="tok-ar",
                            remind_at=datetime(2026, 12, 1, tzinfo=UTC))  # fmt: skip
        db.session.add(reminder)
        token = links.issue_link(supporter, locale)
        payout = reconciliation.record_payout(
            {"id": "po_failed", "amount": 540, "currency": "usd", "status": "failed", "automatic": False,
             "arrival_date": 1_790_000_000, "created": 1_789_900_000, "failure_code": "account_closed"},
            None,  # type: ignore[arg-type]  (a manual payout: Stripe lists no transactions)
        )  # fmt: skip
        db.session.flush()
        about = {
            EmailKind.RECEIPT: f"payment:{payment.id}",
            EmailKind.WELCOME: f"membership:{membership.id}",
            EmailKind.PAYMENT_FAILED: f"payment:{payment.id}",
            EmailKind.ACTION_REQUIRED: f"payment:{payment.id}",
            EmailKind.PAYMENT_PENDING: f"payment:{payment.id}",
            EmailKind.DEBIT_FAILED: f"payment:{payment.id}",
            EmailKind.GIFT_WITH_YOUR_ADDRESS: f"membership:{membership.id}",
            EmailKind.CANCELLATION: f"membership:{membership.id}",
            EmailKind.REFUND: f"payment:{payment.id}",
            EmailKind.CARD_EXPIRING: f"supporter:{supporter.id}:card:2026-12",
            EmailKind.RENEWAL_UPCOMING: f"membership:{membership.id}:2026-12-25",
            EmailKind.REMINDER: f"reminder:{reminder.id}",
            EmailKind.MEMBERSHIP_LAPSED: f"membership:{membership.id}",
            EmailKind.SIGN_IN_LINK: f"sign_in:{token.id}",
            EmailKind.ACCOUNT_ERASED: f"erasure:{supporter.id}",
            EmailKind.PAYOUT_FAILED: f"payout:{payout.id}",
            EmailKind.ATTEMPTS_SPIKE: f"attempts:{int(datetime(2026, 11, 25, tzinfo=UTC).timestamp()) // 3600}",
        }
        missing = set(EmailKind) - set(about)
        assert not missing, f"add a row for the new email kinds here: {missing}"
        ids = []
        for kind, subject in about.items():
            row = outbox.queue_to(kind, subject, supporter.email, locale, supporter) or db.session.scalar(
                sa.select(EmailLog).where(EmailLog.kind == kind, EmailLog.about == subject)
            )  # (issuing the link queued its email already)
            assert row is not None, kind
            ids.append(row.id)
        db.session.commit()
        return ids


def test_arabic_emails_have_no_english_left(app: Flask) -> None:
    ids = one_email_of_each_kind(app, "ar")
    english: dict[str, set[str]] = {}
    with app.app_context():
        for email_id in ids:
            row = db.session.get(EmailLog, email_id)
            message = emails.compose(row)
            text, html = parts(message)
            reader = ReadableText()
            reader.feed(html)
            found = latin_words([str(message["Subject"]), text, *reader.words])
            if found:
                english[row.kind.value] = found
            assert '<html lang="ar" dir="rtl">' in html, row.kind
    assert not english, f"English in Arabic emails: {english}"
