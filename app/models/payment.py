from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, str_enum, utcnow

if TYPE_CHECKING:
    from app.models.membership import Membership
    from app.models.supporter import Supporter


class PaymentStatus(enum.StrEnum):
    #: The bank has not paid it yet (a SEPA Direct Debit ``processing`` for days): no receipt, no revenue.
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


#: Money was taken (even if it went back later): receipted, listed in statements, counted as revenue.
CHARGED_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED)


class Payment(db.Model):  # type: ignore[name-defined]
    """One charge attempt Stripe reported; a one-time gift has no membership."""

    __tablename__ = "payment"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("fee IS NULL OR fee >= 0", name="fee_not_negative"),
        sa.CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refund_within_amount"),
        sa.CheckConstraint("currency IN ('usd', 'eur', 'try')", name="currency_supported"),
        sa.CheckConstraint(
            "stripe_invoice_id IS NOT NULL OR stripe_payment_intent_id IS NOT NULL"
            " OR stripe_charge_id IS NOT NULL",
            name="has_stripe_id",
        ),
        sa.Index("ix_payment_paid_at", "paid_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supporter_id: Mapped[int] = mapped_column(sa.ForeignKey("supporter.id"), index=True)
    membership_id: Mapped[int | None] = mapped_column(sa.ForeignKey("membership.id"), index=True)
    stripe_invoice_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    amount: Mapped[int] = mapped_column(sa.Integer, comment="charged, in minor units")
    currency: Mapped[str] = mapped_column(sa.String(3))
    #: Part of ``amount`` the reader added to cover card fees (0 if they did not).
    fee_cover: Mapped[int] = mapped_column(sa.Integer, default=0)
    fee: Mapped[int | None] = mapped_column(sa.Integer, comment="Stripe's fee, once known")
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, "payment_status"))
    refunded_amount: Mapped[int] = mapped_column(sa.Integer, default=0)
    failure_code: Mapped[str | None] = mapped_column(sa.String(100))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt_number: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    #: The SEPA Direct Debit mandate's reference (Stripe's), shown to the donor; none for cards.
    mandate_reference: Mapped[str | None] = mapped_column(sa.String(64))
    campaign: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    utm: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    supporter: Mapped[Supporter] = relationship(back_populates="payments")
    membership: Mapped[Membership | None] = relationship(back_populates="payments")

    @property
    def is_one_time(self) -> bool:
        return self.membership_id is None
