"""Staff accounts: creating them, argon2 passwords, roles, disabling, forgetting a second factor.

Signing in (and its lockouts) is ``app/services/staff/sign_in.py``; the second
factor itself is ``app/services/staff/two_factor.py``.  Every change here is
audited; a change of credentials (``credentials_changed``: password, role, second factor,
disabling) moves ``auth_version`` and ends every session of the account on the server.
"""

from __future__ import annotations

import secrets
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from app.extensions import db
from app.models import StaffRecoveryCode, StaffRole, StaffUser
from app.models.types import utcnow
from app.services import audit
from app.services.errors import DomainError, InvalidChoice
from app.services.staff import sessions
from app.services.supporters import normalize_email, read_email

MIN_PASSWORD = 12
MAX_PASSWORD = 1024


class StaffAuthError(DomainError):
    """Codes: bad_credentials, bad_code, locked, rate_limited, email_invalid, email_taken,
    password_too_short, password_too_long, two_factor_required, not_found."""


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both take the same time."""
    return _hasher().hash(secrets.token_urlsafe(16))


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise StaffAuthError("password_too_short", field="password")
    if len(password) > MAX_PASSWORD:
        raise StaffAuthError("password_too_long", field="password")


def hash_password(password: str) -> str:
    check_new_password(password)
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Does ``password`` match?  With no hash (no usable account) a dummy one is checked, so
    that an unknown email takes as long to refuse as a wrong password."""
    try:
        return _hasher().verify(_dummy_hash() if password_hash is None else password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def rehash_if_outdated(user: StaffUser, password: str) -> None:
    """After a right password: hash it again if the hasher's parameters have moved on."""
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)


def credentials_changed(user: StaffUser) -> None:
    """Password, role or second factor changed, or the account disabled: every session of it ends
    (a pending second step too, by ``auth_version``), in every browser."""
    user.auth_version += 1
    sessions.end_all(user)


# -- accounts ------------------------------------------------------------------------------


def find(email: str) -> StaffUser | None:
    return db.session.scalar(select(StaffUser).where(StaffUser.email == normalize_email(email)))


def create_staff(
    email: str, role: StaffRole, password: str, name: str = "", actor: str = "system"
) -> StaffUser:
    try:
        address = read_email(email)
    except InvalidChoice as exc:
        raise StaffAuthError("email_invalid", field="email") from exc
    if find(address) is not None:
        raise StaffAuthError("email_taken", field="email")
    user = StaffUser(
        email=address, name=name.strip()[:200], role=StaffRole(role), password_hash=hash_password(password)
    )
    user.auth_version = 1
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "staff.create", staff_id=user.id, email=address, role=str(role))
    return user


def set_password(user: StaffUser, password: str, actor: str) -> None:
    user.password_hash = hash_password(password)
    credentials_changed(user)
    audit.record(actor, "staff.password", staff_id=user.id)


def set_role(user: StaffUser, role: StaffRole, actor: str) -> None:
    if user.role != role:
        audit.record(actor, "staff.role", staff_id=user.id, before=str(user.role), after=str(role))
        user.role = role
        credentials_changed(user)  # an admin made finance (or back) signs in again


def set_disabled(user: StaffUser, disabled: bool, actor: str) -> None:
    if disabled and user.disabled_at is None:
        user.disabled_at = utcnow()
        credentials_changed(user)
        audit.record(actor, "staff.disable", staff_id=user.id)
    elif not disabled and user.disabled_at is not None:
        user.disabled_at = None
        audit.record(actor, "staff.enable", staff_id=user.id)


def forget_two_factor(user: StaffUser) -> None:
    """The account's authenticator secret and recovery codes gone (not audited: the callers say why)."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    credentials_changed(user)
    db.session.execute(sa.delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_user_id == user.id))


def reset_two_factor(user: StaffUser, actor: str) -> None:
    """An admin (or the CLI) forgets someone's authenticator and recovery codes: a lost phone."""
    forget_two_factor(user)
    audit.record(actor, "staff.two_factor_reset", staff_id=user.id)
