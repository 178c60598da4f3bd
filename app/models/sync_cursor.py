from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class SyncCursor(db.Model):  # type: ignore[name-defined]
    """How far ``flask stripe sync`` got through one of Stripe's lists.

    ``last_id`` is the last object that was completely applied (Stripe's
    ``starting_after`` for the next page); ``finished_at`` is set once the
    list was walked to its end.  A run that stops with neither lets
    ``--resume`` go on after ``last_id``.
    """

    __tablename__ = "sync_cursor"

    #: The list: ``customers``, ``subscriptions``, ``invoices`` or ``charges``.
    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    last_id: Mapped[str | None] = mapped_column(sa.String(255))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<SyncCursor {self.name} {self.last_id}>"
