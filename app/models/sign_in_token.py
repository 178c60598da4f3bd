from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.supporter import Supporter


class SignInToken(db.Model):  # type: ignore[name-defined]
    """One emailed sign-in link, and the account session it opened.

    The link's secret is never stored.  It is random, drawn by the email task
    when it writes the message; the row keeps only its SHA-256
    (``token_hash``) to find the link when it is opened.  A copy of the
    database, with the app's ``SECRET_KEY`` or without, signs nobody in.

    A link works once (``used_at``) and for thirty minutes (``expires_at``).
    The session it opens lives in the signed cookie but names this row, so
    signing out (``session_ended_at``) ends it on the server too.
    """

    __tablename__ = "sign_in_token"
    __table_args__ = (sa.Index("ix_sign_in_token_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supporter_id: Mapped[int] = mapped_column(sa.ForeignKey("supporter.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    supporter: Mapped[Supporter] = relationship()

    def __repr__(self) -> str:
        return f"<SignInToken {self.id}>"


class SignInAttempt(db.Model):  # type: ignore[name-defined]
    """Every request for a sign-in link, known address or not: the rate limits count these.

    The address is kept as a keyed hash (``email_digest``).  The request
    only writes this row, whatever the address, so its answer takes the same
    time for anyone; the address itself (``email``) waits here for the
    worker that looks it up and sends a link if it is a supporter's, which
    then forgets it (``app/services/account/links.py``).
    """

    __tablename__ = "sign_in_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_digest: Mapped[str] = mapped_column(sa.String(64), index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: The address typed, until the worker has looked it up; and the page's language, for the email.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    locale: Mapped[str | None] = mapped_column(sa.String(2))
