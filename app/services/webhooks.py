"""Stripe events: verify each delivery, store it once by its id, then apply it once.

The stored event is the durable queue: ``verify`` and ``store_event`` are all
the endpoint must do before answering, and ``apply_event(stripe_event_id)``
can run right after, in a worker, or from a sweep; it is safe to call any
number of times, from any number of processes at once.  Waking the workers
and their runs through the stored events are ``webhook_queue``'s.  ``HANDLERS`` names the function that applies each type: it takes the
Stripe object, the event's time and the gateway (sync, self-service and staff
actions call the same functions with objects they fetched).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

import sqlalchemy as sa
import stripe
from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.extensions import db
from app.models import WebhookEvent
from app.models.types import from_timestamp, utcnow
from app.ops import metrics
from app.services import bank_debits, memberships, payments, reconciliation, supporters
from app.services.account import privacy
from app.services.errors import DomainError, EventNotApplied
from app.services.gateway import EventGateway
from app.services.stripe_gateway import get_gateway

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
    "invoice.payment_action_required": payments.invoice_payment_action_required,
    "invoice_payment.paid": payments.invoice_payment_paid,
    "payment_intent.succeeded": payments.payment_intent_succeeded,
    "payment_intent.payment_failed": payments.payment_intent_failed,
    "payment_intent.processing": bank_debits.payment_intent_processing,
    "charge.refunded": payments.charge_refunded,
    "charge.dispute.created": payments.dispute_created,
    "charge.dispute.closed": payments.dispute_closed,
    "customer.updated": supporters.customer_updated,
    "customer.deleted": supporters.customer_deleted,
    "payment_method.automatically_updated": supporters.card_updated,
    "payment_method.updated": supporters.card_updated,
    "payment_method.attached": supporters.card_attached,
    "payment_method.detached": supporters.card_detached,
    "invoice.upcoming": memberships.invoice_upcoming,
    "payout.paid": reconciliation.payout_paid,
    "payout.reconciliation_completed": reconciliation.payout_reconciliation_completed,
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


#: The last second a stored time can be (9999-12-31 23:59:59 UTC); Stripe's are whole seconds now.
LATEST_CREATED = 253_402_300_799


def check_event(event: Any) -> Mapping[str, Any]:
    """The parts we rely on, or ``MalformedEvent``."""
    if not isinstance(event, Mapping):
        raise MalformedEvent("not_an_object")
    event_id, event_type, created = event.get("id"), event.get("type"), event.get("created")
    # No NUL in what is stored as text (PostgreSQL refuses it: the insert failed on every retry).
    if not (isinstance(event_id, str) and event_id.startswith("evt_") and len(event_id) <= 255) or (
        "\x00" in event_id
    ):
        raise MalformedEvent("bad_id")
    if not (isinstance(event_type, str) and 0 < len(event_type) <= 100) or "\x00" in event_type:
        raise MalformedEvent("bad_type")
    if not (isinstance(created, int) and not isinstance(created, bool) and 0 < created <= LATEST_CREATED):
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
    # Not UTF-8, not JSON, nested deeper than the parser goes (RecursionError), or not an event.
    except (ValueError, RecursionError, MalformedEvent) as exc:
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


@metrics.counts_outcome(metrics.WEBHOOKS_APPLIED)
def apply_event(stripe_event_id: str, gateway: EventGateway | None = None) -> Applied:
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
            outcome = apply_held(event, gateway)
            db.session.commit()
            return outcome
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


def apply_held(event: WebhookEvent, gateway: EventGateway) -> Applied:
    """Apply a stored event whose row this transaction has locked, and mark it; the caller commits."""
    outcome, supporter_id = apply_unmarked(event, gateway)
    mark_applied(event, supporter_id)
    return outcome


def apply_unmarked(event: WebhookEvent, gateway: EventGateway) -> tuple[Applied, int | None]:
    """What ``apply_held`` does but the mark: the outcome, and whom the event is about."""
    handler = HANDLERS.get(event.type)
    if handler is not None:
        handler(event.object, event.created, gateway)
    outcome = Applied.APPLIED if handler is not None else Applied.IGNORED
    return outcome, supporters.supporter_of(event.object, event.type)


def mark_applied(event: WebhookEvent, supporter_id: int | None) -> None:
    """The event is applied (in the transaction that applied it), about ``supporter_id``."""
    event.supporter_id = supporter_id
    privacy.forget_if_erased(event, supporter_id)
    event.processed_at = utcnow()
    event.attempts += 1
    event.last_error = None


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
