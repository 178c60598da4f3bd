"""Small things a new user saw: the covered fee in the English receipt email as in its PDF, one full
stop after "Ltd.", a favicon that answers."""

from __future__ import annotations

import io

from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from app.extensions import db
from app.models import EmailKind
from app.services import emails, outbox, receipts_pdf
from tests.factories import PaymentFactory
from tests.mail import parts


def test_the_english_receipt_email_names_the_covered_fee_its_pdf_shows(app: Flask) -> None:
    with app.app_context():
        payment = PaymentFactory(amount=1034, fee_cover=34, membership__supporter__locale="en")
        row = outbox.queue(EmailKind.RECEIPT, f"payment:{payment.id}", payment.supporter)
        db.session.commit()
        message = emails.compose(row)
        pdf = receipts_pdf.receipt_pdf(payment, "en")
    text, html = parts(message)
    assert "Of which card fees you covered: $0.34" in text
    assert "Of which card fees you covered" in html and "$0.34" in html
    drawn = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Of which card fees you covered" in drawn and "$0.34" in drawn
    assert app.config["NEWSROOM_LEGAL_NAME"].endswith("Ltd.") and "Ltd.." not in drawn


def test_the_favicon_answers_small_and_cached(client: FlaskClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert len(response.data) < 400 and "max-age=86400" in response.headers["Cache-Control"]
