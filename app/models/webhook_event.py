from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class WebhookEvent(db.Model):  # type: ignore[name-defined]
    """One verified Stripe event, stored once by its id before anything else happens.

    The table is also the durable queue of work: ``processed_at IS NULL`` is
    what is left to apply, and ``last_error`` says why the last try failed.
    """

    __tablename__ = "webhook_event"
    __table_args__ = (
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # Workers claim what is left to apply, oldest first (migration 0020).
        sa.Index(
            "ix_webhook_event_waiting",
            "created",
            "id",
            postgresql_where=sa.text("processed_at IS NULL"),
            sqlite_where=sa.text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_event_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    type: Mapped[str] = mapped_column(sa.String(100), index=True)
    livemode: Mapped[bool] = mapped_column(default=False)
    #: When Stripe says the event happened (whole seconds, UTC).
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    #: The supporter the event is about, recorded when it is applied (the supporter page reads it).
    supporter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("supporter.id"), index=True)

    @property
    def object(self) -> dict[str, Any]:
        """The Stripe object the event is about (``data.object``)."""
        return dict(self.payload["data"]["object"])

    def __repr__(self) -> str:
        return f"<WebhookEvent {self.stripe_event_id} {self.type}>"
