from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class AuditEntry(db.Model):  # type: ignore[name-defined]
    """Who did what to whom, when: staff actions and supporters' own changes.

    ``actor`` is ``staff:<id>``, ``supporter:<id>`` or ``system``; ``action`` a
    dotted verb (``staff.sign_in``, ``membership.cancel``, ``export.payments``);
    ``details`` never holds card data or secrets.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(sa.String(64), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    supporter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("supporter.id"), index=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
