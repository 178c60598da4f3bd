"""Staff accounts: argon2 passwords, TOTP second factor, lockout and rate limits.

Sign-in is two steps: ``check_password`` then, for anyone with a second
factor (every admin, and finance staff who chose one), ``check_code``.  Both
count against the same limits, kept in ``staff_sign_in_attempt`` so they hold
across processes:

- **lockout**: ``STAFF_LOCK_AFTER`` failures for one email within
  ``STAFF_LOCK_MINUTES`` (since its last success or an admin's unlock) refuse
  that email, right password or not, until the window has passed.  Unknown
  emails are counted and answered exactly like real ones, so the answers say
  nothing about who has an account.
- **rate limit**: ``STAFF_IP_LIMIT`` refused tries from one address within
  ``STAFF_LOCK_MINUTES`` refuse that address.

(Settings, 5, 15 and 30 by default.)  Codes are accepted one step (30 s) early
or late, and each step once.  TOTP secrets are stored encrypted and recovery
codes as keyed hashes (``app/services/staff_secrets.py``).

**Recovery codes**: enrolling makes ten one-time codes, shown once.  At the
second step one of them stands in for the app's code (a lost phone); each
works once, its use is audited with the count left, and a person with their
app can make ten new ones (which ends the old ones).
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
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import SignInOutcome, StaffRecoveryCode, StaffRole, StaffSignInAttempt, StaffUser
from app.models.types import utcnow
from app.services import audit, staff_secrets
from app.services.errors import DomainError

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
FAILURES = (SignInOutcome.BAD_PASSWORD, SignInOutcome.BAD_CODE)
RESETS = (SignInOutcome.SUCCESS, SignInOutcome.UNLOCKED)
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
#: How many recovery codes an enrolment makes, and their letters (no 0/o, 1/l/i).
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RECOVERY_LENGTH = 12


def lock_after() -> int:
    return int(current_app.config["STAFF_LOCK_AFTER"])


def lock_window() -> timedelta:
    return timedelta(minutes=float(current_app.config["STAFF_LOCK_MINUTES"]))


def ip_limit() -> int:
    return int(current_app.config["STAFF_IP_LIMIT"])


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


def _forget_two_factor(user: StaffUser) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.auth_version += 1
    db.session.execute(sa.delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_user_id == user.id))


def reset_two_factor(user: StaffUser, actor: str) -> None:
    """An admin (or the CLI) forgets someone's authenticator and recovery codes: a lost phone."""
    _forget_two_factor(user)
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
    window, limit = lock_window(), lock_after()
    since = now - window
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
            .limit(limit)
        )
    )
    if len(failures) < limit:
        return None
    return failures[-1] + window


def address_limited(ip: str | None, now: datetime | None = None) -> bool:
    if not ip:
        return False
    since = (now or utcnow()) - lock_window()
    refused = db.session.scalar(
        select(sa.func.count()).where(
            StaffSignInAttempt.ip == ip[:64],
            StaffSignInAttempt.outcome != SignInOutcome.SUCCESS,
            StaffSignInAttempt.outcome != SignInOutcome.UNLOCKED,
            StaffSignInAttempt.created_at >= since,
        )
    )
    return int(refused or 0) >= ip_limit()


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


def totp_secret_of(user: StaffUser) -> str | None:
    """The account's base32 TOTP secret, opened from its stored (encrypted) form.

    None when no configured key opens it (``STAFF_TOTP_KEY`` lost the key it was
    sealed with): no code is accepted until the old key is back or an admin
    resets that person's two-factor sign-in.
    """
    try:
        return staff_secrets.open_secret(user.totp_secret)
    except staff_secrets.SecretUnreadable:
        current_app.logger.error("staff %s: no STAFF_TOTP_KEY opens the TOTP secret", user.id)
        return None


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.translate(_DIGITS).lower() if ch.isalnum())


def _looks_like_totp(code: str) -> bool:
    digits = code.translate(_DIGITS).replace(" ", "").strip()
    return len(digits) == 6 and digits.isdigit()


