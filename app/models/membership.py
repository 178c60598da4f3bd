from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, str_enum, utcnow

if TYPE_CHECKING:
    from app.models.payment import Payment
    from app.models.supporter import Supporter


class MembershipStatus(enum.StrEnum):
    """A subscription's status, as Stripe names it."""

    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


#: Still a member: ``past_due`` is the grace while Stripe retries the card.
MEMBER_STATUSES = (MembershipStatus.ACTIVE, MembershipStatus.TRIALING, MembershipStatus.PAST_DUE)
#: Statuses Stripe never leaves: nothing moves a membership out of them.
FINAL_STATUSES = (MembershipStatus.CANCELED, MembershipStatus.INCOMPLETE_EXPIRED)
#: A membership that ran and has ended, for the reports (churn; a later one is a reactivation).
ENDED_STATUSES = (MembershipStatus.CANCELED, MembershipStatus.UNPAID, MembershipStatus.PAUSED)
#: A subscription whose first payment never succeeded: it was never a membership.
NEVER_STARTED_STATUSES = (MembershipStatus.INCOMPLETE, MembershipStatus.INCOMPLETE_EXPIRED)
#: Nothing runs any more and no payment is coming, for the notices: a cancellation from one of
#: these tells the member nothing new, and reaching one after a failed payment is a lapse.
LAPSED_STATUSES = (MembershipStatus.CANCELED, MembershipStatus.UNPAID, MembershipStatus.INCOMPLETE_EXPIRED)


class Interval(enum.StrEnum):
    MONTH = "month"
    YEAR = "year"


def _started_default(context: Any) -> datetime:
    """Without Stripe's word, a membership started when we first recorded it."""
    given = context.get_current_parameters().get("created_at")
    return given if isinstance(given, datetime) else utcnow()


class Membership(db.Model):  # type: ignore[name-defined]
    """One Stripe subscription of a supporter."""

    __tablename__ = "membership"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("currency IN ('usd', 'eur', 'try')", name="currency_supported"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supporter_id: Mapped[int] = mapped_column(sa.ForeignKey("supporter.id"), index=True)
    stripe_subscription_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    status: Mapped[MembershipStatus] = mapped_column(str_enum(MembershipStatus, "membership_status"))
    amount: Mapped[int] = mapped_column(sa.Integer, comment="per interval, in minor units")
    currency: Mapped[str] = mapped_column(sa.String(3))
    interval: Mapped[Interval] = mapped_column(str_enum(Interval, "membership_interval"))
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancellation_reason: Mapped[str | None] = mapped_column(sa.String(500))
    covers_fees: Mapped[bool] = mapped_column(default=False)
    campaign: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    utm: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    #: ``created`` of the newest Stripe event or fetch applied; older ones are stale.
    stripe_state_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the subscription started at Stripe (its ``start_date``): the reports count starts by it.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_started_default)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    supporter: Mapped[Supporter] = relationship(back_populates="memberships")
    payments: Mapped[list[Payment]] = relationship(back_populates="membership")

    @property
    def is_member(self) -> bool:
        return self.status in MEMBER_STATUSES
