"""Who may open which /staff page.

Every view of the blueprint says who may open it with ``@allow(...)``; a view
that says nothing is refused to everyone (fail closed), and the blueprint's
``before_request`` enforces it before the view runs.

The signed-in person lives in the (signed) session cookie as their id, the
account's ``auth_version``, the key of their ``staff_session`` row
(``app/services/staff/sessions.py``, which stores only its hash) and two
times: when they signed in and when they were last seen.  A session ends after
``STAFF_IDLE_MINUTES`` without a request or ``STAFF_SESSION_HOURS`` after
sign-in (settings, 30 and 12 by default), when signed out (its row ends, so a
copy of the cookie ends with it), or when the account's credentials change
(password, role or two-factor changed, account disabled: every row of the
account ends, and ``auth_version`` moves).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, session

from app.models import StaffRole, StaffUser
from app.services.staff import directory, sessions, two_factor

F = TypeVar("F", bound=Callable[..., Any])

SESSION_KEY = "staff"
PENDING_KEY = "staff_pending"
LANG_KEY = "staff_lang"
#: Anyone may open it (the sign-in form).
PUBLIC = "public"
#: Only between the password and the second factor.
PENDING = "pending"
#: How long the second step may wait after the password.
PENDING_SECONDS = 300
#: Finance staff (and admins); admins only.
FINANCE, ADMIN = StaffRole.FINANCE, StaffRole.ADMIN


def allow(who: StaffRole | str) -> Callable[[F], F]:
    """Declare who may open a view: ``StaffRole.FINANCE`` (and admins), ``StaffRole.ADMIN``,
    ``PUBLIC`` or ``PENDING``."""

    def mark(view: F) -> F:
        view.staff_access = who  # type: ignore[attr-defined]
        return view

    return mark


def access_of(view: Callable[..., Any] | None) -> StaffRole | str | None:
    return getattr(view, "staff_access", None)


def _limits() -> tuple[float, float]:
    idle = float(current_app.config["STAFF_IDLE_MINUTES"]) * 60
    total = float(current_app.config["STAFF_SESSION_HOURS"]) * 3600
    return idle, total


def _forget() -> None:
    # Only the staff keys: a reader's pending donation or account session in the
    # same browser is left alone (a signed cookie cannot be fixated by anyone else).
    session.pop(SESSION_KEY, None)
    session.pop(PENDING_KEY, None)


def start_session(user: StaffUser) -> None:
    """A new server-side session for ``user`` in this browser (the caller commits)."""
    end_session()
    now = time.time()
    key = sessions.start(user)
    session[SESSION_KEY] = {"id": user.id, "v": user.auth_version, "key": key, "at": now, "seen": now}


def end_session() -> None:
    """This browser's session ends, on the server too (the caller commits)."""
    data = session.get(SESSION_KEY)
    if isinstance(data, dict):
        sessions.end(data.get("key"))
    _forget()


def start_pending(user: StaffUser, enrol_secret: str | None = None, next_url: str = "") -> None:
    """Between the password and the second factor.

    A secret being enrolled rides in the cookie encrypted: the cookie is signed, not secret.
    """
    _forget()
    session[PENDING_KEY] = {
        "id": user.id,
        "v": user.auth_version,
        "at": time.time(),
        "secret": two_factor.seal(enrol_secret) if enrol_secret else None,
        "next": next_url,
    }


def pending_user() -> StaffUser | None:
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict) or time.time() - float(data.get("at", 0)) > PENDING_SECONDS:
        return None
    user = directory.staff_user(data.get("id"))
    if user is None or user.disabled_at is not None or user.auth_version != data.get("v"):
        return None
    return user


def pending_secret() -> str | None:
    data = session.get(PENDING_KEY)
    sealed = data.get("secret") if isinstance(data, dict) else None
    return _opened(sealed)


def _opened(sealed: object) -> str | None:
    if not isinstance(sealed, str) or not two_factor.is_sealed(sealed):
        return None
    try:
        return two_factor.open_secret(sealed)
    except two_factor.SecretUnreadable:
        return None


def enrolment_secret(key: str) -> str:
    """The secret being enrolled from the account page, kept (encrypted) in the session under ``key``."""
    secret = _opened(session.get(key))
    if secret is None:
        secret = two_factor.new_secret()
        session[key] = two_factor.seal(secret)
    return secret


def stored_enrolment_secret(key: str) -> str | None:
    return _opened(session.get(key))


def current_staff() -> StaffUser | None:
    """The signed-in person, or None (and the session ended) if it lapsed."""
    if "staff_user" in g:
        return g.staff_user
    g.staff_user = None
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    idle, total = _limits()
    now = time.time()
    if now - float(data.get("seen", 0)) > idle or now - float(data.get("at", 0)) > total:
        end_session()
        g.staff_expired = True
        return None
    row = sessions.find(data.get("key"))
    user = directory.staff_user(data.get("id")) if row is not None else None
    if (
        user is None
        or row is None
        or row.staff_user_id != user.id
        or user.disabled_at is not None
        or user.auth_version != data.get("v")
    ):
        _forget()
        return None
    if user.role == StaffRole.ADMIN and not user.has_two_factor:
        end_session()  # made admin without a second factor: sign in again and enrol
        return None
    data["seen"] = now
    session[SESSION_KEY] = data
    g.staff_user = user
    return user
