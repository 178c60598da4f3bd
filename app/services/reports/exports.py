"""The staff exports: payments and members of a period, streamed row by row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import and_, case, func, not_, or_, select

from app.extensions import db
from app.models import CHARGED_STATUSES, Membership, Payment, PaymentStatus, Supporter
from app.services.reports.periods import Period
from app.services.reports.sql import end_time, ever_member, frequency_of_membership, has_ended

M = Membership


def payment_rows(period: Period, batch: int = 1000) -> Iterator[Any]:
    """Payments charged in the period, and those that failed or are still pending (a bank debit
    on its way, no revenue yet) from it, oldest first; streamed.

    ``yield_per`` makes PostgreSQL use a server-side cursor: ``batch`` rows in
    memory at a time, however many the period holds.
    """
    start, end = period.start, period.end
    when = func.coalesce(Payment.paid_at, Payment.created_at)
    statement = (
        select(
            Payment.id,
            when.label("at"),
            Supporter.email,
            Supporter.name,
            Payment.amount,
            Payment.currency,
            Payment.status,
            Payment.refunded_amount,
            Payment.fee,
            Payment.fee_cover,
            frequency_of_membership().label("frequency"),
            Payment.campaign,
            Payment.receipt_number,
            Payment.failure_code,
            Payment.stripe_invoice_id,
            Payment.stripe_payment_intent_id,
            Payment.stripe_charge_id,
        )
        .select_from(Payment)
        .join(Supporter, Supporter.id == Payment.supporter_id)
        .outerjoin(Membership, Membership.id == Payment.membership_id)
        .where(
            or_(
                and_(Payment.paid_at >= start, Payment.paid_at < end, Payment.status.in_(CHARGED_STATUSES)),
                and_(
                    Payment.status.in_((PaymentStatus.FAILED, PaymentStatus.PENDING)),
                    Payment.created_at >= start,
                    Payment.created_at < end,
                ),
            )
        )
        .order_by(when, Payment.id)
        .execution_options(yield_per=batch)
    )
    yield from db.session.execute(statement)


def member_rows(period: Period, batch: int = 1000) -> Iterator[Any]:
    """Memberships that were members at any moment of the period; streamed."""
    start, end = period.start, period.end
    statement = (
        select(
            M.id,
            Supporter.email,
            Supporter.name,
            Supporter.locale,
            M.status,
            M.amount,
            M.currency,
            M.interval,
            M.started_at,
            case((has_ended, end_time), else_=None).label("ended_at"),
            M.current_period_end,
            M.cancel_at_period_end,
            M.cancellation_reason,
            M.campaign,
            M.stripe_subscription_id,
            Supporter.stripe_customer_id,
        )
        .join(Supporter, Supporter.id == M.supporter_id)
        .where(ever_member, M.started_at < end, or_(not_(has_ended), end_time >= start))
        .order_by(M.started_at, M.id)
        .execution_options(yield_per=batch)
    )
    yield from db.session.execute(statement)
