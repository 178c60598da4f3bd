from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, str_enum, utcnow

if TYPE_CHECKING:
    from app.models.supporter import Supporter


class EmailKind(enum.StrEnum):
    RECEIPT = "receipt"
    WELCOME = "welcome"
    PAYMENT_FAILED = "payment_failed"
    CANCELLATION = "cancellation"
    REFUND = "refund"
    CARD_EXPIRING = "card_expiring"
    RENEWAL_UPCOMING = "renewal_upcoming"
    REMINDER = "reminder"
    #: To finance staff: Stripe ended a membership after failed payments.
    MEMBERSHIP_LAPSED = "membership_lapsed"
    #: A supporter asked to sign in to their account (about ``sign_in:<token id>``).
    SIGN_IN_LINK = "sign_in_link"
    #: A supporter erased their data; sent to the address they had (``erasure:<supporter id>``).
    ACCOUNT_ERASED = "account_erased"
    #: To finance staff: the bank refused a Stripe payout (``payout:<payout id>``).
    PAYOUT_FAILED = "payout_failed"
    #: To finance staff: the support page refused many payment attempts within an hour.
    ATTEMPTS_SPIKE = "attempts_spike"
    #: A renewal waits for the member's bank to confirm it (3-D Secure), ``payment:<payment id>``:
    #: one per invoice (a payment row is one invoice).
    ACTION_REQUIRED = "action_required"
    #: A gift on the support page used a known supporter's address from a Stripe customer not
    #: theirs (``membership:<id>`` or ``payment:<id>``): "if it was you, thank you; if not, ...".
    GIFT_WITH_YOUR_ADDRESS = "gift_with_your_address"
    #: A payment the bank pays days later (SEPA Direct Debit) is on its way (``payment:<id>``);
    #: its receipt follows once the money arrived.
    PAYMENT_PENDING = "payment_pending"
    #: The bank refused such a payment days later (``payment:<id>``).
    DEBIT_FAILED = "debit_failed"


class EmailStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class EmailLog(db.Model):  # type: ignore[name-defined]
    """One email to send: the outbox and the log in one row.

    ``(kind, about)`` is unique, so the same receipt cannot be queued twice
    however often Stripe repeats the event that asked for it.
    """

    __tablename__ = "email_log"
    __table_args__ = (
        sa.UniqueConstraint("kind", "about", name="uq_email_log_kind_about"),
        sa.Index("ix_email_log_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[EmailKind] = mapped_column(str_enum(EmailKind, "email_kind"))
    #: What it is about, e.g. ``payment:42`` or ``membership:7:2026-12``.
    about: Mapped[str] = mapped_column(sa.String(120))
    supporter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("supporter.id"), index=True)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    locale: Mapped[str] = mapped_column(sa.String(2))
    status: Mapped[EmailStatus] = mapped_column(
        str_enum(EmailStatus, "email_status"), default=EmailStatus.PENDING
    )
    subject: Mapped[str | None] = mapped_column(sa.String(300))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    message_id: Mapped[str | None] = mapped_column(sa.String(300))
    #: When a retry is due; the sweep leaves the row alone until a minute after.
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    supporter: Mapped[Supporter | None] = relationship()
