"""Staff second factor: TOTP codes, recovery codes, and how their secrets are kept at rest.

**Codes** are accepted one step (30 s) early or late, and each step once; a
wrong one counts against the sign-in limits (``app/services/staff/sign_in.py``).

**Recovery codes**: enrolling makes ten one-time codes, shown once.  At the
second step one of them stands in for the app's code (a lost phone); each
works once, its use is audited with the count left, and a person with their
app can make ten new ones (which ends the old ones).

**At rest**: the key strings come from ``STAFF_TOTP_KEY`` (comma-separated: the
first seals new secrets, every one opens old ones, so a key can be rotated) or,
when that is empty, from ``SECRET_KEY``.  Each string is stretched with
HKDF-SHA256 and a purpose label into one key per purpose, so the bytes that
encrypt TOTP secrets never sign a session cookie or hash a recovery code.

A stored TOTP secret is ``f1:`` and a Fernet token (AES-128-CBC with an
HMAC-SHA256, authenticated: a changed byte fails to open).  A value without the
prefix is a plaintext secret from before migration 0009: it is still read, and
sealed again the next time its owner signs in with it.

A recovery code is stored as HMAC-SHA256 of the account id and the code, in
hex: the codes are random (60 bits), so a keyed hash suffices and lets a code be
found with one indexed query instead of ten slow password hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import pyotp
import segno
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select

from app.config import staff_totp_keys
from app.extensions import db
from app.models import SignInOutcome, StaffRecoveryCode, StaffRole, StaffUser
from app.models.types import utcnow
from app.services import audit
from app.services.amounts import LATIN_DIGITS
from app.services.staff import accounts, sign_in
from app.services.staff.accounts import StaffAuthError

#: How many recovery codes an enrolment makes, and their letters (no 0/o, 1/l/i).
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RECOVERY_LENGTH = 12
PREFIX = "f1:"
TOTP_LABEL = b"newsroom-support staff TOTP secret v1"
RECOVERY_LABEL = b"newsroom-support staff recovery code v1"

# -- secrets at rest -----------------------------------------------------------------------


class SecretUnreadable(RuntimeError):
    """A sealed secret that none of the configured keys opens (a key was removed too soon)."""


@cache
def _derive(material: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(material.encode())


def _keys(config: Mapping[str, Any] | None) -> list[str]:
    return staff_totp_keys(current_app.config if config is None else config)


def _box(config: Mapping[str, Any] | None = None) -> MultiFernet:
    return MultiFernet([Fernet(base64.urlsafe_b64encode(_derive(key, TOTP_LABEL))) for key in _keys(config)])


def is_sealed(stored: str | None) -> bool:
    return bool(stored) and str(stored).startswith(PREFIX)


def seal(secret: str, config: Mapping[str, Any] | None = None) -> str:
    """What is stored for the base32 TOTP ``secret``."""
    return PREFIX + _box(config).encrypt(secret.encode()).decode()


def open_secret(stored: str | None, config: Mapping[str, Any] | None = None) -> str | None:
    """The base32 secret behind a stored value (a plaintext one from before 0009 as it is)."""
    if not stored:
        return None
    if not is_sealed(stored):
        return stored
    try:
        return _box(config).decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no STAFF_TOTP_KEY opens this TOTP secret") from exc


def needs_resealing(stored: str | None, config: Mapping[str, Any] | None = None) -> bool:
    """Plaintext, or sealed with a key other than the first (after a rotation)."""
    if not stored:
        return False
    if not is_sealed(stored):
        return True
    first = Fernet(base64.urlsafe_b64encode(_derive(_keys(config)[0], TOTP_LABEL)))
    try:
        first.decrypt(stored[len(PREFIX) :].encode())
    except InvalidToken:
        return True
    return False


def recovery_hashes(staff_id: int, code: str, config: Mapping[str, Any] | None = None) -> list[str]:
    """The stored form of ``code`` (normalised) under every key, the first key's first."""
    message = f"{staff_id}:{code}".encode()
    return [
        hmac.new(_derive(key, RECOVERY_LABEL), message, hashlib.sha256).hexdigest() for key in _keys(config)
    ]


# -- codes ---------------------------------------------------------------------------------


def _code_step(secret: str, code: str, last_step: int | None, now: datetime) -> int | None:
    """The 30-second step ``code`` belongs to (one step of clock drift either way), unused before."""
    code = code.translate(LATIN_DIGITS).replace(" ", "").strip()
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
        return open_secret(user.totp_secret)
    except SecretUnreadable:
        current_app.logger.error("staff %s: no STAFF_TOTP_KEY opens the TOTP secret", user.id)
        return None


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.translate(LATIN_DIGITS).lower() if ch.isalnum())


def _looks_like_totp(code: str) -> bool:
    digits = code.translate(LATIN_DIGITS).replace(" ", "").strip()
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
            StaffRecoveryCode.code_hash.in_(recovery_hashes(user.id, normalised)),
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
    sign_in.refuse_if_limited(user.email, ip)
    now = now or utcnow()
    secret = totp_secret_of(user)
    if recovery and secret and not _looks_like_totp(code):
        left = _use_recovery_code(user, code, now)
        if left is not None:
            return left
    step = _code_step(secret, code, user.totp_last_step, now) if secret else None
    if step is None:
        sign_in.record_failure(user.email, ip, SignInOutcome.BAD_CODE, user)
        raise StaffAuthError("bad_code", field="code")
    user.totp_last_step = step
    if needs_resealing(user.totp_secret):
        user.totp_secret = seal(secret or "")  # stored before 0009, or under an old key
    return None


# -- two-factor enrolment ------------------------------------------------------------------


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(email: str, secret: str, issuer: str) -> str:
    """The ``otpauth://`` address an authenticator app reads (as a QR code or pasted)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """``uri`` as a QR code in inline SVG, drawn here: the secret goes to no other server.

    Black on white with the standard four-module quiet zone whatever the page's colours (phone
    cameras read dark on light), medium error correction, sized by CSS (``.qr-code``).
    """
    code = segno.make(uri, error="m", micro=False)
    svg: str = code.svg_inline(omitsize=True, svgclass="qr-code", lineclass=None, dark="#000", light="#fff")
    return svg


def enable_two_factor(
    user: StaffUser, secret: str, code: str, ip: str | None, now: datetime | None = None
) -> list[str]:
    """Turn the second factor on once the person proves their app has ``secret``.

    Returns the ten recovery codes, to be shown this once.
    """
    step = _code_step(secret, code, None, now or utcnow())
    if step is None:
        sign_in.record_failure(user.email, ip, SignInOutcome.BAD_CODE, user)
        raise StaffAuthError("bad_code", field="code")
    user.totp_secret = seal(secret)
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    accounts.credentials_changed(user)
    audit.record(user.actor, "staff.two_factor_enabled")
    return _new_recovery_codes(user)


def disable_two_factor(user: StaffUser, code: str, ip: str | None) -> None:
    """Finance staff may turn it off again (with a current code); admins may not."""
    if user.role == StaffRole.ADMIN:
        raise StaffAuthError("two_factor_required")
    check_code(user, code, ip)
    accounts.forget_two_factor(user)
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
        digest = recovery_hashes(user.id, normalise_recovery_code(code))[0]
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
            secret = open_secret(user.totp_secret)
        except SecretUnreadable:
            unreadable.append(user.email)
            continue
        if secret and needs_resealing(user.totp_secret):
            user.totp_secret = seal(secret)
            resealed += 1
    return resealed, unreadable
