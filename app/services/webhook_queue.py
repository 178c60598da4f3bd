"""The stored events as a queue: what waits, who applies it, and waking the workers.

``webhooks.store_event`` is all the endpoint writes; ``hand_over`` then wakes
the workers (``wake_workers``, coalesced to one request per ``WAKE_EVERY``).
A worker's run (``apply_stored``) claims the stored events a batch at a time
(``SKIP LOCKED``) and applies each batch in one transaction (``apply_batch``)
until none is left; ``apply_pending`` is the beat sweep's and the operator's
way through what a lost request or a stopped worker left.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from app.extensions import db
from app.models import WebhookEvent
from app.ops import metrics
from app.services import event_rows, supporters
from app.services.gateway import EventGateway
from app.services.stripe_gateway import StripeGateway, get_gateway
from app.services.webhooks import RACE_TRIES, Applied, Stored, apply_event, apply_unmarked, mark_applied


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


@dataclass
class Drained:
    applied: dict[Applied, int]
    failed: list[str]  # events that failed: each retries on its own, with backoff
    more: bool  # stopped for time with events left: ask for another run


#: Stored events a run claims and applies in one transaction.
CLAIM_BATCH = 20


def apply_stored(seconds: float, gateway: StripeGateway | None = None) -> Drained:
    """Apply the stored events nobody has tried yet, oldest first, for at most ``seconds``.

    A batch at a time (``apply_batch``): a renewal day's events are applied
    several times faster than one by one, each in a transaction of its own.
    """
    gateway = gateway or get_gateway()
    drained = Drained(applied={}, failed=[], more=False)
    deadline = time.monotonic() + seconds
    while True:
        if time.monotonic() > deadline:
            drained.more = bool(pending_events(1, max_attempts=1))
            db.session.rollback()
            return drained
        outcomes = apply_batch(CLAIM_BATCH, gateway)
        if not outcomes:
            return drained  # none left, or the rest are in other workers' hands
        for stripe_event_id, outcome in outcomes.items():
            drained.applied[outcome] = drained.applied.get(outcome, 0) + 1
            if outcome == Applied.FAILED:
                drained.failed.append(stripe_event_id)


def _claim_batch(limit: int, ids: list[str] | None = None) -> list[WebhookEvent]:
    """Lock up to ``limit`` stored events nobody has tried yet (of ``ids``), oldest first.

    ``SKIP LOCKED``: workers share the queue, each taking events the others
    do not hold; they wait for none.  (SQLite has no row locks; its writes
    are serialised.)
    """
    query = select(WebhookEvent).where(WebhookEvent.processed_at.is_(None), WebhookEvent.attempts == 0)
    if ids is not None:
        query = query.where(WebhookEvent.stripe_event_id.in_(ids))
    query = query.order_by(WebhookEvent.created, WebhookEvent.id).limit(limit)
    return list(
        db.session.scalars(query.with_for_update(skip_locked=True).execution_options(populate_existing=True))
    )


class _HandlerFailed(Exception):
    def __init__(self, stripe_event_id: str) -> None:
        self.stripe_event_id = stripe_event_id


def apply_batch(limit: int, stripe: EventGateway) -> dict[str, Applied]:
    """Claim up to ``limit`` stored events and apply them in one transaction; their outcomes.

    The rows they need are read (and locked) at once first (``event_rows``),
    and the batch commits once.  An event whose handler fails is rolled back
    with the batch, applied alone (``apply_event``: its error is kept on it,
    for its own retries) and the rest are applied again without it.  A
    database error (another worker added the same payment first, a
    deadlock) rolls the batch back to be tried again, with the rows as they
    are then; after ``RACE_TRIES`` the events are applied one by one.
    """
    events = _claim_batch(limit)
    gateway = event_rows.RememberingGateway(stripe)
    outcomes: dict[str, Applied] = {}
    races = 0
    while events:
        ids = [e.stripe_event_id for e in events]  # read now: a rollback expires the rows
        try:
            outcomes.update(_apply_claimed(events, gateway))
            return outcomes
        except _HandlerFailed as failed:
            db.session.rollback()
            outcomes[failed.stripe_event_id] = apply_event(failed.stripe_event_id, gateway)
        except DBAPIError:
            db.session.rollback()
            races += 1
            if races >= RACE_TRIES:
                for event_id in ids:
                    outcomes[event_id] = apply_event(event_id, gateway)
                return outcomes
        left = [event_id for event_id in ids if event_id not in outcomes]
        events = _claim_batch(limit, left) if left else []
    db.session.rollback()
    return outcomes


def _apply_claimed(events: list[WebhookEvent], gateway: EventGateway) -> dict[str, Applied]:
    """The events applied in order, then all marked at once (one flush updates them together)."""
    applied: list[tuple[WebhookEvent, Applied, int | None]] = []
    event_rows.load(
        (supporters.stripe_ids(e.object, e.type), e.type.startswith("customer.subscription.")) for e in events
    )
    try:
        for event in events:
            try:
                applied.append((event, *apply_unmarked(event, gateway)))
            except DBAPIError:
                raise
            except Exception as exc:
                raise _HandlerFailed(event.stripe_event_id) from exc
        for event, _, supporter_id in applied:
            mark_applied(event, supporter_id)
        outcomes = {
            event.stripe_event_id: outcome for event, outcome, _ in applied
        }  # read before commit expires them
        db.session.commit()
        for outcome in outcomes.values():  # as apply_event counts the events it applies alone
            metrics.WEBHOOKS_APPLIED.labels(str(outcome)).inc()
    finally:
        event_rows.forget()
    return outcomes


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
