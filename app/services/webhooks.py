"""Stripe events: verify each delivery, store it once by its id, then apply it once.

The stored event is the durable queue: ``verify`` and ``store_event`` are all
the endpoint must do before answering, and ``apply_event(stripe_event_id)``
can run right after, in a worker, or from a sweep of ``pending_events()``; it
is safe to call any number of times, from any number of processes at once.
The endpoint wakes the workers (``hand_over``, ``wake_workers``, coalesced); a
worker's run (``apply_stored``) claims the stored events one by one until none
is left.  ``HANDLERS`` names the function that applies each type: it takes the
Stripe object, the event's time and the gateway (sync, self-service and staff
actions call the same functions with objects they fetched).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.extensions import db
from app.models import WebhookEvent
from app.models.types import from_timestamp, utcnow
from app.services import memberships, payments, reconciliation, supporters
from app.services.account import privacy
from app.services.errors import DomainError, EventNotApplied
from app.services.gateway import EventGateway
from app.services.stripe_gateway import StripeGateway, get_gateway

#: Tries within one call when a concurrent writer wins a unique-key race: an
#: event can lose one on each of supporter, membership and payment.
RACE_TRIES = 4
MAX_ERROR = 2000
#: Seconds a signature stays valid (Stripe's default): older ones are replays.
TOLERANCE = 300

#: A handler of one type of event: the Stripe object, the event's time, the gateway.
Handler = Callable[[Mapping[str, Any], datetime, EventGateway], None]

HANDLERS: dict[str, Handler] = {
    "customer.subscription.created": memberships.subscription_changed,
    "customer.subscription.updated": memberships.subscription_changed,
    "customer.subscription.deleted": memberships.subscription_changed,
    "invoice.paid": payments.invoice_paid,
    "invoice.payment_succeeded": payments.invoice_paid,
    "invoice.payment_failed": payments.invoice_payment_failed,
    "payment_intent.succeeded": payments.payment_intent_succeeded,
    "payment_intent.payment_failed": payments.payment_intent_failed,
    "charge.refunded": payments.charge_refunded,
    "charge.dispute.created": payments.dispute_created,
    "charge.dispute.closed": payments.dispute_closed,
    "customer.updated": supporters.customer_updated,
    "customer.deleted": supporters.customer_deleted,
    "payment_method.automatically_updated": supporters.card_updated,
    "invoice.upcoming": memberships.invoice_upcoming,
    "payout.paid": reconciliation.payout_paid,
    "payout.failed": reconciliation.payout_failed,
    "payout.canceled": reconciliation.payout_failed,
    "payout.updated": reconciliation.payout_updated,
}


class MalformedEvent(DomainError):
    """A correctly signed body that is not a Stripe event we can store."""


class RefusedDelivery(DomainError):
    """Codes: missing_signature, bad_signature, malformed_event (the endpoint answers 400)."""


@dataclass(frozen=True)
class Stored:
    stripe_event_id: str
    new: bool


class Applied(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"  # a type we do not act on: stored and marked processed
    ALREADY = "already"  # processed before (a duplicate, or another worker won)
    FAILED = "failed"  # error kept on the row, left for a retry
    MISSING = "missing"


def livemode_expected(secret_key: str) -> bool:
    """Live keys see live events; test keys (and localstripe) see test events."""
    return secret_key.startswith(("sk_live_", "rk_live_"))


def check_event(event: Any) -> Mapping[str, Any]:
    """The parts we rely on, or ``MalformedEvent``."""
    if not isinstance(event, Mapping):
        raise MalformedEvent("not_an_object")
    event_id, event_type, created = event.get("id"), event.get("type"), event.get("created")
    if not (isinstance(event_id, str) and event_id.startswith("evt_") and len(event_id) <= 255):
        raise MalformedEvent("bad_id")
    if not (isinstance(event_type, str) and 0 < len(event_type) <= 100):
        raise MalformedEvent("bad_type")
    if not (isinstance(created, int) and not isinstance(created, bool) and created > 0):
        raise MalformedEvent("bad_created")
    data = event.get("data")
    if not (isinstance(data, Mapping) and isinstance(data.get("object"), Mapping)):
        raise MalformedEvent("no_object")
    return event


def _not_json(constant: str) -> float:
    """``NaN`` and ``Infinity`` are Python's, not JSON's (nor PostgreSQL's)."""
    raise ValueError(constant)


def verify(payload: bytes, signature: str) -> tuple[Mapping[str, Any], str]:
    """The event in a body Stripe signed, and its text as sent; or ``RefusedDelivery``.

    The signature part of ``stripe.Webhook.construct_event``; its other part
    builds a StripeObject, which we do not use and which fails on a signed
    body that is not an object.
    """
    if not signature:
        raise RefusedDelivery("missing_signature")
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, current_app.config["STRIPE_WEBHOOK_SECRET"], tolerance=TOLERANCE
        )
        text = payload.decode()  # Stripe sends UTF-8; the text is stored as it came
        event = check_event(json.loads(text, parse_constant=_not_json))
    except stripe.SignatureVerificationError as exc:
        raise RefusedDelivery("bad_signature") from exc
    except (ValueError, MalformedEvent) as exc:  # not UTF-8, not JSON, or not an event
        raise RefusedDelivery("malformed_event") from exc
    return event, text


