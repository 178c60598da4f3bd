"""Staff second-factor secrets at rest: TOTP secrets encrypted, recovery codes hashed with a key.

The key strings come from ``STAFF_TOTP_KEY`` (comma-separated: the first seals
new secrets, every one opens old ones, so a key can be rotated) or, when that
is empty, from ``SECRET_KEY``.  Each string is stretched with HKDF-SHA256 and a
purpose label into one key per purpose, so the bytes that encrypt TOTP secrets
never sign a session cookie or hash a recovery code.

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
from collections.abc import Mapping
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from app.config import staff_totp_keys

PREFIX = "f1:"
TOTP_LABEL = b"newsroom-support staff TOTP secret v1"
RECOVERY_LABEL = b"newsroom-support staff recovery code v1"


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
