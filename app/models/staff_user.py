from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, str_enum, utcnow


class StaffRole(enum.StrEnum):
    """Finance reads and exports; admin also manages staff, refunds and cancels."""

    FINANCE = "finance"
    ADMIN = "admin"


#: What each role may do, widest last: a role includes every role before it.
ROLE_ORDER = (StaffRole.FINANCE, StaffRole.ADMIN)


class StaffUser(db.Model):  # type: ignore[name-defined]
    """A newsroom employee who signs in at /staff.

    ``auth_version`` is copied into the signed session cookie at sign-in; it
    goes up when the password, role or two-factor changes or the account is
    disabled (``accounts.credentials_changed``), which also ends every
    ``staff_session`` row of the account: every session made before ends,
    copies of its cookie included.
    """

    __tablename__ = "staff_user"
    __table_args__ = (sa.CheckConstraint("email = lower(email)", name="email_lower_case"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole, "staff_role"))
    #: argon2id, with its parameters and salt (``$argon2id$v=19$m=...``).
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    #: The TOTP secret, encrypted (``f1:`` and a Fernet token, see ``app/services/staff/two_factor.py``;
    #: a bare base32 value is one stored before migration 0009).  Used once ``totp_enabled_at`` is set.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(255))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The 30-second step of the last code accepted: a code works once.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    auth_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def actor(self) -> str:
        """How the audit log names this person."""
        return f"staff:{self.id}"

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None and bool(self.totp_secret)

    @property
    def needs_two_factor(self) -> bool:
        """Admins must use a second factor; finance staff may."""
        return self.role == StaffRole.ADMIN or self.has_two_factor

    def may(self, role: StaffRole) -> bool:
        return ROLE_ORDER.index(self.role) >= ROLE_ORDER.index(role)

    def __repr__(self) -> str:
        return f"<StaffUser {self.id} {self.role}>"


class StaffRecoveryCode(db.Model):  # type: ignore[name-defined]
    """One of the ten one-time codes that stand in for the authenticator app (a lost phone).

    Only a keyed hash is kept (``two_factor.recovery_hashes``); the codes are
    shown once, when made.  Making new ones deletes the old.
    """

    __tablename__ = "staff_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInOutcome(enum.StrEnum):
    SUCCESS = "success"
    BAD_PASSWORD = "bad_password"  # noqa: S105 (an outcome, not a password)
    BAD_CODE = "bad_code"
    #: Refused without checking: the email was locked or the address over its limit.
    LOCKED = "locked"
    RATE_LIMITED = "rate_limited"
    #: An admin lifted a lockout: failures before it no longer count.
    UNLOCKED = "unlocked"


class StaffSignInAttempt(db.Model):  # type: ignore[name-defined]
    """Every try at /staff/sign-in, by email (known or not) and address.

    Lockout and rate limits are counted from here, so they hold across
    processes and treat unknown emails exactly like real ones.
    """

    __tablename__ = "staff_sign_in_attempt"
    __table_args__ = (
        sa.Index("ix_staff_sign_in_attempt_email_created_at", "email", "created_at"),
        sa.Index("ix_staff_sign_in_attempt_ip_created_at", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[SignInOutcome] = mapped_column(str_enum(SignInOutcome, "sign_in_outcome"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
