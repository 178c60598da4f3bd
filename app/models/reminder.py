from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class Reminder(db.Model):  # type: ignore[name-defined]
    """ "Remind me later" from the support page: one email, once, then never again."""

    __tablename__ = "reminder"
    __table_args__ = (sa.CheckConstraint("locale IN ('ar', 'en')", name="locale_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    locale: Mapped[str] = mapped_column(sa.String(2))
    #: The reader's choices on the page (amount, currency, frequency, campaign), to fill it in again.
    choices: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    remind_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderRequest(db.Model):  # type: ignore[name-defined]
    """Every "remind me later" request: the limits per IP and per address count these.

    The address is kept only as a keyed hash; rows go once older than the
    window (``REMINDER_RATE_WINDOW_MINUTES``).
    """

    __tablename__ = "reminder_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_digest: Mapped[str] = mapped_column(sa.String(64), index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
