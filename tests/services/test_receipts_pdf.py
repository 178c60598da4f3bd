"""PDF receipts and statements: the text read back from the PDF, in logical order."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from flask import Flask
from pypdf import PdfReader

from app.extensions import db
from app.models import EmailKind, EmailLog, PaymentStatus
from app.services import emails, outbox, receipts_pdf
from tests import i18n
from tests.factories import MembershipFactory, PaymentFactory

NAME = "ليلى حداد"


def text_of(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    # (Noto Naskh Arabic draws a no-break space as a space glyph: pypdf reads back a space.)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return text.replace("\xa0", " ")


def test_arabic_receipt_reads_back_right_to_left_in_logical_order(app: Flask) -> None:
    with app.app_context():
        payment = PaymentFactory(amount=1234, membership__supporter__name=NAME)
        text = text_of(receipts_pdf.receipt_pdf(payment, "ar"))
        number = payment.receipt_number
    assert NAME in text  # shaped and stored in reading order, not "دادح ىليل"
    assert NAME[::-1] not in text
    # pypdf reads a right-to-left line in the order it is drawn: the amount is drawn as on the
    # pages, "US$" on its left ("US$ 12.34"), never "12.34 US$" nor "$US 12.34".
    assert i18n.money_as_on_the_page(app, 1234) == "US$ 12.34"
    assert "US$ 12.34" in text
    assert "12.34 US$" not in text and "$US" not in text
    assert number in text
    assert app.config["NEWSROOM_LEGAL_NAME_AR"] in text
    assert i18n.translate(app, "Receipt number") in text
    assert i18n.translate(app, "Monthly membership") in text
    # The date is drawn right (25 تشرين الثاني 2026) but pypdf, which is not bidi-aware,
    # reads digits inside Arabic text in visual order; the month name is enough here.
    assert "تشرين الثاني" in text


def test_english_receipt_of_a_one_time_gift_with_fees_covered(app: Flask) -> None:
    with app.app_context():
        payment = PaymentFactory(
            membership=None,
            supporter=MembershipFactory().supporter,
            amount=1061,
            fee_cover=61,
            currency="eur",
        )
        payment.supporter.name = "Sam Reader"
        text = text_of(receipts_pdf.receipt_pdf(payment, "en"))
    assert "Receipt" in text and "Sam Reader" in text
    assert "€10.61" in text and "€0.61" in text
    assert "One-time gift" in text
    assert "November 25, 2026" in text
    assert app.config["NEWSROOM_LEGAL_NAME"] in text and app.config["NEWSROOM_ADDRESS"] in text


def test_yearly_statement_lists_the_year_and_totals_what_was_kept(app: Flask) -> None:
    with app.app_context():
        membership = MembershipFactory(supporter__name=NAME)
        supporter = membership.supporter
        for month, amount in ((1, 500), (2, 500), (3, 500)):
            PaymentFactory(membership=membership, amount=amount, paid_at=datetime(2026, month, 5, tzinfo=UTC))
        PaymentFactory(
            membership=membership,
            amount=500,
            refunded_amount=200,
            status=PaymentStatus.SUCCEEDED,
            paid_at=datetime(2026, 4, 5, tzinfo=UTC),
        )
        PaymentFactory(membership=membership, amount=700, paid_at=datetime(2025, 12, 5, tzinfo=UTC))
        PaymentFactory(
            membership=membership,
            amount=900,
            status=PaymentStatus.FAILED,
            paid_at=datetime(2026, 5, 5, tzinfo=UTC),
        )
        db.session.flush()
        english = text_of(receipts_pdf.statement_pdf(supporter, 2026, "en"))
        arabic = text_of(receipts_pdf.statement_pdf(supporter, 2026, "ar"))
    assert "Giving statement 2026" in english
    assert "$18.00" in english  # 3 x 5 + (5 - 2 refunded); the failed one and 2025 are not in it
    assert "$7.00" not in english and "$9.00" not in english
    assert "January 5, 2026" in english and "December 5, 2025" not in english
    assert NAME in arabic
    assert i18n.money_as_on_the_page(app, 1800) in arabic and "$US" not in arabic
    assert "كانون الثاني" in arabic


def test_the_receipt_email_carries_the_pdf(app: Flask) -> None:
    with app.app_context():
        payment = PaymentFactory(membership__supporter__name=NAME)
        row = outbox.queue(EmailKind.RECEIPT, f"payment:{payment.id}", payment.supporter)
        db.session.commit()
        assert row is not None
        message = emails.compose(db.session.get(EmailLog, row.id))
        number = payment.receipt_number
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    (pdf,) = attachments
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == f"receipt-{number}.pdf"
    text = text_of(pdf.get_content())
    assert NAME in text and number in text and "US$ 1.00" in text
    assert message.get_body(preferencelist=("plain",)) is not None
