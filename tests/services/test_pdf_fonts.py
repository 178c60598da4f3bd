"""The Arabic PDFs are set in an Arabic face made for print (Noto Naskh Arabic, from Debian's
fonts-noto-core that ``make install`` installs), embedded in the file; English keeps DejaVu."""

from __future__ import annotations

import io

from flask import Flask
from pypdf import PdfReader

from app.services import receipts_pdf
from tests.factories import PaymentFactory


def embedded_fonts(pdf: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descriptor = (
                font.get("/FontDescriptor") or font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            )
            descriptor = descriptor.get_object()
            assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")), font[
                "/BaseFont"
            ]
            names.add(str(font["/BaseFont"]).split("+")[-1])
    return names


def test_the_arabic_receipt_embeds_noto_naskh_arabic_and_the_english_one_does_not(app: Flask) -> None:
    with app.app_context():
        payment = PaymentFactory(membership__supporter__name="ليلى حداد")
        arabic, english = receipts_pdf.receipt_pdf(payment, "ar"), receipts_pdf.receipt_pdf(payment, "en")
    assert any(name.startswith("Noto-Naskh-Arabic") for name in embedded_fonts(arabic)), embedded_fonts(
        arabic
    )
    assert not any(name.startswith("Noto") for name in embedded_fonts(english)), embedded_fonts(english)
