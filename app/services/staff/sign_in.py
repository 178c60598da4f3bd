"""Staff sign-in: the password step, lockouts, address limits, and the attempts they count.

Sign-in is two steps: ``check_password`` here then, for anyone with a second
factor (every admin, and finance staff who chose one), ``two_factor.check_code``.
Both count against the same limits, kept in ``staff_sign_in_attempt`` so they
hold across processes:

- **lockout**: ``STAFF_LOCK_AFTER`` failures for one email within
  ``STAFF_LOCK_MINUTES`` (since its last success or an admin's unlock) refuse
  that email, right password or not, until the window has passed.  Unknown
  emails are counted and answered exactly like real ones, so the answers say
  nothing about who has an account.
- **rate limit**: ``STAFF_IP_LIMIT`` refused tries from one address within
  ``STAFF_LOCK_MINUTES`` refuse that address.

(Settings, 5, 15 and 30 by default.)  A password asked for again once signed in
(``change_password``) is counted and refused the same way: a signed-in browser
is no place to try passwords.  An admin's ``unlock`` is an attempt row
too: it resets the count like a success does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import SignInOutcome, StaffSignInAttempt, StaffUser
from app.models.types import utcnow
from app.services import audit
from app.services.staff import accounts
from app.services.staff.accounts import StaffAuthError
from app.services.supporters import normalize_email

FAILURES = (SignInOutcome.BAD_PASSWORD, SignInOutcome.BAD_CODE)
RESETS = (SignInOutcome.SUCCESS, SignInOutcome.UNLOCKED)


def lock_after() -> int:
    return int(current_app.config["STAFF_LOCK_AFTER"])


def lock_window() -> timedelta:
    return timedelta(minutes=float(current_app.config["STAFF_LOCK_MINUTES"]))


def ip_limit() -> int:
    return int(current_app.config["STAFF_IP_LIMIT"])


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


def refuse_if_limited(email: str, ip: str | None) -> None:
    """Raise ``StaffAuthError`` (rate_limited, locked) before a try is even looked at."""
    if address_limited(ip):
        _attempt(email, ip, SignInOutcome.RATE_LIMITED)
        raise StaffAuthError("rate_limited")
    until = locked_until(email)
    if until is not None:
        _attempt(email, ip, SignInOutcome.LOCKED)
        raise StaffAuthError("locked", detail=until.isoformat())


def record_failure(email: str, ip: str | None, outcome: SignInOutcome, user: StaffUser | None) -> None:
    """A refused password or code: counted, audited, and the lockout it causes audited."""
    _attempt(email, ip, outcome)
    actor = user.actor if user else "anonymous"
    audit.record(actor, "staff.sign_in_failed", email=email, reason=str(outcome))
    if locked_until(email) is not None:
        audit.record(actor, "staff.locked", email=email)


def unlock(email: str, actor: str, ip: str | None = None) -> None:
    _attempt(normalize_email(email), ip, SignInOutcome.UNLOCKED)
    user = accounts.find(email)
    audit.record(actor, "staff.unlock", staff_id=user.id if user else None, email=normalize_email(email))


# -- signing in ----------------------------------------------------------------------------


def check_password(email: str, password: str, ip: str | None) -> StaffUser:
    """Step one.  Raises ``StaffAuthError`` (bad_credentials, locked, rate_limited).

    The caller commits in every case: refused tries must be counted.
    """
    address = normalize_email(email)
    refuse_if_limited(address, ip)
    user = accounts.find(address)
    usable = user is not None and user.disabled_at is None
    ok = accounts.verify_password(
        user.password_hash if usable and user else None, password[: accounts.MAX_PASSWORD]
    )
    if not (ok and usable and user):
        record_failure(address, ip, SignInOutcome.BAD_PASSWORD, user)
        raise StaffAuthError("bad_credentials")
    accounts.rehash_if_outdated(user, password)
    return user


def signed_in(user: StaffUser, ip: str | None) -> None:
    _attempt(user.email, ip, SignInOutcome.SUCCESS)
    user.last_sign_in_at = utcnow()
    audit.record(user.actor, "staff.sign_in", two_factor=user.has_two_factor)


def check_current_password(user: StaffUser, password: str, ip: str | None) -> None:
    """A signed-in person's password asked for again: limited, counted and refused like a sign-in.

    Raises ``StaffAuthError`` (password_wrong, locked, rate_limited); the caller commits either way.
    """
    refuse_if_limited(user.email, ip)
    if not accounts.verify_password(user.password_hash, password[: accounts.MAX_PASSWORD]):
        record_failure(user.email, ip, SignInOutcome.BAD_PASSWORD, user)
        raise StaffAuthError("password_wrong", field="current_password")


def change_password(user: StaffUser, current: str, new: str, confirm: str, ip: str | None) -> None:
    """The account page's form.  The new password is judged first, without looking at the current
    one, so that no answer but success tells a right current password from a wrong one."""
    refuse_if_limited(user.email, ip)
    if new != confirm:
        raise StaffAuthError("password_mismatch", field="confirm_password")
    accounts.check_new_password(new)
    check_current_password(user, current, ip)
    accounts.set_password(user, new, user.actor)
