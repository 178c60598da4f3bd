"""Which emails a change calls for.  The outbox keeps each to one.

Called by the services that apply Stripe's word (webhooks, sync) and by the
donation flow.  Only recent happenings are told: a sync that loads years of
history, or an event Stripe redelivers days later, mails nobody about the past.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from app.extensions import db
from app.models import (
    LAPSED_STATUSES,
    EmailKind,
    Interval,
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
    Payout,
)
from app.models.types import utcnow
from app.services import outbox

RECENT = timedelta(days=3)


def _recent(when: datetime | None) -> bool:
    return when is not None and utcnow() - when <= RECENT


def membership_changed(
    membership: Membership,
    before_status: MembershipStatus | None,
    before_cancel_at_period_end: bool,
    started_at: datetime | None,
) -> None:
    supporter = membership.supporter
    if membership.is_member and _recent(started_at):
        outbox.queue(EmailKind.WELCOME, f"membership:{membership.id}", supporter)
    scheduled = membership.cancel_at_period_end and not before_cancel_at_period_end
    ended = membership.status == MembershipStatus.CANCELED and before_status not in (None, *LAPSED_STATUSES)
    if (scheduled or ended) and (_recent(membership.canceled_at) or scheduled):
        # One notice per period: cancelling, resuming and cancelling again in
        # the same month does not mail twice; the end that follows a scheduled
        # cancellation is the same period.
        period = membership.current_period_end.date().isoformat() if membership.current_period_end else "end"
        outbox.queue(EmailKind.CANCELLATION, f"membership:{membership.id}:{period}", supporter)
    if (
        membership.status in LAPSED_STATUSES
        and before_status in (MembershipStatus.PAST_DUE, MembershipStatus.UNPAID, MembershipStatus.ACTIVE)
        and _lapsed_for_payment(membership, before_status)
    ):
        config = current_app.config
        outbox.queue_to(
            EmailKind.MEMBERSHIP_LAPSED,
            f"membership:{membership.id}",
            config["FINANCE_NOTIFY_EMAIL"],
            config["FINANCE_NOTIFY_LOCALE"],
        )


def _lapsed_for_payment(membership: Membership, before: MembershipStatus | None) -> bool:
    reason = membership.cancellation_reason or ""
    return reason == "payment_failed" or before in (MembershipStatus.PAST_DUE, MembershipStatus.UNPAID)


def gift_with_your_address(gift: Membership | Payment) -> None:
    """A gift was made on the support page with a supporter's address, on a Stripe customer not theirs.

    Nobody signs in there: the supporter is told, in their language, so that a
    gift they did not make (someone else's card, or a mistyped address) is noticed.
    """
    db.session.flush()
    kind = "membership" if isinstance(gift, Membership) else "payment"
    outbox.queue(EmailKind.GIFT_WITH_YOUR_ADDRESS, f"{kind}:{gift.id}", gift.supporter)


def payment_succeeded(payment: Payment) -> None:
    if payment.status == PaymentStatus.PENDING:
        return  # no receipt for money that has not arrived
    number_receipt(payment)
    if payment.status == PaymentStatus.SUCCEEDED and _recent(payment.paid_at):
        outbox.queue(EmailKind.RECEIPT, f"payment:{payment.id}", payment.supporter)


def payment_pending(payment: Payment, started_at: datetime | None) -> None:
    """A gift the bank pays days later (SEPA Direct Debit): "it is on its way; the receipt follows"."""
    if payment.status == PaymentStatus.PENDING and _recent(started_at):
        db.session.flush()
        outbox.queue(EmailKind.PAYMENT_PENDING, f"payment:{payment.id}", payment.supporter)


def debit_failed(payment: Payment, failed_at: datetime | None) -> None:
    """The bank refused, days later, a payment that was on its way: the donor is told plainly."""
    if payment.status == PaymentStatus.FAILED and _recent(failed_at):
        outbox.queue(EmailKind.DEBIT_FAILED, f"payment:{payment.id}", payment.supporter)


def renewal_failed(payment: Payment, billing_reason: str | None, attempted_at: datetime | None) -> None:
    """A renewal's charge failed (the first one is told on the page itself)."""
    if billing_reason == "subscription_create" or payment.membership is None:
        return
    if payment.status == PaymentStatus.FAILED and _recent(attempted_at):
        outbox.queue(EmailKind.PAYMENT_FAILED, f"payment:{payment.id}", payment.supporter)


def authentication_needed(payment: Payment, billing_reason: str | None, asked_at: datetime | None) -> None:
    """A renewal waits for the member's bank: one email per invoice, with the account page's link.

    The first charge is confirmed on the support page itself, in the reader's browser.
    """
    if billing_reason == "subscription_create" or payment.membership is None:
        return
    if payment.status == PaymentStatus.FAILED and _recent(asked_at):
        outbox.queue(EmailKind.ACTION_REQUIRED, f"payment:{payment.id}", payment.supporter)


def refunded(payment: Payment, refunded_at: datetime | None) -> None:
    if payment.refunded_amount > 0 and _recent(refunded_at):
        outbox.queue(
            EmailKind.REFUND, f"payment:{payment.id}:refund:{payment.refunded_amount}", payment.supporter
        )


def renewal_coming(membership: Membership, renews_at: datetime | None) -> None:
    if (
        membership.interval == Interval.YEAR
        and membership.is_member
        and not membership.cancel_at_period_end
        and renews_at is not None
    ):
        about = f"membership:{membership.id}:{renews_at.date().isoformat()}"
        outbox.queue(EmailKind.RENEWAL_UPCOMING, about, membership.supporter)


def payout_failed(payout: Payout, failed_at: datetime | None) -> None:
    """Finance staff hear that the bank refused a payout (money back in the Stripe balance)."""
    if _recent(failed_at):
        config = current_app.config
        outbox.queue_to(
            EmailKind.PAYOUT_FAILED,
            f"payout:{payout.id}",
            config["FINANCE_NOTIFY_EMAIL"],
            config["FINANCE_NOTIFY_LOCALE"],
        )


def number_receipt(payment: Payment) -> None:
    """Receipt numbers are the year and the row id: unique, gap-tolerant, short."""
    if payment.receipt_number:
        return
    db.session.flush()
    year = (payment.paid_at or utcnow()).year
    payment.receipt_number = f"{year}-{payment.id:07d}"
