"""Bring local state up to Stripe's by walking Stripe's lists (``replay`` walks its events).

``sync`` reads subscriptions (every status), invoices, charges and customers,
page by page through the gateway, and hands each object to the handler of the
event that would have brought it (the functions ``webhooks.HANDLERS`` names),
with a time.  So a row written here is the row the webhook would have written,
emails included (``notices`` mails only about recent happenings, and the outbox
never twice about one thing).  What the time means for each list:

- subscriptions: the object is Stripe's current truth; its time is when its
  page was asked for, so the membership's ``stripe_state_at`` moves to then and
  a webhook older than that is stale.  An event applied meanwhile that is newer
  than the page wins (the usual rule in ``memberships``).
- invoices: a paid invoice is a fact (``invoice.paid``); an open, void or
  uncollectible one that was attempted is a failed charge
  (``invoice.payment_failed``).  Drafts and unattempted ones change nothing.
- charges: the payment intent's current status decides (one-time gifts: a
  succeeded or a failed intent); a refunded amount is applied as
  ``charge.refunded`` (refunds only grow).  Charges of invoices are linked to
  their invoice's payment, never doubled.
- customers: name, language and email of known supporters
  (``customer.updated``) and their default card.  A customer alone does not
  make a supporter: one is made when a subscription or a payment of theirs is.

Lists are walked in that order so that invoices find their memberships and
charges their payments.  Each object is applied and the list's cursor
(``sync_cursor``) advanced in one transaction, so an interrupted run resumes
after the last object it completed.  Running it again changes nothing but the
memberships' ``stripe_state_at`` (when Stripe last confirmed them).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import SyncCursor
from app.models.types import from_timestamp, utcnow
from app.services import bank_debits, memberships, payments, supporters
from app.services.errors import DomainError, NotFound, PaymentServiceUnavailable
from app.services.stripe_gateway import StripeGateway, get_gateway
from app.services.stripe_objects import Obj, id_of, plain
from app.services.stripe_operator import MAX_PAGE

#: The lists, in the order they are walked.
KINDS = ("subscriptions", "invoices", "charges", "customers")

#: Tries per object when a concurrent writer (a webhook) inserts the same row first.
RACE_TRIES = 3

#: Columns that record when, not what: a sync that only moves these changed nothing.
BOOKKEEPING = frozenset({"stripe_state_at", "updated_at", "created_at"})

#: One step for an object: which handler, about what, as of when.
Step = tuple[Callable[[Obj, datetime, StripeGateway], None], Obj, datetime]


class SyncInterrupted(Exception):
    """Stripe or the database failed mid-run; ``--resume`` continues after the last object."""

    def __init__(self, kind: str, object_id: str | None, cause: BaseException) -> None:
        super().__init__(f"{kind} {object_id or ''}: {type(cause).__name__}: {cause}")
        self.kind = kind
        self.object_id = object_id
        self.cause = cause


class _Skip(DomainError):
    """Nothing of ours can be made of this object."""


# -- reports ----------------------------------------------------------------------------------


@dataclass
class KindCounts:
    listed: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    #: Walked in this run (a run stopped by ``limit`` may not reach every list).
    reached: bool = False
    #: Walked to its end.
    done: bool = False
    #: Resumed: the list was finished before the interruption and not walked again.
    finished_before: bool = False
    resumed_after: str | None = None


@dataclass
class SyncReport:
    kinds: dict[str, KindCounts] = field(default_factory=lambda: {k: KindCounts() for k in KINDS})
    #: Rows created and updated, by table.
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    #: (kind, object id, reason) of each object skipped.
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    resumed: bool = False
    #: Stopped by ``limit`` before the end: ``--resume`` goes on.
    stopped: bool = False

    @property
    def processed(self) -> int:
        return sum(c.listed for c in self.kinds.values())


# -- change tracking --------------------------------------------------------------------------


class _Changes:
    """Rows one object's work inserts or really updates (not just re-timestamps)."""

    def __init__(self) -> None:
        self.created: dict[Any, str] = {}
        self.updated: dict[Any, str] = {}

    def reset(self) -> None:
        self.created.clear()
        self.updated.clear()

    def before_flush(self, session: Session, flush_context: Any, instances: Any) -> None:
        for obj in session.new:
            self.created[obj] = obj.__tablename__
        for obj in session.dirty:
            if obj in self.created or obj in self.updated:
                continue
            state = sa.inspect(obj)
            if any(
                state.attrs[prop.key].history.has_changes()
                for prop in state.mapper.column_attrs
                if prop.key not in BOOKKEEPING
            ):
                self.updated[obj] = obj.__tablename__

    def counts(self) -> tuple[Counter[str], Counter[str]]:
        ignore = SyncCursor.__tablename__
        created = Counter(t for t in self.created.values() if t != ignore)
        updated = Counter(t for o, t in self.updated.items() if t != ignore and o not in self.created)
        return created, updated


