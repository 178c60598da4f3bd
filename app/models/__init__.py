"""The tables, one module per concept."""

from app.models.membership import MEMBER_STATUSES, Interval, Membership, MembershipStatus
from app.models.payment import Payment, PaymentStatus
from app.models.supporter import Supporter

__all__ = [
    "MEMBER_STATUSES",
    "Interval",
    "Membership",
    "MembershipStatus",
    "Payment",
    "PaymentStatus",
    "Supporter",
]
