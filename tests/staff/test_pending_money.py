"""Finance staff see money on its way from banks (SEPA debits, issue 14) apart from money that arrived."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from werkzeug.test import TestResponse

from app.extensions import db
from app.models import PaymentStatus
from tests.factories import PaymentFactory
from tests.staff.conftest import Staff, sign_in


def _seed(app: Flask) -> None:
    now = datetime.now(UTC)
    with app.app_context():
        PaymentFactory(amount=500, currency="eur", paid_at=now - timedelta(minutes=2))
        for amount in (1500, 700):
            PaymentFactory(
                amount=amount,
                currency="eur",
                status=PaymentStatus.PENDING,
                paid_at=None,
                receipt_number=None,
                created_at=now - timedelta(minutes=1),
            )
        db.session.commit()


def _as_finance(app: Flask, finance: Staff, path: str) -> TestResponse:
    """``path`` for yesterday and today (a run just after midnight too), seeded, as finance staff."""
    _seed(app)
    client = app.test_client()
    sign_in(client, finance, lang="en")
    today = datetime.now(UTC).date()
    return client.get(f"{path}?from={today - timedelta(days=1)}&to={today}")


def _tile(page: str, name: str) -> str:
    found = re.search(rf'<div class="tile" id="{name}">(.*?)</div>', page, re.S)
    assert found, name
    return found.group(1)


def test_the_dashboard_shows_pending_debits_apart_from_revenue(app: Flask, finance: Staff) -> None:
    page = _as_finance(app, finance, "/staff/").get_data(as_text=True)
    pending = _tile(page, "fig-pending")
    assert '<p class="big">2</p>' in pending and "22.00" in pending
    revenue = re.search(r'<table id="table-revenue-month">.*?</table>', page, re.S)
    assert revenue and "5.00" in revenue.group(0) and "27.00" not in revenue.group(0)


def test_the_payments_csv_lists_pending_debits_without_receipts(app: Flask, finance: Staff) -> None:
    response = _as_finance(app, finance, "/staff/export/payments.csv")
    body = b"".join(response.response).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    pending = [r for r in rows if r["Status"] == "Pending: the bank has not paid yet"]
    assert sorted(r["Amount"] for r in pending) == ["15.00", "7.00"]
    assert all(not r["Receipt number"] for r in pending)
    assert [r["Status"] for r in rows].count("Paid") == 1
