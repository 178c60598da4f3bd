"""The rows a batch of Stripe events needs, loaded at once for the batch's transaction.

A worker applies a run of stored events in one transaction
(``webhook_queue.apply_stored``).  Before the first handler runs, ``load``
reads every membership, payment and supporter the batch's Stripe objects name
(by subscription, invoice, payment intent, charge and customer id) in three
queries, and locks the memberships and payments as the handlers would
(``FOR UPDATE``).  The handlers then ask ``lookup`` before they query: an id
the batch loaded is answered from here (a row, or ``None``: no row holds it),
any other id is ``UNKNOWN`` and the handler queries as it always did.

What a query would have found at the load, then, plus what the batch itself
wrote: an attribute listener records each Stripe id a row of the session takes
or gives up (a new payment, membership or supporter, a payment linked to its
charge).  A row another worker adds
meanwhile is not seen, so the batch tries to add it too and its unique key
refuses: the batch is rolled back and tried again (``webhook_queue``), and
the new load finds that row.  Outside such a batch nothing is held and every
lookup is ``UNKNOWN``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from flask import Flask
from sqlalchemy import inspect, or_, select

from app.database import listen_once
from app.extensions import db
from app.models import Membership, Payment, Supporter
from app.services.gateway import EventGateway

_KEY = "event_rows"


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


#: Not loaded by the batch: ask the database.
UNKNOWN: Final = _Unknown()

#: The payment's Stripe id columns, by the name ``lookup`` and ``note_payment`` use.
PAYMENT_IDS = {
    "invoice": Payment.stripe_invoice_id,
    "intent": Payment.stripe_payment_intent_id,
    "charge": Payment.stripe_charge_id,
}


@dataclass(frozen=True)
class StripeIds:
    """The Stripe ids an event's object names (``supporters.stripe_ids``)."""

    customer: str | None
    subscription: str | None
    invoice: str | None
    intent: str | None
    charge: str | None


@dataclass
class Rows:
    #: (kind, Stripe id) -> the row holding it, or None; kinds: subscription, customer, invoice, intent, charge
    found: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: subscriptions whose membership is locked (``FOR UPDATE``) in this transaction
    locked: set[str] = field(default_factory=set)


def current() -> Rows | None:
    rows: Rows | None = db.session.info.get(_KEY)
    return rows


def lookup(kind: str, stripe_id: str | None, *, locked: bool = False) -> Any:
    """The row the batch holds for ``stripe_id`` (or None: none has it), else ``UNKNOWN``."""
    rows = current()
    if rows is None or not stripe_id or (locked and kind == "subscription" and stripe_id not in rows.locked):
        return UNKNOWN
    return rows.found.get((kind, stripe_id), UNKNOWN)


#: The columns that name a row's Stripe id, and the kind ``lookup`` knows them by.
_ID_COLUMNS = (
    (Membership.stripe_subscription_id, "subscription"),
    (Supporter.stripe_customer_id, "customer"),
    *((column, kind) for kind, column in PAYMENT_IDS.items()),
)


def _id_set(kind: str) -> Any:
    def id_set(target: Any, value: Any, old: Any, initiator: Any) -> None:
        """A row of the batch's session takes (or gives up) a Stripe id: the batch knows it."""
        rows = current()
        if rows is None:
            return
        if isinstance(old, str) and rows.found.get((kind, old)) is target:
            rows.found[(kind, old)] = None
        if isinstance(value, str) and value:
            rows.found[(kind, value)] = target
            if kind == "subscription" and inspect(target).transient:
                rows.locked.add(value)  # a row this transaction adds is its own

    return id_set


_LISTENERS = tuple((column, _id_set(kind)) for column, kind in _ID_COLUMNS)


def init_app(app: Flask) -> None:
    """Whatever writes a Stripe id during a batch (new rows, links) keeps ``lookup`` true."""
    for column, listener in _LISTENERS:
        listen_once(column, (("set", listener),))


