"""Staff accounts: argon2 passwords, TOTP second factor, lockout and rate limits.

Sign-in is two steps: ``check_password`` then, for anyone with a second
factor (every admin, and finance staff who chose one), ``check_code``.  Both
count against the same limits, kept in ``staff_sign_in_attempt`` so they hold
across processes:

- **lockout**: ``LOCK_AFTER`` failures for one email within ``LOCK_WINDOW``
  (since its last success or an admin's unlock) refuse that email, right
  password or not, until the window has passed.  Unknown emails are counted
  and answered exactly like real ones, so the answers say nothing about who
  has an account.
- **rate limit**: ``IP_LIMIT`` refused tries from one address within
  ``LOCK_WINDOW`` refuse that address.

Codes are accepted one step (30 s) early or late, and each step once.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from app.extensions import db
from app.models import SignInOutcome, StaffRole, StaffSignInAttempt, StaffUser
from app.models.types import utcnow
from app.services import audit
from app.services.errors import DomainError

LOCK_AFTER = 5
LOCK_WINDOW = timedelta(minutes=15)
IP_LIMIT = 30
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
FAILURES = (SignInOutcome.BAD_PASSWORD, SignInOutcome.BAD_CODE)
RESETS = (SignInOutcome.SUCCESS, SignInOutcome.UNLOCKED)
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


class StaffAuthError(DomainError):
    """Codes: bad_credentials, bad_code, locked, rate_limited, email_invalid, email_taken,
    password_too_short, password_too_long, two_factor_required, not_found."""


@dataclass(frozen=True)
class Refusal:
    code: str
    until: datetime | None = None


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so both take the same time."""
    return _hasher().hash(secrets.token_urlsafe(16))


def normalise_email(email: str) -> str:
    return email.strip().lower()[:254]


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise StaffAuthError("password_too_short", field="password")
    if len(password) > MAX_PASSWORD:
        raise StaffAuthError("password_too_long", field="password")
    return _hasher().hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- accounts ------------------------------------------------------------------------------


def find(email: str) -> StaffUser | None:
    return db.session.scalar(select(StaffUser).where(StaffUser.email == normalise_email(email)))


def create_staff(
    email: str, role: StaffRole, password: str, name: str = "", actor: str = "system"
) -> StaffUser:
    try:
        address = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
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
    user.auth_version += 1
    audit.record(actor, "staff.password", staff_id=user.id)


def set_role(user: StaffUser, role: StaffRole, actor: str) -> None:
    if user.role != role:
        audit.record(actor, "staff.role", staff_id=user.id, before=str(user.role), after=str(role))
        user.role = role
        user.auth_version += 1  # an admin made finance (or back) signs in again


def set_disabled(user: StaffUser, disabled: bool, actor: str) -> None:
    if disabled and user.disabled_at is None:
        user.disabled_at = utcnow()
        user.auth_version += 1
        audit.record(actor, "staff.disable", staff_id=user.id)
    elif not disabled and user.disabled_at is not None:
        user.disabled_at = None
        audit.record(actor, "staff.enable", staff_id=user.id)


def reset_two_factor(user: StaffUser, actor: str) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.auth_version += 1
    audit.record(actor, "staff.two_factor_reset", staff_id=user.id)


def unlock(email: str, actor: str, ip: str | None = None) -> None:
    _attempt(normalise_email(email), ip, SignInOutcome.UNLOCKED)
    user = find(email)
    audit.record(actor, "staff.unlock", staff_id=user.id if user else None, email=normalise_email(email))


# -- limits --------------------------------------------------------------------------------


def _attempt(email: str, ip: str | None, outcome: SignInOutcome) -> None:
    db.session.add(StaffSignInAttempt(email=email, ip=(ip or "")[:64] or None, outcome=outcome))
    db.session.flush()


def locked_until(email: str, now: datetime | None = None) -> datetime | None:
    """When the lockout of ``email`` ends, or None if it is not locked."""
    now = now or utcnow()
    since = now - LOCK_WINDOW
    reset = db.session.scalar(
        select(sa.func.max(StaffSignInAttempt.created_at)).where(
            StaffSignInAttempt.email == email,
            StaffSignInAttempt.outcome.in_(RESETS),
            StaffSignInAttempt.created_at >= since,
        )
    )
    floor = max(since, reset) if reset else since
    failures = list(
        db.session.scalars(
            select(StaffSignInAttempt.created_at)
            .where(
                StaffSignInAttempt.email == email,
                StaffSignInAttempt.outcome.in_(FAILURES),
                StaffSignInAttempt.created_at >= floor,
            )
            .order_by(StaffSignInAttempt.created_at.desc())
            .limit(LOCK_AFTER)
        )
    )
    if len(failures) < LOCK_AFTER:
        return None
    return failures[-1] + LOCK_WINDOW


