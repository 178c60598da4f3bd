from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.membership import Membership
    from app.models.payment import Payment


class Supporter(db.Model):  # type: ignore[name-defined]
    """A reader who gives, known by email (stored lower-cased)."""

    __tablename__ = "supporter"
    __table_args__ = (
        sa.CheckConstraint("locale IN ('ar', 'en')", name="locale_known"),
        sa.CheckConstraint("email = lower(email)", name="email_lower_case"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    locale: Mapped[str] = mapped_column(sa.String(2), default="ar")
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The default card, for "your card expires soon" (never the number).
    card_brand: Mapped[str | None] = mapped_column(sa.String(20))
    card_last4: Mapped[str | None] = mapped_column(sa.String(4))
    card_exp_month: Mapped[int | None] = mapped_column(sa.SmallInteger)
    card_exp_year: Mapped[int | None] = mapped_column(sa.SmallInteger)
    #: Stripe's id of that card, so that ``payment_method.*`` events know whether it is this one.
    card_payment_method_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    #: When Stripe was last asked for the card of a supporter we knew none of (asked once).
    card_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    memberships: Mapped[list[Membership]] = relationship(back_populates="supporter")
    payments: Mapped[list[Payment]] = relationship(back_populates="supporter")

    def __repr__(self) -> str:
        return f"<Supporter {self.id}>"