def store_event(event: Mapping[str, Any], raw: str | None = None) -> Stored:
    """Insert the event unless its id is stored already, committed at once.

    One statement that cannot fail on a duplicate, so that two deliveries at
    the same moment both succeed and only one row exists.  ``ON CONFLICT DO
    NOTHING`` on the event id only (not SQLite's ``INSERT OR IGNORE``, which
    would also swallow a failed CHECK).  ``raw`` is the body exactly as Stripe
    sent it, stored as it is (without it the event is written out as JSON).

    The insert is all the endpoint writes, so it runs in a short transaction
    of its own on the engine rather than in the session, whose bookkeeping
    cost as much as the insert (``bench/webhooks.py``).  Call it with nothing
    written in the session yet: on SQLite a second writer waits for the first.
    """
    check_event(event)
    values = {
        "stripe_event_id": event["id"],
        "type": event["type"],
        "livemode": bool(event.get("livemode")),
        "created": from_timestamp(event["created"]),
        "raw_payload": raw if raw is not None else json.dumps(dict(event)),
        "received_at": utcnow(),
        "attempts": 0,
    }
    with db.engine.begin() as connection:
        statement = _insert_unless_stored(connection.dialect.name)
        inserted = connection.execute(statement, values).scalar_one_or_none()
    return Stored(stripe_event_id=event["id"], new=inserted is not None)


