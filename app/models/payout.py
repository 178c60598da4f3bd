from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

#: Payout statuses Stripe never leaves: a later ``payout.updated`` cannot move them.
PAYOUT_FINAL_STATUSES = ("failed", "canceled")


class Payout(db.Model):  # type: ignore[name-defined]
    """Money Stripe sent to the newsroom's bank, recorded from ``payout.paid``.

    Amounts are in the payout's currency (the account's settlement currency),
    which need not be one readers give in.  ``payout.failed`` and
    ``payout.canceled`` record a payout too (the money went back to the Stripe
    balance), and ``payout.updated`` moves the status of one we have.
    """

    __tablename__ = "payout"
    __table_args__ = (
        sa.CheckConstraint("currency = lower(currency)", name="currency_lower_case"),
        sa.Index("ix_payout_arrival_date", "arrival_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_payout_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger, comment="minor units of currency")
    currency: Mapped[str] = mapped_column(sa.String(3))
    #: Stripe's status: paid, failed or canceled (pending and in_transit from payout.updated).
    status: Mapped[str] = mapped_column(sa.String(32))
    #: When the Stripe event whose status is stored was created: an older one does not undo it.
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why the bank refused it (Stripe's ``failure_code``, e.g. ``account_closed``, and its message).
    failure_code: Mapped[str | None] = mapped_column(sa.String(64))
    failure_message: Mapped[str | None] = mapped_column(sa.String(500))
    #: Stripe lists the transactions of automatic payouts only.
    automatic: Mapped[bool] = mapped_column(default=True)
    arrival_date: Mapped[datetime] = mapped_column(UTCDateTime)
    stripe_created: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: False until the balance transactions were fetched (when Stripe says they are complete).
    transactions_loaded: Mapped[bool] = mapped_column(default=False)
    #: Stripe's ``reconciliation_status`` (``in_progress``, ``completed``, ``not_applicable``), never
    #: back from ``completed``: the list is read when it is ``completed``, and never again.
    reconciliation_status: Mapped[str | None] = mapped_column(sa.String(32))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    transactions: Mapped[list[PayoutTransaction]] = relationship(
        back_populates="payout", order_by="PayoutTransaction.id"
    )


class PayoutTransaction(db.Model):  # type: ignore[name-defined]
    """One Stripe balance transaction paid out in a payout: a charge, refund, dispute or fee."""

    __tablename__ = "payout_transaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    payout_id: Mapped[int] = mapped_column(sa.ForeignKey("payout.id"), index=True)
    stripe_balance_transaction_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    #: Stripe's ``type`` (charge, payment, refund, payment_refund, adjustment, stripe_fee, payout, ...).
    type: Mapped[str] = mapped_column(sa.String(40))
    reporting_category: Mapped[str | None] = mapped_column(sa.String(40))
    #: What moved the money: a charge, refund or dispute id.
    source_id: Mapped[str | None] = mapped_column(sa.String(255))
    #: The charge behind it (the source itself, or the refunded / disputed charge).
    charge_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger, comment="gross, in the payout's currency")
    fee: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    net: Mapped[int] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    #: Settlement currency per unit of the charge's currency, when they differ.
    exchange_rate: Mapped[float | None] = mapped_column(sa.Float)
    stripe_created: Mapped[datetime | None] = mapped_column(UTCDateTime)

    payout: Mapped[Payout] = relationship(back_populates="transactions")