def _use_recovery_code(user: StaffUser, code: str, now: datetime) -> int | None:
    """Mark the unused recovery code ``code`` used; how many are left, or None if it is not one."""
    normalised = normalise_recovery_code(code)
    if len(normalised) != RECOVERY_LENGTH:
        return None
    row = db.session.scalar(
        select(StaffRecoveryCode)
        .where(
            StaffRecoveryCode.staff_user_id == user.id,
            StaffRecoveryCode.code_hash.in_(staff_secrets.recovery_hashes(user.id, normalised)),
            StaffRecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if row is None:
        return None
    row.used_at = now
    db.session.flush()
    left = recovery_codes_left(user)
    audit.record(user.actor, "staff.recovery_code_used", left=left)
    return left


def check_code(
    user: StaffUser, code: str, ip: str | None, now: datetime | None = None, *, recovery: bool = False
) -> int | None:
    """Step two: the app's current code, or with ``recovery`` one of the account's recovery codes.

    Returns None for an app code, or how many recovery codes are left after
    using one.  Raises ``StaffAuthError`` (bad_code, locked, rate_limited).
    """
    _refuse_if_limited(user.email, ip)
    now = now or utcnow()
    secret = totp_secret_of(user)
    if recovery and secret and not _looks_like_totp(code):
        left = _use_recovery_code(user, code, now)
        if left is not None:
            return left
    step = _code_step(secret, code, user.totp_last_step, now) if secret else None
    if step is None:
        _failed(user.email, ip, SignInOutcome.BAD_CODE, user)
        raise StaffAuthError("bad_code", field="code")
    user.totp_last_step = step
    if staff_secrets.needs_resealing(user.totp_secret):
        user.totp_secret = staff_secrets.seal(secret or "")  # stored before 0009, or under an old key
    return None


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
) -> list[str]:
    """Turn the second factor on once the person proves their app has ``secret``.

    Returns the ten recovery codes, to be shown this once.
    """
    step = _code_step(secret, code, None, now or utcnow())
    if step is None:
        _failed(user.email, ip, SignInOutcome.BAD_CODE, user)
        raise StaffAuthError("bad_code", field="code")
    user.totp_secret = staff_secrets.seal(secret)
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    user.auth_version += 1
    audit.record(user.actor, "staff.two_factor_enabled")
    return _new_recovery_codes(user)


def disable_two_factor(user: StaffUser, code: str, ip: str | None) -> None:
    """Finance staff may turn it off again (with a current code); admins may not."""
    if user.role == StaffRole.ADMIN:
        raise StaffAuthError("two_factor_required")
    check_code(user, code, ip)
    _forget_two_factor(user)
    audit.record(user.actor, "staff.two_factor_disabled")


# -- recovery codes ------------------------------------------------------------------------


def _recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4))


def _new_recovery_codes(user: StaffUser) -> list[str]:
    db.session.flush()
    db.session.execute(sa.delete(StaffRecoveryCode).where(StaffRecoveryCode.staff_user_id == user.id))
    codes = sorted({_recovery_code() for _ in range(RECOVERY_CODES)})
    while len(codes) < RECOVERY_CODES:  # a repeat among 31^12: never, but cheap to rule out
        codes = sorted({*codes, _recovery_code()})
    for code in codes:
        digest = staff_secrets.recovery_hashes(user.id, normalise_recovery_code(code))[0]
        db.session.add(StaffRecoveryCode(staff_user_id=user.id, code_hash=digest))
    db.session.flush()
    audit.record(user.actor, "staff.recovery_codes_created", count=len(codes))
    return codes


def recovery_codes_left(user: StaffUser) -> int:
    return int(
        db.session.scalar(
            select(sa.func.count()).where(
                StaffRecoveryCode.staff_user_id == user.id, StaffRecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def regenerate_recovery_codes(user: StaffUser, code: str, ip: str | None) -> list[str]:
    """Ten new codes in place of the old, for someone who proves they still have their app."""
    if not user.has_two_factor:
        raise StaffAuthError("bad_code", field="code")
    check_code(user, code, ip)
    return _new_recovery_codes(user)


def reseal_secrets() -> tuple[int, list[str]]:
    """Seal every TOTP secret with the first ``STAFF_TOTP_KEY`` (after adding a new key first).

    Returns how many were sealed again, and the emails whose secret no key opens.
    """
    resealed, unreadable = 0, []
    for user in db.session.scalars(select(StaffUser).where(StaffUser.totp_secret.is_not(None))):
        try:
            secret = staff_secrets.open_secret(user.totp_secret)
        except staff_secrets.SecretUnreadable:
            unreadable.append(user.email)
            continue
        if secret and staff_secrets.needs_resealing(user.totp_secret):
            user.totp_secret = staff_secrets.seal(secret)
            resealed += 1
    return resealed, unreadable
