"""Signing in to the account by an emailed link, and the session it opens.

Asking for a link (``request_link``) only notes the ask: the same rows, the
same statements and the same answer for any address, so its time tells no
one whether an address is a supporter's.  A worker (``send_link``, after the
commit: ``hand_over``) looks the address up and issues the link; the email
task draws its random secret when it writes the message (``new_secret``),
and only the secret's hash is stored.

A link works once, for ``ACCOUNT_LINK_MINUTES``; asking for links is limited
per IP address and per email address.  The session lives in the signed cookie
and ends when signed out, ``ACCOUNT_SESSION_HOURS`` after the link was used,
or after ``ACCOUNT_IDLE_MINUTES`` without a request.  Every step is written to
the audit trail.  The caller (a view) owns the commit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import EmailKind, SignInAttempt, SignInToken, Supporter
from app.models.types import utcnow
from app.services import audit, outbox, supporters
from app.services.errors import AccountError

# How long links and sessions last and how often links may be asked for are
# settings (``ACCOUNT_*`` in ``app/config.py``), read when used.


def _setting(name: str) -> int:
    value: int = current_app.config[name]
    return value


def link_lifetime() -> timedelta:
    """A sign-in link works once, for this long."""
    return timedelta(minutes=_setting("ACCOUNT_LINK_MINUTES"))


def rate_window() -> timedelta:
    """Both limits on asking for links count the requests of this window."""
    return timedelta(minutes=_setting("ACCOUNT_RATE_WINDOW_MINUTES"))


def actor(supporter: Supporter) -> str:
    """Who the supporter is in the audit trail, whatever they do on their account."""
    return f"supporter:{supporter.id}"


def _secret() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode()


def email_digest(email: str) -> str:
    return hmac.new(_secret(), b"sign-in-email:" + email.encode(), hashlib.sha256).hexdigest()


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret(token: SignInToken) -> str:
    """A new random secret for the link (the previous one stops working); only its hash is kept."""
    raw = secrets.token_urlsafe(32)
    token.token_hash = _hash(raw)
    return raw


def link_url(token: SignInToken, locale: str) -> str:
    """The link to email: with a new secret, so call it once per message."""
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    return f"{base}/{locale}/account/sign-in/{new_secret(token)}"


SEND_TASK = "workers.tasks.send_sign_in_link"


def _count_recent(column: Any, value: str, since: datetime) -> int:
    query = select(sa.func.count()).select_from(SignInAttempt).where(column == value)
    return int(db.session.scalar(query.where(SignInAttempt.created_at > since)) or 0)


def request_link(email_text: str | None, ip: str | None, locale: str) -> int:
    """Note a request for a link (its id, for ``hand_over`` after the commit), the same for any address.

    Raises ``AccountError("too_many_requests")`` when this IP asked too often
    (that says nothing about any address).
    """
    email = supporters.read_email(email_text)
    now = utcnow()
    since = now - rate_window()
    # Older attempts count towards nothing; they (and their IP addresses) go.
    db.session.execute(sa.delete(SignInAttempt).where(SignInAttempt.created_at <= since))
    ip = (ip or "unknown")[:64]
    if _count_recent(SignInAttempt.ip, ip, since) >= _setting("ACCOUNT_MAX_REQUESTS_PER_IP"):
        raise AccountError("too_many_requests")
    attempt = SignInAttempt(
        email_digest=email_digest(email), ip=ip, created_at=now, email=email, locale=locale
    )
    db.session.add(attempt)
    db.session.flush()
    return int(attempt.id)


def hand_over(attempt_id: int) -> None:
    """After the commit: a worker looks the address up (``send_link``).

    A broker outage only logs: the beat sweep (``due_for_sweep``) hands it
    over later.  The tests' app may put its own step in
    ``app.extensions["sign_in_hand_over"]``.
    """
    step: Callable[[int], object] | None = current_app.extensions.get("sign_in_hand_over")
    if step is not None:
        step(attempt_id)
        return
    try:
        current_app.extensions["celery"].send_task(SEND_TASK, args=[attempt_id])
    except Exception as exc:  # any broker failure leaves the ask for the sweep
        current_app.logger.warning(
            "sign-in: broker unavailable, ask %s waits (%s)", attempt_id, type(exc).__name__
        )


def send_link(attempt_id: int) -> SignInToken | None:
    """The worker's half: a link if the address is a supporter's and not asked for too often.

    Past the limit for one address, nothing more is sent to it, silently.
    The address is forgotten once looked at; a second run does nothing.
    """
    attempt = db.session.scalar(select(SignInAttempt).where(SignInAttempt.id == attempt_id).with_for_update())
    if attempt is None or attempt.email is None:
        return None
    email, locale = attempt.email, attempt.locale or "ar"
    attempt.email = None
    since = attempt.created_at - rate_window()
    asked_before = db.session.scalar(
        select(sa.func.count())
        .select_from(SignInAttempt)
        .where(
            SignInAttempt.email_digest == attempt.email_digest,
            SignInAttempt.created_at > since,
            SignInAttempt.id < attempt.id,
        )
    )
    if (asked_before or 0) >= _setting("ACCOUNT_MAX_LINKS_PER_EMAIL"):
        return None
    supporter = db.session.scalar(
        select(Supporter).where(Supporter.email == email, Supporter.erased_at.is_(None))
    )
    if supporter is None:
        return None
    return issue_link(supporter, locale)


def due_for_sweep(older_than: timedelta = timedelta(minutes=1)) -> list[int]:
    """Asks whose hand-over never reached a worker."""
    cutoff = utcnow() - older_than
    query = select(SignInAttempt.id).where(
        SignInAttempt.email.is_not(None), SignInAttempt.created_at < cutoff
    )
    return list(db.session.scalars(query.order_by(SignInAttempt.id).limit(1000)))


def issue_link(supporter: Supporter, locale: str, now: datetime | None = None) -> SignInToken:
    """A link for the supporter, and its email; the email task draws the link's secret."""
    now = now or utcnow()
    token = SignInToken(
        supporter=supporter,
        token_hash=_hash(secrets.token_urlsafe(32)),  # a secret nobody is given, until the email's
        created_at=now,
        expires_at=now + link_lifetime(),
    )
    db.session.add(token)
    db.session.flush()
    # Several links over time, one email each: the outbox key names the link.
    outbox.queue_to(EmailKind.SIGN_IN_LINK, f"sign_in:{token.id}", supporter.email, locale, supporter)
    audit.record(actor(supporter), "account.sign_in_link", supporter_id=supporter.id, token_id=token.id)
    return token


