"""Numbers and codes inside Arabic lines, as a reader sees them: each line of a subject and of a
plain-text part is laid out by a real bidi algorithm (python-bidi) and read in visual order."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, g

from app.bidi import plain_text
from app.extensions import db
from app.models import EmailKind, EmailLog
from app.services import emails, outbox
from app.staff.formatting import money
from tests.factories import PaymentFactory
from tests.i18n import seen
from tests.mail import parts


def test_the_bidi_algorithm_reverses_a_bare_receipt_number_and_not_an_isolated_one() -> None:
    bare = "إيصالك رقم 2026-0000001"
    assert "0000001-2026" in seen(bare)  # what readers reported: the isolate is what fixes it
    assert "2026-0000001" in seen(plain_text(bare, "ar"))
    assert plain_text(plain_text(bare, "ar"), "ar") == plain_text(bare, "ar")
    assert plain_text("Your receipt 2026-0000001", "en") == "Your receipt 2026-0000001"


def arabic_emails(app: Flask) -> tuple[str, list[tuple[str, str]]]:
    """The Arabic receipt and refund emails of one payment: its number, (subject, text) each."""
    with app.app_context():
        payment = PaymentFactory(membership__supporter__locale="ar", refunded_amount=60,
                                 membership__supporter__email="layla2026@example.org")  # fmt: skip
        for kind in (EmailKind.RECEIPT, EmailKind.REFUND):
            outbox.queue(kind, f"payment:{payment.id}", payment.supporter)
        db.session.commit()
        composed = []
        for row in db.session.scalars(sa.select(EmailLog).order_by(EmailLog.id)):
            message = emails.compose(row)
            composed.append((str(message["Subject"]), parts(message)[0]))
            assert "غرفة الأخبار المستقلة" in str(message["From"])  # the Arabic sender name
        return str(payment.receipt_number), composed


def test_arabic_subjects_and_plain_text_keep_numbers_amounts_and_addresses_whole(app: Flask) -> None:
    number, composed = arabic_emails(app)
    (receipt_subject, receipt), (_refund_subject, refund) = composed
    assert number in seen(receipt_subject), receipt_subject
    # Money reads right to left as on the pages: the figure first (on the right), then "US$".
    for text, amount in ((receipt, "US$\xa01.00"), (refund, "US$\xa00.60")):
        lines = [line for line in text.splitlines() if line.strip()]
        shown = [seen(line) for line in lines]
        assert any(number in line for line in shown), shown
        assert any(amount in line for line in shown), shown
        assert not any("$US" in line or "0000-2026" in line for line in shown), shown
        for line in lines:
            # Every Arabic line starts right to left, whatever its first word.
            assert line.startswith("\u200f") or not any("\u0600" <= c <= "\u06ff" for c in line), line


def test_a_negative_amount_on_arabic_staff_pages_reads_in_parentheses(app: Flask) -> None:
    with app.test_request_context("/staff/"):
        g.lang = "ar"
        fee = money(-60, "usd")
        g.lang = "en"
        assert money(-60, "usd") == "-$0.60"
    drawn = seen(plain_text(f"الرسوم: {fee}", "ar"))
    # Laid out right to left; the screen then mirrors the parentheses (rule L4, which python-bidi
    # leaves to the renderer): ")US$ 0.60(" is drawn "(US$ 0.60)", and no minus strays to the side.
    assert ")US$\xa00.60(" in drawn and "-" not in drawn, drawn
