"""Staff sessions on the server: started at sign-in, ended by signing out or by a change of credentials.

The signed cookie says who is signed in and when (``app/staff/auth.py``), and
names its ``staff_session`` row by a random key of which only the SHA-256 is
stored.  A session is open while its row is: ``end`` closes one (signing
out), ``end_all`` every one of an account (disabled; password, role or second
factor changed), so a copied cookie stops working with the session it was
copied from.  Rows older than ``STAFF_SESSION_HOURS`` are of no use and go
when their owner next signs in.  The caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import StaffSession, StaffUser
from app.models.types import utcnow

#: Longer keys are not ours: not even hashed.
MAX_KEY = 100


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def lifetime() -> timedelta:
    return timedelta(hours=float(current_app.config["STAFF_SESSION_HOURS"]))


def start(user: StaffUser, now: datetime | None = None) -> str:
    """A new session for ``user``; returns the key the cookie carries (never stored)."""
    now = now or utcnow()
    db.session.execute(
        sa.delete(StaffSession).where(
            StaffSession.staff_user_id == user.id, StaffSession.created_at < now - lifetime()
        )
    )
    key = secrets.token_urlsafe(32)
    db.session.add(StaffSession(staff_user_id=user.id, key_hash=_hash(key), created_at=now))
    db.session.flush()
    return key


def find(key: object, now: datetime | None = None) -> StaffSession | None:
    """The open session ``key`` names, or None (unknown, ended, or older than ``STAFF_SESSION_HOURS``)."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        return None
    row = db.session.scalar(select(StaffSession).where(StaffSession.key_hash == _hash(key)))
    if row is None or row.ended_at is not None or (now or utcnow()) - row.created_at > lifetime():
        return None
    return row


def end(key: object) -> None:
    row = find(key)
    if row is not None:
        row.ended_at = utcnow()
        db.session.flush()


def end_all(user: StaffUser) -> None:
    """Every open session of ``user`` ends, in every browser."""
    db.session.execute(
        sa.update(StaffSession)
        .where(StaffSession.staff_user_id == user.id, StaffSession.ended_at.is_(None))
        .values(ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )
