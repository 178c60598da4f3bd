"""What an admin may do to a supporter's money: refund a payment, cancel a membership.

Both go through the gateway, then apply Stripe's answer with the same handler
as the webhook that will follow (``payments.charge_refunded``,
``memberships.subscription_changed``), so the page is right at once and the
webhook, when it comes, finds nothing left to change.  Each is written to the
audit log in the same transaction.  The caller commits.
"""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Membership, Payment, PaymentStatus, StaffUser
from app.models.membership import MEMBER_STATUSES
from app.models.types import utcnow
from app.services import audit, memberships, payments
from app.services.errors import DomainError
from app.services.stripe_gateway import StripeGateway
from app.services.stripe_objects import plain


class ActionRefused(DomainError):
    """Codes: not_refundable, refund_amount, not_cancellable, not_found."""


def refundable(payment: Payment) -> int:
    """What is left to refund (0 for a failed or disputed payment)."""
    if payment.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED):
        return 0
    if not (payment.stripe_charge_id or payment.stripe_payment_intent_id):
        return 0
    return payment.amount - (payment.refunded_amount or 0)


def refund(
    payment_id: int, amount: int, staff: StaffUser, gateway: StripeGateway, request_key: str
) -> Payment:
    """Refund ``amount`` (minor units) of a payment.  ``request_key`` makes a resubmitted form one refund."""
    payment = db.session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
    if payment is None:
        raise ActionRefused("not_found")
    left = refundable(payment)
    if left <= 0:
        raise ActionRefused("not_refundable")
    if not 0 < amount <= left:
        raise ActionRefused("refund_amount", field="amount")
    answer = plain(
        gateway.refund(
            amount,
            idempotency_key=f"staff-refund:{payment.id}:{request_key}"[:255],
            charge_id=payment.stripe_charge_id,
            payment_intent_id=payment.stripe_payment_intent_id,
            metadata={"staff": str(staff.id), "payment": str(payment.id)},
        )
    )
    charge = answer.get("charge")
    if isinstance(charge, dict):
        payments.charge_refunded(charge, utcnow(), gateway)
    audit.record(
        staff.actor,
        "payment.refund",
        supporter_id=payment.supporter_id,
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        stripe_refund_id=answer.get("id"),
    )
    return payment


def cancel(
    membership_id: int,
    staff: StaffUser,
    gateway: StripeGateway,
    request_key: str,
    at_period_end: bool = False,
    comment: str = "",
) -> Membership:
    """End a membership now, or at the end of the period paid for."""
    membership = db.session.scalar(select(Membership).where(Membership.id == membership_id).with_for_update())
    if membership is None:
        raise ActionRefused("not_found")
    if membership.status not in MEMBER_STATUSES or (at_period_end and membership.cancel_at_period_end):
        raise ActionRefused("not_cancellable")
    key = f"staff-cancel:{membership.id}:{request_key}"[:255]
    subscription = plain(
        gateway.set_cancel_at_period_end(membership.stripe_subscription_id, True, idempotency_key=key)
        if at_period_end
        else gateway.cancel_subscription(membership.stripe_subscription_id, idempotency_key=key)
    )
    # customer.subscription.deleted or .updated will follow: the same handler.
    memberships.subscription_changed(subscription, utcnow(), gateway)
    audit.record(
        staff.actor,
        "membership.cancel",
        supporter_id=membership.supporter_id,
        membership_id=membership.id,
        at_period_end=at_period_end,
        comment=comment.strip()[:500] or None,
    )
    return membership
