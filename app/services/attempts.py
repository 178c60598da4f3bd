"""Card-testing defence: judge each payment attempt before Stripe hears of it.

Card testers use a $1 page to learn which stolen cards work: thousands of
small attempts, from a few addresses, with ever new emails and cards.  A real
reader tries once, perhaps twice with another card.  So what is counted is
*unfinished* attempts (started, declined, refused) within a window, per:

- IP address (``ATTEMPTS_PER_IP``, per hour),
- email address (``ATTEMPTS_PER_EMAIL``, per hour),
- card fingerprint (``DECLINES_PER_CARD``, declines per day: the same card
  declined again and again is being tested),
- browser session (``DECLINES_PER_SESSION``, declines per day).

A successful payment never counts against anyone, so a newsroom office or a
mobile carrier's shared address is not blocked by its own donors.  A form whose
hidden honeypot field is filled in is refused without a word to Stripe.  When
``ATTEMPTS_SPIKE`` attempts are refused within an hour, finance staff get one
email for that hour.  Addresses, emails and card fingerprints are kept as
keyed hashes for a week (``purge``), never in the clear.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import AttemptOutcome, EmailKind, PaymentAttempt
from app.models.types import utcnow
from app.ops import metrics
from app.services import outbox
from app.services.errors import DomainError
from app.services.supporters import normalize_email

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
KEEP = timedelta(days=7)
UNFINISHED = (AttemptOutcome.STARTED, AttemptOutcome.DECLINED, AttemptOutcome.REFUSED, AttemptOutcome.TRAPPED)
SESSION_KEY = "attempt_key"


class TooManyAttempts(DomainError):
    """Refused before reaching Stripe; the reader is asked to wait."""

    def __init__(self, limit: str) -> None:
        super().__init__("too_many_attempts")
        self.limit = limit
        metrics.CARD_TESTERS.labels(limit).inc()


@dataclass(frozen=True)
class Visitor:
    """Who is trying to pay, as the request tells it."""

    ip: str
    session_key: str
    user_agent: str = ""


def new_session_key() -> str:
    return secrets.token_hex(16)


def _digest(purpose: str, value: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"attempt-{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def _count(column: Any, value: str, since: datetime, outcomes: tuple[AttemptOutcome, ...]) -> int:
    return _scalar_int(
        sa.select(sa.func.count())
        .select_from(PaymentAttempt)
        .where(column == value, PaymentAttempt.created_at >= since, PaymentAttempt.outcome.in_(outcomes))
    )


def _scalar_int(query: Any) -> int:
    return int(db.session.scalar(query) or 0)


def _limit(name: str) -> int:
    return int(current_app.config[name])


def admit(visitor: Visitor, email: str, trapped: bool = False) -> PaymentAttempt:
    """Record an attempt to start paying, or refuse it (``TooManyAttempts``).

    A refusal is recorded too (it counts towards the spike alert and keeps
    the tester refused); the caller commits either way.
    """
    now = utcnow()
    attempt = PaymentAttempt(
        created_at=now,
        ip_hash=_digest("ip", visitor.ip),
        email_hash=_digest("email", normalize_email(email)) if email else None,
        session_key=visitor.session_key,
        outcome=AttemptOutcome.STARTED,
    )
    refused_by = "honeypot" if trapped else _broken_limit(attempt, now)
    db.session.add(attempt)
    if refused_by is None:
        db.session.flush()
        return attempt
    attempt.outcome = AttemptOutcome.TRAPPED if trapped else AttemptOutcome.REFUSED
    attempt.reason = refused_by
    db.session.flush()
    _alert_on_spike(now)
    raise TooManyAttempts(refused_by)


def _broken_limit(attempt: PaymentAttempt, now: datetime) -> str | None:
    if _count(PaymentAttempt.ip_hash, attempt.ip_hash, now - HOUR, UNFINISHED) >= _limit("ATTEMPTS_PER_IP"):
        return "ip"
    if attempt.email_hash and _count(
        PaymentAttempt.email_hash, attempt.email_hash, now - HOUR, UNFINISHED
    ) >= _limit("ATTEMPTS_PER_EMAIL"):
        return "email"
    declined = (AttemptOutcome.DECLINED,)
    if _count(PaymentAttempt.session_key, attempt.session_key, now - DAY, declined) >= _limit(
        "DECLINES_PER_SESSION"
    ):
        return "session"
    return None


def check_card(attempt_id: int | None, fingerprint: str | None) -> None:
    """Before charging a card: refuse one that was declined too often today."""
    if not fingerprint:
        return
    card_hash = _digest("card", fingerprint)
    attempt = db.session.get(PaymentAttempt, attempt_id) if attempt_id else None
    if attempt is not None:
        attempt.card_hash = card_hash
    now = utcnow()
    declines = _count(PaymentAttempt.card_hash, card_hash, now - DAY, (AttemptOutcome.DECLINED,))
    if declines >= _limit("DECLINES_PER_CARD"):
        if attempt is not None:
            attempt.outcome = AttemptOutcome.REFUSED
            attempt.reason = "card"
        _alert_on_spike(now)
        raise TooManyAttempts("card")


def started(attempt_id: int | None, intent_id: str) -> None:
    """Stripe made an intent for this attempt (its decline may come back by webhook)."""
    attempt = db.session.get(PaymentAttempt, attempt_id) if attempt_id else None
    if attempt is not None:
        attempt.stripe_intent_id = intent_id


def key(attempt_id: int | None) -> str:
    """A name for the attempt that no other attempt has had, for idempotency keys ("" without one).

    The row id alone could come back after a database reset; the browser's random
    session key with it cannot.
    """
    attempt = db.session.get(PaymentAttempt, attempt_id) if attempt_id else None
    return f"attempt-{attempt.id}-{attempt.session_key}" if attempt is not None else ""


def recent_intent(email: str, attempt_id: int | None) -> str | None:
    """The intent of this browser's latest unfinished attempt with this email within the hour, if any.

    Its customer is reused, so that a reader's failed tries leave one Stripe customer.
    Only the same browser session's (``session_key``): another browser typing the
    address is somebody else until proven otherwise, and gets a customer of its own.
    The caller learns nothing it could show: the reader still gets a new intent.
    """
    attempt = db.session.get(PaymentAttempt, attempt_id) if attempt_id else None
    if attempt is None:
        return None
    now = utcnow()
    found: str | None = db.session.scalar(
        sa.select(PaymentAttempt.stripe_intent_id)
        .where(
            PaymentAttempt.email_hash == _digest("email", normalize_email(email)),
            PaymentAttempt.session_key == attempt.session_key,
            PaymentAttempt.created_at >= now - HOUR,
            PaymentAttempt.stripe_intent_id.is_not(None),
            PaymentAttempt.outcome.in_(UNFINISHED),
            PaymentAttempt.id != attempt.id,
        )
        .order_by(PaymentAttempt.created_at.desc(), PaymentAttempt.id.desc())
        .limit(1)
    )
    return found


def finish(
    attempt_id: int | None,
    outcome: AttemptOutcome,
    reason: str | None = None,
    card_fingerprint: str | None = None,
) -> None:
    """The attempt ended: paid, or declined by Stripe (with its code)."""
    attempt = db.session.get(PaymentAttempt, attempt_id) if attempt_id else None
    if attempt is not None:
        _end(attempt, outcome, reason, card_fingerprint)


def _end(
    attempt: PaymentAttempt, outcome: AttemptOutcome, reason: str | None, card_fingerprint: str | None
) -> None:
    if attempt.outcome == AttemptOutcome.SUCCEEDED:
        return  # a late decline webhook for an intent that was paid after all changes nothing
    attempt.outcome = outcome
    attempt.reason = reason[:64] if reason else None
    if card_fingerprint:
        attempt.card_hash = _digest("card", card_fingerprint)


def declined_by_stripe(intent_id: str, code: str, card_fingerprint: str | None) -> bool:
    """``payment_intent.payment_failed``: a card declined in the browser counts like one declined here.

    Idempotent: a second delivery writes the same values again.  True when
    the support page started this payment intent (a one-time gift's).
    """
    attempt = db.session.scalar(sa.select(PaymentAttempt).where(PaymentAttempt.stripe_intent_id == intent_id))
    if attempt is not None:
        _end(attempt, AttemptOutcome.DECLINED, code, card_fingerprint)
    return attempt is not None


def _hour_number(moment: datetime) -> int:
    return int(moment.timestamp() // 3600)


def hour_window(hour_number: int) -> tuple[datetime, datetime]:
    start = datetime.fromtimestamp(hour_number * 3600, tz=utcnow().tzinfo)
    return start, start + HOUR


def _alert_on_spike(now: datetime) -> None:
    refused = _count_outcomes(now - HOUR, now, (AttemptOutcome.REFUSED, AttemptOutcome.TRAPPED))
    if refused < _limit("ATTEMPTS_SPIKE"):
        return
    config = current_app.config
    outbox.queue_to(
        EmailKind.ATTEMPTS_SPIKE,
        f"attempts:{_hour_number(now)}",
        config["FINANCE_NOTIFY_EMAIL"],
        config["FINANCE_NOTIFY_LOCALE"],
    )


def _count_outcomes(start: datetime, end: datetime, outcomes: tuple[AttemptOutcome, ...]) -> int:
    return _scalar_int(
        sa.select(sa.func.count())
        .select_from(PaymentAttempt)
        .where(
            PaymentAttempt.created_at >= start,
            PaymentAttempt.created_at < end,
            PaymentAttempt.outcome.in_(outcomes),
        )
    )


def summary(start: datetime, end: datetime) -> dict[str, int]:
    """Attempts in ``[start, end)`` by outcome (for the staff alert)."""
    rows = db.session.execute(
        sa.select(PaymentAttempt.outcome, sa.func.count())
        .where(PaymentAttempt.created_at >= start, PaymentAttempt.created_at < end)
        .group_by(PaymentAttempt.outcome)
    )
    counts = {outcome.value: 0 for outcome in AttemptOutcome}
    counts.update({AttemptOutcome(outcome).value: n for outcome, n in rows})
    return counts


def purge(now: datetime | None = None) -> int:
    """Forget attempts older than a week."""
    cutoff = (now or utcnow()) - KEEP
    result = db.session.execute(sa.delete(PaymentAttempt).where(PaymentAttempt.created_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