def address_limited(ip: str | None, now: datetime | None = None) -> bool:
    if not ip:
        return False
    since = (now or utcnow()) - LOCK_WINDOW
    refused = db.session.scalar(
        select(sa.func.count()).where(
            StaffSignInAttempt.ip == ip[:64],
            StaffSignInAttempt.outcome != SignInOutcome.SUCCESS,
            StaffSignInAttempt.outcome != SignInOutcome.UNLOCKED,
            StaffSignInAttempt.created_at >= since,
        )
    )
    return int(refused or 0) >= IP_LIMIT


def _refuse_if_limited(email: str, ip: str | None) -> None:
    if address_limited(ip):
        _attempt(email, ip, SignInOutcome.RATE_LIMITED)
        raise StaffAuthError("rate_limited")
    until = locked_until(email)
    if until is not None:
        _attempt(email, ip, SignInOutcome.LOCKED)
        raise StaffAuthError("locked", detail=until.isoformat())


def _failed(email: str, ip: str | None, outcome: SignInOutcome, user: StaffUser | None) -> None:
    _attempt(email, ip, outcome)
    actor = user.actor if user else "anonymous"
    audit.record(actor, "staff.sign_in_failed", email=email, reason=str(outcome))
    if locked_until(email) is not None:
        audit.record(actor, "staff.locked", email=email)


# -- signing in ----------------------------------------------------------------------------


def check_password(email: str, password: str, ip: str | None) -> StaffUser:
    """Step one.  Raises ``StaffAuthError`` (bad_credentials, locked, rate_limited).

    The caller commits in every case: refused tries must be counted.
    """
    address = normalise_email(email)
    _refuse_if_limited(address, ip)
    user = find(address)
    usable = user is not None and user.disabled_at is None
    ok = _verify(user.password_hash if usable and user else _dummy_hash(), password[:MAX_PASSWORD])
    if not (ok and usable and user):
        _failed(address, ip, SignInOutcome.BAD_PASSWORD, user)
        raise StaffAuthError("bad_credentials")
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    return user


def _code_step(secret: str, code: str, last_step: int | None, now: datetime) -> int | None:
    """The 30-second step ``code`` belongs to (one step of clock drift either way), unused before."""
    code = code.translate(_DIGITS).replace(" ", "").strip()
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def check_code(user: StaffUser, code: str, ip: str | None, now: datetime | None = None) -> None:
    """Step two.  Raises ``StaffAuthError`` (bad_code, locked, rate_limited)."""
    _refuse_if_limited(user.email, ip)
    step = (
        _code_step(user.totp_secret or "", code, user.totp_last_step, now or utcnow())
        if user.totp_secret
        else None
    )
    if step is None:
        _failed(user.email, ip, SignInOutcome.BAD_CODE, user)
        raise StaffAuthError("bad_code", field="code")
    user.totp_last_step = step


def signed_in(user: StaffUser, ip: str | None) -> None:
    _attempt(user.email, ip, SignInOutcome.SUCCESS)
    user.last_sign_in_at = utcnow()
    audit.record(user.actor, "staff.sign_in", two_factor=user.has_two_factor)


# -- two-factor enrolment ------------------------------------------------------------------


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(email: str, secret: str, issuer: str) -> str:
    """The ``otpauth://`` address an authenticator app reads (as a QR code or pasted)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def enable_two_factor(
    user: StaffUser, secret: str, code: str, ip: str | None, now: datetime | None = None
) -> None:
    """Turn the second factor on once the person proves their app has ``secret``."""
    step = _code_step(secret, code, None, now or utcnow())
    if step is None:
        _failed(user.email, ip, SignInOutcome.BAD_CODE, user)
        raise StaffAuthError("bad_code", field="code")
    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    user.auth_version += 1
    audit.record(user.actor, "staff.two_factor_enabled")


def disable_two_factor(user: StaffUser, code: str, ip: str | None) -> None:
    """Finance staff may turn it off again (with a current code); admins may not."""
    if user.role == StaffRole.ADMIN:
        raise StaffAuthError("two_factor_required")
    check_code(user, code, ip)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.auth_version += 1
    audit.record(user.actor, "staff.two_factor_disabled")