def find_link(raw: str) -> SignInToken:
    """The link's row if it can still sign in; ``AccountError`` says why not."""
    if not raw or len(raw) > 100:
        raise AccountError("link_invalid")
    token = db.session.scalar(select(SignInToken).where(SignInToken.token_hash == _hash(raw)))
    if token is None or token.supporter.erased_at is not None:
        raise AccountError("link_invalid")
    if token.used_at is not None:
        raise AccountError("link_used")
    if token.expires_at <= utcnow():
        raise AccountError("link_expired")
    return token


def use_link(raw: str) -> SignInToken:
    """Spend the link (once, even if two requests race) and start its session."""
    token = find_link(raw)
    now = utcnow()
    spent = db.session.execute(
        sa.update(SignInToken)
        .where(SignInToken.id == token.id, SignInToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise AccountError("link_used")
    db.session.refresh(token)
    audit.record(
        actor(token.supporter), "account.sign_in", supporter_id=token.supporter_id, token_id=token.id
    )
    return token


def session_data(token: SignInToken) -> dict[str, Any]:
    """What the signed cookie keeps: which link opened the session, for whom, when, last seen when."""
    assert token.used_at is not None
    at = int(token.used_at.timestamp())
    return {"token": token.id, "supporter": token.supporter_id, "at": at, "seen": at}


def _session_token(data: Mapping[str, Any] | None) -> SignInToken | None:
    if not data or not isinstance(data.get("token"), int):
        return None
    token = db.session.get(SignInToken, data["token"])
    if token is None or token.supporter_id != data.get("supporter") or token.used_at is None:
        return None
    return token


def session_supporter(data: Mapping[str, Any] | None, now: datetime | None = None) -> Supporter:
    """The supporter whose session this is, or ``AccountError`` saying why there is none.

    ``signed_out`` (no session, signed out, erased), ``session_expired``
    (``ACCOUNT_SESSION_HOURS`` after the link was used, however active) or
    ``session_idle`` (``ACCOUNT_IDLE_MINUTES`` since the last request).  The
    sign-in time is the server's; the last request's is in the signed cookie,
    which ``touch`` moves on, so an old copy of the cookie idles out too.
    """
    token = _session_token(data)
    if token is None or token.session_ended_at is not None or token.supporter.erased_at is not None:
        raise AccountError("signed_out")
    assert data is not None and token.used_at is not None
    now = now or utcnow()
    if now - token.used_at > timedelta(hours=_setting("ACCOUNT_SESSION_HOURS")):
        raise AccountError("session_expired")
    seen = data.get("seen", data.get("at"))
    idle = timedelta(minutes=_setting("ACCOUNT_IDLE_MINUTES"))
    if not isinstance(seen, int) or now.timestamp() - seen > idle.total_seconds():
        raise AccountError("session_idle")
    return token.supporter


def signed_in_supporter(data: Mapping[str, Any] | None) -> Supporter | None:
    """The supporter whose session this is, while it lasts."""
    try:
        return session_supporter(data)
    except AccountError:
        return None


def touch(data: Mapping[str, Any]) -> dict[str, Any]:
    """The session's cookie data as of this request (the idle time starts again)."""
    return {**data, "seen": int(utcnow().timestamp())}


def sign_out(data: Mapping[str, Any] | None) -> None:
    token = _session_token(data)
    if token is None or token.session_ended_at is not None:
        return
    token.session_ended_at = utcnow()
    audit.record(actor(token.supporter), "account.sign_out", supporter_id=token.supporter_id)
