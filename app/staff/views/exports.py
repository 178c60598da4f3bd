"""CSV exports of payments and memberships for a period: audited, then streamed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, stream_with_context
from flask_babel import gettext as _

from app.services import audit, unit_of_work
from app.services.reports import exports
from app.services.reports.dashboard import mrr
from app.services.reports.periods import Period
from app.staff import csv_export, text
from app.staff.auth import FINANCE, allow, current_staff
from app.staff.blueprint import bp
from app.staff.formatting import major
from app.staff.periods import chosen_period

#: A column of an export: its heading and what it holds for one row.
Column = tuple[str, Callable[[Any], Any]]


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _export(name: str, rows: Callable[[Period, int], Iterable[Any]], columns: list[Column]) -> Response:
    """``<name>-<first>-<last>.csv`` for the chosen period: the export is audited, then streamed
    ``STAFF_EXPORT_BATCH`` rows at a time (UTF-8 with a BOM, see ``csv_export``)."""
    period = chosen_period()
    user = current_staff()
    assert user is not None
    audit.record(user.actor, f"export.{name}", first=period.first.isoformat(), last=period.last.isoformat())
    unit_of_work.commit()
    batch = int(current_app.config["STAFF_EXPORT_BATCH"])
    chunks = csv_export.stream(
        [heading for heading, _cell in columns],
        rows(period, batch),
        lambda row: [cell(row) for _heading, cell in columns],
        batch=batch,
    )
    filename = f"{name}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


def _value(code: Any) -> Any:
    return getattr(code, "value", code)


@bp.get("/export/payments.csv")
@allow(FINANCE)
def export_payments() -> Response:
    columns: list[Column] = [
        (_("Payment"), lambda r: r.id),
        (_("Date (UTC)"), lambda r: _iso(r.at)),
        (_("Email"), lambda r: r.email),
        (_("Name"), lambda r: r.name),
        (_("Amount"), lambda r: major(r.amount, r.currency)),
        (_("Currency"), lambda r: r.currency.upper()),
        (_("Status"), lambda r: text.label(text.PAYMENT_STATUSES, r.status)),
        (_("Refunded"), lambda r: major(r.refunded_amount, r.currency)),
        (_("Stripe fee"), lambda r: major(r.fee, r.currency)),
        (_("Added to cover fees"), lambda r: major(r.fee_cover, r.currency)),
        (_("Frequency"), lambda r: text.label(text.FREQUENCIES, _value(r.frequency))),
        (_("Campaign"), lambda r: r.campaign),
        (_("Receipt number"), lambda r: r.receipt_number),
        (_("Failure code"), lambda r: r.failure_code),
        (_("Stripe invoice"), lambda r: r.stripe_invoice_id),
        (_("Stripe payment intent"), lambda r: r.stripe_payment_intent_id),
        (_("Stripe charge"), lambda r: r.stripe_charge_id),
    ]
    return _export("payments", lambda period, batch: exports.payment_rows(period, batch=batch), columns)


def _monthly(row: Any) -> int:
    return int(row.amount if _value(row.interval) == "month" else mrr(0, row.amount))


@bp.get("/export/members.csv")
@allow(FINANCE)
def export_members() -> Response:
    columns: list[Column] = [
        (_("Membership"), lambda r: r.id),
        (_("Email"), lambda r: r.email),
        (_("Name"), lambda r: r.name),
        (_("Language"), lambda r: r.locale),
        (_("Status"), lambda r: text.label(text.MEMBERSHIP_STATUSES, r.status)),
        (_("Amount"), lambda r: major(r.amount, r.currency)),
        (_("Currency"), lambda r: r.currency.upper()),
        (_("Frequency"), lambda r: text.label(text.FREQUENCIES, _value(r.interval))),
        (_("Monthly amount"), lambda r: major(_monthly(r), r.currency)),
        (_("Started (UTC)"), lambda r: _iso(r.started_at)),
        (_("Ended (UTC)"), lambda r: _iso(r.ended_at)),
        (_("Current period ends (UTC)"), lambda r: _iso(r.current_period_end)),
        (_("Ends at period end"), lambda r: _("yes") if r.cancel_at_period_end else _("no")),
        (_("Cancellation reason"), lambda r: r.cancellation_reason),
        (_("Campaign"), lambda r: r.campaign),
        (_("Stripe subscription"), lambda r: r.stripe_subscription_id),
        (_("Stripe customer"), lambda r: r.stripe_customer_id),
    ]
    return _export("members", lambda period, batch: exports.member_rows(period, batch=batch), columns)
