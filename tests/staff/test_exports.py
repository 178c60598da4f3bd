"""CSV exports: streamed in chunks, UTF-8 with a BOM so Excel reads Arabic names, formulas defused."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import AuditEntry, Interval, MembershipStatus, PaymentStatus
from tests.factories import MembershipFactory, PaymentFactory, SupporterFactory
from tests.staff.conftest import Staff, sign_in

NAMES = ["ليلى حداد", "Zoë O'Brien", '=HYPERLINK("http://evil.example")', 'محمد، "أبو علي"']


def seed(app: Flask) -> None:
    with app.app_context():
        for number, name in enumerate(NAMES):
            supporter = SupporterFactory(name=name)
            membership = MembershipFactory(
                supporter=supporter,
                amount=300 + number,
                interval=Interval.YEAR if number % 2 else Interval.MONTH,
                created_at=datetime(2026, 2, 1 + number, tzinfo=UTC),
                campaign="gaza-2026" if number == 0 else None,
            )
            for day in (1, 2, 3):
                PaymentFactory(
                    membership=membership,
                    amount=300 + number,
                    paid_at=datetime(2026, 3, day, 10 + number, tzinfo=UTC),
                    campaign=membership.campaign,
                )
        gone = MembershipFactory(
            status=MembershipStatus.CANCELED,
            created_at=datetime(2025, 1, 1, tzinfo=UTC),
            canceled_at=datetime(2025, 6, 1, tzinfo=UTC),
        )
        PaymentFactory(membership=gone, paid_at=datetime(2025, 5, 1, tzinfo=UTC))  # outside March
        PaymentFactory(
            membership=gone,
            status=PaymentStatus.FAILED,
            paid_at=None,
            receipt_number=None,
            created_at=datetime(2026, 3, 15, tzinfo=UTC),
            failure_code="expired_card",
        )
        db.session.commit()


def read(response) -> tuple[bytes, list[dict[str, str]]]:  # type: ignore[no-untyped-def]
    body = b"".join(response.response)
    return body, list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_payments_csv_streams_arabic_names_with_a_bom(app: Flask, finance: Staff) -> None:
    app.config["STAFF_EXPORT_BATCH"] = 5
    seed(app)
    client = app.test_client()
    sign_in(client, finance, lang="en")
    response = client.get("/staff/export/payments.csv?from=2026-03-01&to=2026-03-31")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response.headers["Content-Disposition"] == 'attachment; filename="payments-2026-03-01-2026-03-31.csv"'
    )
    chunks = list(response.response)
    # Header, then 13 rows five at a time: the rows never sit in memory all at once.
    assert len(chunks) == 1 + 3
    body = b"".join(chunks)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert len(rows) == 4 * 3 + 1  # March's payments and the failed one; May 2025 left out
    names = {row["Name"] for row in rows}
    assert "ليلى حداد" in names and 'محمد، "أبو علي"' in names and "Zoë O'Brien" in names
    assert '\'=HYPERLINK("http://evil.example")' in names  # a name cannot run as a formula
    first = rows[0]
    assert (first["Date (UTC)"], first["Amount"], first["Currency"], first["Status"]) == (
        "2026-03-01T10:00:00Z",
        "3.00",
        "USD",
        "Paid",
    )
    assert first["Campaign"] == "gaza-2026" and first["Frequency"] == "Monthly"
    failed = [r for r in rows if r["Status"] == "Failed"]
    assert len(failed) == 1 and failed[0]["Failure code"] == "expired_card"
    assert body.count(b"\r\n") == len(rows) + 1


def test_members_csv_lists_who_was_a_member_in_the_period(app: Flask, finance: Staff) -> None:
    seed(app)
    client = app.test_client()
    sign_in(client, finance, lang="ar")
    response = client.get("/staff/export/members.csv?from=2026-03-01&to=2026-03-31")
    body, rows = read(response)
    assert body.startswith(b"\xef\xbb\xbf")
    assert len(rows) == 4  # the membership that ended in 2025 is not there
    by_amount = {row[list(row)[5]]: row for row in rows}  # the sixth column is the amount
    yearly = by_amount["3.01"]
    values = list(yearly.values())
    assert "Zoë O'Brien" in values
    assert "0.25" in values  # 3.01 a year is 0.25 a month (0.2508 rounded half up to the cent)
    assert "2026-02-02T00:00:00Z" in values  # started (UTC, ISO 8601)
    assert any("ليلى حداد" in row.values() for row in rows)


def test_exports_are_in_the_audit_log(app: Flask, finance: Staff, finance_client: FlaskClient) -> None:
    b"".join(finance_client.get("/staff/export/payments.csv?from=2026-03-01&to=2026-03-31").response)
    b"".join(finance_client.get("/staff/export/members.csv?preset=this_month").response)
    with app.app_context():
        entries = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.like("export.%"))))
    assert [(e.actor, e.action) for e in entries] == [
        (f"staff:{finance.id}", "export.payments"),
        (f"staff:{finance.id}", "export.members"),
    ]
    assert entries[0].details == {"first": "2026-03-01", "last": "2026-03-31"}
