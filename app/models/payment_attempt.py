from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, str_enum, utcnow


class AttemptOutcome(enum.StrEnum):
    #: Stripe was asked for an intent; the reader has not finished (or the card failed in the browser).
    STARTED = "started"
    SUCCEEDED = "succeeded"
    #: Stripe declined the card.
    DECLINED = "declined"
    #: Our velocity limits refused it before Stripe heard of it.
    REFUSED = "refused"
    #: The hidden field a person never sees was filled in.
    TRAPPED = "trapped"


class PaymentAttempt(db.Model):  # type: ignore[name-defined]
    """One try at paying on the support page, kept a week to judge the next ones.

    Addresses and card fingerprints are stored as keyed hashes (HMAC with the
    secret key): enough to count repeats, useless to anyone who reads the table.
    """

    __tablename__ = "payment_attempt"
    __table_args__ = (
        sa.Index("ix_payment_attempt_ip_created", "ip_hash", "created_at"),
        sa.Index("ix_payment_attempt_email_created", "email_hash", "created_at"),
        sa.Index("ix_payment_attempt_card_created", "card_hash", "created_at"),
        sa.Index("ix_payment_attempt_session_created", "session_key", "created_at"),
        sa.Index("ix_payment_attempt_outcome_created", "outcome", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip_hash: Mapped[str] = mapped_column(sa.String(64))
    email_hash: Mapped[str | None] = mapped_column(sa.String(64))
    card_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: A random id kept in the reader's session cookie.
    session_key: Mapped[str] = mapped_column(sa.String(32))
    outcome: Mapped[AttemptOutcome] = mapped_column(str_enum(AttemptOutcome, "attempt_outcome"))
    #: The SetupIntent or PaymentIntent Stripe made for it (a decline in the browser comes back by webhook).
    stripe_intent_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    #: Which limit refused it, or Stripe's decline code.
    reason: Mapped[str | None] = mapped_column(sa.String(64))