# -- what each object means -------------------------------------------------------------------


def _subscription_steps(subscription: Obj, fetched_at: datetime, gateway: StripeGateway) -> list[Step]:
    # As customer.subscription.updated would bring it.
    return [(memberships.subscription_changed, subscription, fetched_at)]


def _invoice_steps(invoice: Obj, fetched_at: datetime, gateway: StripeGateway) -> list[Step]:
    transitions = invoice.get("status_transitions") or {}
    status = invoice.get("status")
    created = from_timestamp(invoice.get("created")) or fetched_at
    if status == "paid" and int(invoice.get("amount_paid") or 0) > 0:
        return [(payments.invoice_paid, invoice, from_timestamp(transitions.get("paid_at")) or created)]
    if (
        status in ("open", "uncollectible", "void")
        and invoice.get("attempted")
        and int(invoice.get("attempt_count") or 0) > 0
        and int(invoice.get("amount_due") or 0) > 0
    ):
        failed_at = from_timestamp(transitions.get("finalized_at")) or created
        return [(payments.invoice_payment_failed, invoice, failed_at)]
    return []  # a draft, a free invoice, or one not charged yet


def _charge_steps(charge: Obj, fetched_at: datetime, gateway: StripeGateway) -> list[Step]:
    steps: list[Step] = []
    intent_ref = charge.get("payment_intent")
    if intent_ref is None:
        raise _Skip("charge_without_payment_intent")
    if isinstance(intent_ref, Mapping):
        intent = dict(intent_ref)
    else:  # not expanded after all: one fetch
        intent = plain(gateway.retrieve_payment_intent(intent_ref))
    customer = charge.get("customer")
    if isinstance(customer, Mapping) and id_of(intent.get("customer")) == customer.get("id"):
        intent["customer"] = dict(customer)  # the expanded customer: no fetch for a new supporter
    charged_at = from_timestamp(charge.get("created")) or fetched_at
    latest = id_of(intent.get("latest_charge"))
    if intent.get("status") == "succeeded" and charge.get("status") == "succeeded":
        steps.append((payments.payment_intent_succeeded, intent, charged_at))
    elif (
        intent.get("status") in ("requires_payment_method", "canceled")
        and charge.get("status") == "failed"
        and latest in (None, charge.get("id"))
    ):
        steps.append((payments.payment_intent_failed, intent, charged_at))
    elif intent.get("status") == "processing" and charge.get("status") == "pending":
        steps.append((bank_debits.payment_intent_processing, intent, charged_at))  # on its way
    if int(charge.get("amount_refunded") or 0) > 0:
        refunds = (charge.get("refunds") or {}).get("data") or []
        refunded_at = max((int(r.get("created") or 0) for r in refunds), default=0)
        steps.append((payments.charge_refunded, charge, from_timestamp(refunded_at) or charged_at))
    return steps


def _customer_steps(customer: Obj, fetched_at: datetime, gateway: StripeGateway) -> list[Step]:
    steps: list[Step] = [(supporters.customer_updated, customer, fetched_at)]
    card = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(card, Mapping) and card.get("card"):
        # As payment_method.automatically_updated would bring it.
        steps.append((supporters.card_updated, {**card, "customer": customer["id"]}, fetched_at))
    return steps


STEPS: dict[str, Callable[[Obj, datetime, StripeGateway], list[Step]]] = {
    "subscriptions": _subscription_steps,
    "invoices": _invoice_steps,
    "charges": _charge_steps,
    "customers": _customer_steps,
}


def _list_page(kind: str, gateway: StripeGateway) -> Callable[..., Any]:
    return {
        "subscriptions": gateway.list_subscriptions,
        "invoices": gateway.list_invoices,
        "charges": gateway.list_charges,
        "customers": gateway.list_customers,
    }[kind]


# -- cursors ----------------------------------------------------------------------------------


def cursors() -> dict[str, SyncCursor]:
    return {c.name: c for c in db.session.scalars(select(SyncCursor))}


def _begin(resume: bool) -> bool:
    """Reset the cursors for a new run, unless resuming an unfinished one; True if resuming."""
    found = cursors()
    unfinished = bool(found) and any(
        found.get(kind) is None or found[kind].finished_at is None for kind in KINDS
    )
    if resume and unfinished:
        for kind in KINDS:
            if kind not in found:
                db.session.add(SyncCursor(name=kind))
        db.session.commit()
        return True
    for kind in KINDS:
        cursor = found.get(kind) or SyncCursor(name=kind)
        cursor.last_id = None
        cursor.finished_at = None
        cursor.updated_at = utcnow()
        db.session.add(cursor)
    db.session.commit()
    return False


def _advance(kind: str, object_id: str | None, finished: bool = False) -> None:
    cursor = db.session.get(SyncCursor, kind, populate_existing=True) or SyncCursor(name=kind)
    if object_id is not None:
        cursor.last_id = object_id
    if finished:
        cursor.finished_at = utcnow()
    cursor.updated_at = utcnow()
    db.session.add(cursor)