def load(ids: Iterable[tuple[StripeIds, bool]]) -> Rows:
    """Read (and lock) the rows of a batch's objects and hold them for this transaction.

    ``ids``: each object's ids and whether it is a subscription's (its
    membership is locked, as ``subscription_changed`` locks it; an invoice's
    membership is only read, as ``membership_for`` reads it).
    """
    rows = Rows()
    wanted: dict[str, set[str]] = {k: set() for k in ("subscription", "customer", *PAYMENT_IDS)}
    to_lock: set[str] = set()
    for each, is_subscription in ids:
        for kind in wanted:
            value = getattr(each, kind)
            if value:
                wanted[kind].add(value)
        if is_subscription and each.subscription:
            to_lock.add(each.subscription)
    for key in ((k, v) for k, values in wanted.items() for v in values):
        rows.found[key] = None
    supporter_ids: set[int] = set()
    for lock in (True, False):
        subscriptions = sorted(to_lock if lock else wanted["subscription"] - to_lock)
        if subscriptions:
            query = (
                select(Membership)
                .where(Membership.stripe_subscription_id.in_(subscriptions))
                .order_by(Membership.id)  # locked in one order: batches seldom deadlock
            )
            for membership in _fresh(query.with_for_update() if lock else query):
                rows.found[("subscription", membership.stripe_subscription_id)] = membership
                supporter_ids.add(membership.supporter_id)
    rows.locked = to_lock
    conditions = [column.in_(sorted(wanted[kind])) for kind, column in PAYMENT_IDS.items() if wanted[kind]]
    if conditions:
        query = select(Payment).where(or_(*conditions)).order_by(Payment.id).with_for_update()
        for payment in _fresh(query):
            for kind, column in PAYMENT_IDS.items():
                value = getattr(payment, column.key)
                if value and (kind, value) in rows.found:
                    rows.found[(kind, value)] = payment
            supporter_ids.add(payment.supporter_id)
    if wanted["customer"] or supporter_ids:
        query = select(Supporter).where(
            or_(Supporter.stripe_customer_id.in_(sorted(wanted["customer"])), Supporter.id.in_(supporter_ids))
        )
        for supporter in _fresh(query):  # in the session: ``membership.supporter`` needs no query
            if supporter.stripe_customer_id and ("customer", supporter.stripe_customer_id) in rows.found:
                rows.found[("customer", supporter.stripe_customer_id)] = supporter
    db.session.info[_KEY] = rows
    return rows


def _fresh(query: Any) -> list[Any]:
    return list(db.session.scalars(query.execution_options(populate_existing=True)))


def forget() -> None:
    """The batch's transaction is over: nothing is held."""
    db.session.info.pop(_KEY, None)


class RememberingGateway:
    """The gateway, each answer kept for the batch: a batch tried again asks Stripe nothing twice.

    A batch rolled back (one event failed, or another worker added a row
    first) applies its events again; an event that asked Stripe (a customer
    seen for the first time, a subscription whose events came late) is given
    the answer of a moment ago instead of asking again.  Errors are not kept.
    """

    def __init__(self, gateway: EventGateway) -> None:
        self._gateway = gateway
        self._answers: dict[tuple[str, str], Any] = {}

    def _ask(self, method: str, object_id: str) -> Any:
        key = (method, object_id)
        if key not in self._answers:
            self._answers[key] = getattr(self._gateway, method)(object_id)
        return self._answers[key]

    def retrieve_customer(self, customer_id: str) -> Any:
        return self._ask("retrieve_customer", customer_id)

    def retrieve_subscription(self, subscription_id: str) -> Any:
        return self._ask("retrieve_subscription", subscription_id)

    def retrieve_payment_intent(self, payment_intent_id: str) -> Any:
        return self._ask("retrieve_payment_intent", payment_intent_id)

    def retrieve_invoice(self, invoice_id: str) -> Any:
        return self._ask("retrieve_invoice", invoice_id)

    def retrieve_payment_method(self, payment_method_id: str) -> Any:
        return self._ask("retrieve_payment_method", payment_method_id)

    def retrieve_payout(self, payout_id: str) -> Any:
        return self._ask("retrieve_payout", payout_id)

    def payout_balance_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        return list(self._ask("payout_balance_transactions", payout_id))
