"""PDF receipts for single payments, and the yearly statement."""

from __future__ import annotations

from flask import abort, g, request
from werkzeug.wrappers import Response

from app.account.views.access import current_supporter, signed_in
from app.account.views.blueprint import bp
from app.extensions import db
from app.models import Payment
from app.services import audit, receipts_pdf
from app.services.account import links, records
from app.services.errors import AccountError


def _pdf(body: bytes, filename: str) -> Response:
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/payments/<int:payment_id>/receipt.pdf")
@signed_in
def receipt(payment_id: int) -> Response:
    supporter = current_supporter()
    try:
        payment: Payment = records.own_payment(supporter, payment_id)
    except AccountError:
        abort(404)
    body = receipts_pdf.receipt_pdf(payment, g.lang)
    audit.record(links.actor(supporter), "receipt.download", supporter_id=supporter.id, payment_id=payment.id)
    db.session.commit()
    return _pdf(body, receipts_pdf.receipt_filename(payment))


@bp.get("/statement")
@signed_in
def statement() -> Response:
    supporter = current_supporter()
    year = request.args.get("year", type=int)
    if year is None or year not in records.statement_years(supporter):
        abort(404)
    body = receipts_pdf.statement_pdf(supporter, year, g.lang)
    audit.record(links.actor(supporter), "statement.download", supporter_id=supporter.id, year=year)
    db.session.commit()
    return _pdf(body, receipts_pdf.statement_filename(year))