@cache
def _insert_unless_stored(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (stripe_event_id) DO NOTHING RETURNING id``, built once.

    On the table with the values as parameters, not on the mapped class with
    the values in the statement: building and caching that statement anew for
    every delivery took a third of the endpoint's time (``bench/webhooks.py``).
    The payload is given as JSON text (``raw_payload``), not parsed and
    written out again.
    """
    table = WebhookEvent.__table__
    text = sa.bindparam("raw_payload", type_=sa.Text())
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table).values(payload=sa.cast(text, table.c.payload.type))
    elif dialect == "sqlite":
        statement = sqlite.insert(table).values(payload=text)  # SQLite keeps JSON as text
    else:  # pragma: no cover - we run on PostgreSQL and SQLite only
        raise RuntimeError(f"no duplicate-tolerant insert for {dialect}")
    return statement.on_conflict_do_nothing(index_elements=["stripe_event_id"]).returning(table.c.id)


def _lock(stripe_event_id: str) -> WebhookEvent | None:
    # FOR UPDATE: a second worker on the same event waits here, then sees it
    # processed.  (SQLite has no row locks; its writes are serialised anyway.)
    return db.session.scalar(
        select(WebhookEvent)
        .where(WebhookEvent.stripe_event_id == stripe_event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        text = f"{type(exc).__name__}: {exc.code}" + (f" ({exc.detail})" if exc.detail else "")
    elif isinstance(exc, DBAPIError):
        text = f"{type(exc).__name__}: {type(exc.orig).__name__}: {str(exc.orig).splitlines()[0]}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR]


def apply_event(stripe_event_id: str, gateway: StripeGateway | None = None) -> Applied:
    """Apply one stored event once: lock its row, skip it if processed, apply, mark.

    Commits its own transactions: the work and the mark commit together; if
    the work fails it is rolled back and the error is committed on the event
    (``attempts``, ``last_error``), which stays unprocessed for a later try.
    """
    gateway = gateway or get_gateway()
    for attempt in range(1, RACE_TRIES + 1):
        event = _lock(stripe_event_id)
        if event is None:
            db.session.rollback()
            return Applied.MISSING
        if event.processed_at is not None:
            db.session.rollback()
            return Applied.ALREADY
        try:
            handler = HANDLERS.get(event.type)
            if handler is not None:
                handler(event.object, event.created, gateway)
            event.supporter_id = supporters.supporter_of(event.object, event.type)
            privacy.forget_if_erased(event, event.supporter_id)
            event.processed_at = utcnow()
            event.attempts += 1
            event.last_error = None
            db.session.commit()
            return Applied.APPLIED if handler is not None else Applied.IGNORED
        except IntegrityError as exc:
            # Another transaction inserted the same supporter/membership/payment
            # first; run again and find its row.
            db.session.rollback()
            if attempt < RACE_TRIES:
                continue
            return _failed(stripe_event_id, exc)
        except Exception as exc:  # the stored events wait for the next request or the sweep
            db.session.rollback()
            return _failed(stripe_event_id, exc)
    raise AssertionError("unreachable")  # pragma: no cover


def _failed(stripe_event_id: str, exc: BaseException) -> Applied:
    if isinstance(exc, EventNotApplied):
        current_app.logger.warning("stripe event %s not applied: %s", stripe_event_id, _describe(exc))
    else:
        current_app.logger.exception("stripe event %s failed", stripe_event_id)
    event = _lock(stripe_event_id)
    if event is not None and event.processed_at is None:
        event.attempts += 1
        event.last_error = _describe(exc)
    db.session.commit()
    return Applied.FAILED


def pending_events(
    limit: int = 100, received_before: datetime | None = None, max_attempts: int | None = None
) -> list[str]:
    """Ids of stored events not applied yet, oldest first (for a sweep or a command)."""
    query = select(WebhookEvent.stripe_event_id).where(WebhookEvent.processed_at.is_(None))
    if received_before is not None:
        query = query.where(WebhookEvent.received_at < received_before)
    if max_attempts is not None:
        query = query.where(WebhookEvent.attempts < max_attempts)
    return list(db.session.scalars(query.order_by(WebhookEvent.created, WebhookEvent.id).limit(limit)))


def apply_pending(
    limit: int = 100,
    gateway: StripeGateway | None = None,
    received_before: datetime | None = None,
    max_attempts: int | None = None,
) -> dict[Applied, int]:
    """Apply what is left unapplied, oldest first; count the outcomes."""
    counts: dict[Applied, int] = {}
    ids = pending_events(limit, received_before, max_attempts)
    db.session.rollback()
    for stripe_event_id in ids:
        outcome = apply_event(stripe_event_id, gateway)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def event_counts() -> dict[str, int]:
    """How many events are stored, applied, and waiting with an error."""
    total, waiting, failing = db.session.execute(
        select(
            sa.func.count(),
            sa.func.count().filter(WebhookEvent.processed_at.is_(None)),
            sa.func.count().filter(WebhookEvent.processed_at.is_(None), WebhookEvent.last_error.is_not(None)),
        )
    ).one()
    return {"stored": total, "waiting": waiting, "failing": failing}


def claim(stripe_event_id: str) -> bool:
    """Lock a stored event nobody has tried yet, until the transaction ends; False if taken.

    ``SKIP LOCKED``: workers applying stored events at the same time each
    take another one instead of waiting.  (SQLite has no row locks; its
    writes are serialised.)  Events that failed once are left to their own
    retries (``attempts > 0``).
    """
    return (
        db.session.scalar(
            select(WebhookEvent.id)
            .where(
                WebhookEvent.stripe_event_id == stripe_event_id,
                WebhookEvent.processed_at.is_(None),
                WebhookEvent.attempts == 0,
            )
            .with_for_update(skip_locked=True)
        )
        is not None
    )


@dataclass
class Drained:
    applied: dict[Applied, int]
    failed: list[str]  # events that failed: each retries on its own, with backoff
    more: bool  # stopped for time with events left: ask for another run


#: Stored events a run looks up at once: one sorted read of the queue per batch, then each by its id.
CLAIM_BATCH = 200


def apply_stored(seconds: float, gateway: StripeGateway | None = None) -> Drained:
    """Apply the stored events nobody has tried yet, oldest first, for at most ``seconds``.

    The oldest ``CLAIM_BATCH`` are read at once (sorting the whole queue for
    each event took longer than applying it, on a renewal day's backlog),
    then each is claimed by its id and applied in the claiming transaction.
    """
    drained = Drained(applied={}, failed=[], more=False)
    deadline = time.monotonic() + seconds
    while True:
        batch = pending_events(CLAIM_BATCH, max_attempts=1)
        db.session.rollback()
        claimed = False
        for stripe_event_id in batch:
            if time.monotonic() > deadline:
                drained.more = True
                return drained
            if not claim(stripe_event_id):
                db.session.rollback()  # another worker has it, or has applied it
                continue
            claimed = True
            outcome = apply_event(stripe_event_id, gateway)  # the claim's lock holds until it commits
            drained.applied[outcome] = drained.applied.get(outcome, 0) + 1
            if outcome == Applied.FAILED:
                drained.failed.append(stripe_event_id)
        if not claimed:
            return drained  # none left, or the rest are in other workers' hands


APPLY_TASK = "workers.tasks.apply_webhook_event"
APPLY_STORED_TASK = "workers.tasks.apply_stored_webhooks"
#: A web process asks the workers to apply stored events at most this often.
WAKE_EVERY = 0.25


class _Waker:
    """One request to the workers per ``WAKE_EVERY`` per process, not one per event.

    Publishing a task costs the endpoint as much as verifying and storing the
    event (``bench/webhooks.py``), and one worker run applies every event
    stored before it looks.  The first event after a quiet spell asks at
    once; any event stored less than ``WAKE_EVERY`` after that asks again
    when the interval ends (a timer), so that an event stored just after a
    worker found nothing left waits at most ``WAKE_EVERY``.  A request lost
    with the broker leaves the events stored: the next request or the beat
    sweep applies them.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._last = -WAKE_EVERY
        self._timer: threading.Timer | None = None

    def wake(self) -> bool:
        with self._lock:
            wait = self._last + WAKE_EVERY - time.monotonic()
            if wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._again)
                    self._timer.daemon = True
                    self._timer.start()
                return True
            self._last = time.monotonic()
        sent = self._send()
        if not sent:
            with self._lock:
                self._last = -WAKE_EVERY  # the next event asks again
        return sent

    def _again(self) -> None:
        with self._lock:
            self._timer = None
            self._last = time.monotonic()
        self._send()

    def _send(self) -> bool:
        try:
            self.app.extensions["celery"].send_task(APPLY_STORED_TASK)
        except Exception as exc:
            self.app.logger.warning("stripe events stored; broker unavailable (%s)", type(exc).__name__)
            return False
        return True


def wake_workers() -> bool:
    """Ask a worker to apply the stored events (coalesced: see ``_Waker``)."""
    waker = current_app.extensions.get("webhook_waker")
    if waker is None:
        waker = current_app.extensions["webhook_waker"] = _Waker(current_app._get_current_object())  # type: ignore[attr-defined]
    return bool(waker.wake())


def hand_over(stored: Stored) -> str:
    """After storing: the workers are woken for a new event, and Stripe is told "queued".

    Another step may stand in ``app.extensions["webhook_hand_over"]``: the tests'
    app applies each delivery at once and answers its outcome (``tests/conftest.py``).
    """
    step: Callable[[Stored], str] | None = current_app.extensions.get("webhook_hand_over")
    if step is not None:
        return step(stored)
    if stored.new:
        wake_workers()
    return "queued"
