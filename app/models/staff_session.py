from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class StaffSession(db.Model):  # type: ignore[name-defined]
    """One signed-in /staff browser, so that a session can end on the server.

    The signed cookie carries a random key; this row keeps only its SHA-256
    (``key_hash``), so a copy of the database opens no session.  Signing out
    sets ``ended_at``; disabling the account or changing its password, role or
    second factor ends every row of the account (``app/services/staff/sessions.py``).
    A copied cookie names the same row and ends with it.
    """

    __tablename__ = "staff_session"
    __table_args__ = (sa.Index("ix_staff_session_staff_user_id_ended_at", "staff_user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<StaffSession {self.id}>"