# -- sync -------------------------------------------------------------------------------------


def _apply_object(
    kind: str, obj: Obj, fetched_at: datetime, gateway: StripeGateway, changes: _Changes
) -> tuple[str, str]:
    """Apply one object and advance its cursor, in one transaction: ("changed"|"unchanged"|"skipped", why)."""
    for attempt in range(1, RACE_TRIES + 1):
        changes.reset()
        try:
            for handler, payload, at in STEPS[kind](obj, fetched_at, gateway):
                handler(payload, at, gateway)
            db.session.flush()
            outcome = ("changed" if changes.created or changes.updated else "unchanged", "")
        except IntegrityError as exc:
            db.session.rollback()
            if attempt < RACE_TRIES:
                continue  # a webhook wrote the same row first: find it this time
            outcome = ("skipped", f"integrity_error: {type(exc.orig).__name__}")
        except PaymentServiceUnavailable:
            db.session.rollback()
            raise
        except DomainError as exc:  # EventNotApplied, NotFound, _Skip
            db.session.rollback()
            outcome = ("skipped", exc.code + (f" ({exc.detail})" if exc.detail else ""))
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            raise  # the database, not this object: stop (resumable)
        except Exception as exc:
            # An object our code cannot read: keep going, say which and why.
            db.session.rollback()
            current_app.logger.exception("sync: %s %s not applied", kind, obj.get("id"))
            outcome = ("skipped", f"{type(exc).__name__}: {exc}"[:300])
        if outcome[0] == "skipped":
            changes.reset()
        _advance(kind, obj["id"])
        db.session.commit()
        return outcome
    raise AssertionError("unreachable")  # pragma: no cover


def _objects(
    kind: str, gateway: StripeGateway, starting_after: str | None, page_size: int
) -> Iterator[tuple[dict[str, Any], datetime]]:
    """Every object of the list after ``starting_after``, with when its page was asked for."""
    pages = gateway.pages(_list_page(kind, gateway), starting_after=starting_after, limit=page_size)
    try:
        first = next(pages)
    except NotFound:
        if starting_after is None:
            raise
        # The object to resume after is gone at Stripe: walk this list from the top.
        current_app.logger.warning("sync: %s %s is gone at Stripe; from the top", kind, starting_after)
        pages = gateway.pages(_list_page(kind, gateway), limit=page_size)
        first = next(pages)
    for page in itertools.chain([first], pages):
        for obj in page.objects:
            yield obj, page.requested_at


def sync(
    gateway: StripeGateway | None = None,
    *,
    resume: bool = False,
    limit: int | None = None,
    page_size: int = MAX_PAGE,
    on_skip: Callable[[str, str, str], None] | None = None,
) -> SyncReport:
    """Walk Stripe's lists and apply every object; see the module's docstring.

    ``limit`` stops after that many objects (the run can be resumed);
    ``resume`` continues an unfinished run after the last completed object
    and skips the lists it finished (without an unfinished run it starts a new
    one).  Raises ``SyncInterrupted`` when Stripe or the database fails.
    """
    gateway = gateway or get_gateway()
    report = SyncReport(resumed=_begin(resume))
    changes = _Changes()
    session = db.session()
    event.listen(session, "before_flush", changes.before_flush)
    try:
        for kind in KINDS:
            counts = report.kinds[kind]
            cursor = db.session.get(SyncCursor, kind, populate_existing=True)
            if cursor is not None and cursor.finished_at is not None:
                counts.done = counts.finished_before = True
                continue
            starting_after = cursor.last_id if cursor is not None else None
            counts.resumed_after = starting_after
            counts.reached = True
            db.session.rollback()  # no transaction held open across Stripe calls
            object_id: str | None = None
            try:
                for obj, fetched_at in _objects(kind, gateway, starting_after, page_size):
                    if limit is not None and report.processed >= limit:
                        report.stopped = True
                        return report
                    object_id = obj.get("id")
                    outcome, why = _apply_object(kind, obj, fetched_at, gateway, changes)
                    counts.listed += 1
                    setattr(counts, outcome, getattr(counts, outcome) + 1)
                    if outcome == "skipped":
                        report.skipped.append((kind, str(object_id), why))
                        if on_skip:
                            on_skip(kind, str(object_id), why)
                    else:
                        created, updated = changes.counts()
                        report.created.update(created)
                        report.updated.update(updated)
                _advance(kind, None, finished=True)
                db.session.commit()
                counts.done = True
            except (PaymentServiceUnavailable, sa.exc.SQLAlchemyError) as exc:
                db.session.rollback()
                raise SyncInterrupted(kind, object_id, exc) from exc
        return report
    finally:
        event.remove(session, "before_flush", changes.before_flush)
