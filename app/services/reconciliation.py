"""Payouts: does the money that reached the bank match what readers gave?

``record_payout`` runs when ``payout.paid`` and ``payout.reconciliation_completed``
are applied: it stores the payout and the balance transactions Stripe paid out
in it (fetched through the gateway, the only Stripe call here).  Stripe's list
is final only once the payout's ``reconciliation_status`` is ``completed``
(usually some hours after ``payout.paid``, announced by
``payout.reconciliation_completed``): ``payout.paid`` reads it only if it
already says ``completed``; while ``in_progress`` the payout waits for the
completed event.  A payload that does not say (an older shape) is read as a
first look and read again at the completed event.  Once a completed list is
stored it is never read again.  Events may come in any order: the completed
event alone records the payout too.  Everything else reads our tables.

How a payout is checked.  Every transaction in it is valued twice: as Stripe
reports it, and as our records say it should be:

- a charge: the payment we recorded for that charge (converted at Stripe's
  exchange rate when the payout's currency differs), or nothing if we have no
  such payment;
- a refund: Stripe's amount when the charge is one of our payments and we
  recorded at least that much refunded on it, else nothing;
- anything else (disputes, adjustments, Stripe's own fees): Stripe's word,
  since we keep no record of it.

Fees are Stripe's.  The payout's **difference** is its amount less the sum of
what our records expect (amount less fee, for each transaction).  It is zero
when every charge and refund in the payout is in our database with the same
amount; a charge we never recorded shows up as its net amount.

A payout's **status** follows Stripe's events: ``payout.paid``, then possibly
``payout.failed`` (the bank refused it, even days after "paid") or
``payout.canceled``; ``payout.updated`` moves the status of a payout we have.
Failed and canceled are final, and an event older than the one whose status is
stored changes nothing, so events may arrive in any order.  A payout that did
not reach the bank is never shown as matching.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import PAYOUT_FINAL_STATUSES, Payment, Payout, PayoutTransaction, Supporter
from app.models.types import from_timestamp, utcnow
from app.services import notices
from app.services.gateway import EventGateway
from app.services.stripe_objects import id_of

CHARGE_TYPES = ("charge", "payment")
REFUND_TYPES = ("refund", "payment_refund")
#: The payout's own entry in its list (money leaving the balance): not part of the sum.
PAYOUT_TYPES = ("payout", "payout_cancel", "payout_failure")
DISPUTE_CATEGORIES = ("dispute", "dispute_reversal")
#: Statuses no later event changes (Stripe's payout lifecycle ends there).


def _charge_of(transaction: Mapping[str, Any]) -> str | None:
    """The charge a balance transaction is about (its source, or the refunded / disputed charge)."""
    source = transaction.get("source")
    source_id = id_of(source)
    if source_id and source_id.startswith(("ch_", "py_")):
        return source_id
    if isinstance(source, Mapping):
        return id_of(source.get("charge"))
    return None


def _payout_row(payout: Mapping[str, Any], create: bool) -> Payout | None:
    """Our row for a Stripe payout, locked, with Stripe's facts; a new one when ``create``."""
    row = db.session.scalar(select(Payout).where(Payout.stripe_payout_id == payout["id"]).with_for_update())
    if row is None:
        if not create:
            return None
        row = Payout(stripe_payout_id=payout["id"], transactions_loaded=False)
        db.session.add(row)
    row.amount = int(payout.get("amount") or 0)
    row.currency = str(payout.get("currency") or "").lower()
    row.automatic = bool(payout.get("automatic", True))
    row.arrival_date = from_timestamp(payout.get("arrival_date")) or from_timestamp(payout.get("created"))
    row.stripe_created = from_timestamp(payout.get("created"))
    return row


def _take_status(row: Payout, payout: Mapping[str, Any], at: datetime | None) -> bool:
    """Store the payout's status unless a final one is stored or an event newer than ``at`` gave
    the stored one; True if it changed."""
    status = str(payout.get("status") or "")
    if not status or row.status in PAYOUT_FINAL_STATUSES:
        return False
    if status not in PAYOUT_FINAL_STATUSES and at and row.status_at and at < row.status_at:
        return False
    moved = row.status != status
    row.status = status
    row.status_at = at or utcnow()
    if status in PAYOUT_FINAL_STATUSES:
        row.failure_code = str(payout.get("failure_code") or "")[:64] or None
        row.failure_message = str(payout.get("failure_message") or "")[:500] or None
    return moved


#: Stripe's ``reconciliation_status`` once the payout's list of transactions is final.
RECONCILED = "completed"


def _needs_reading(row: Payout, reconciliation_status: str | None) -> bool:
    """Read the list when Stripe says it is complete (unless a complete one is stored); while Stripe
    is still reconciling, wait for ``payout.reconciliation_completed``; a payload that does not
    say (an older shape) is read once as a first look, and again when the completed event comes."""
    if row.transactions_loaded and row.reconciliation_status == RECONCILED:
        return False
    if reconciliation_status == RECONCILED:
        return True
    if reconciliation_status == "in_progress":
        return False
    return not row.transactions_loaded


def record_payout(
    payout: Mapping[str, Any], gateway: EventGateway, event_time: datetime | None = None
) -> Payout:
    """Store a paid payout and its transactions; a repeated event changes nothing.

    The list is read again (replacing the first one) when the payout's
    ``reconciliation_status`` became ``completed`` after it was read.
    """
    facts = {**payout, "status": payout.get("status") or "paid"}
    row = _payout_row(facts, create=True)
    assert row is not None
    _take_status(row, facts, event_time)
    reconciliation_status = str(payout.get("reconciliation_status") or "") or None
    reading = _needs_reading(row, reconciliation_status)
    if row.reconciliation_status != RECONCILED and reconciliation_status:
        row.reconciliation_status = reconciliation_status  # never back from completed
    if not reading:
        return row
    db.session.flush()
    if row.transactions_loaded:
        # A first look, read while Stripe was still reconciling: the completed list replaces it.
        for old in list(row.transactions):
            db.session.delete(old)
        db.session.flush()
    if row.automatic:
        # Stripe lists the transactions of automatic payouts only.
        for transaction in gateway.payout_balance_transactions(payout["id"]):
            if transaction.get("type") in PAYOUT_TYPES:
                continue
            source_id = id_of(transaction.get("source"))
            db.session.add(
                PayoutTransaction(
                    payout=row,
                    stripe_balance_transaction_id=transaction["id"],
                    type=str(transaction.get("type") or "")[:40],
                    reporting_category=(str(transaction["reporting_category"])[:40])
                    if transaction.get("reporting_category")
                    else None,
                    source_id=source_id,
                    charge_id=_charge_of(transaction),
                    amount=int(transaction.get("amount") or 0),
                    fee=int(transaction.get("fee") or 0),
                    net=int(transaction.get("net") or 0),
                    currency=str(transaction.get("currency") or row.currency).lower(),
                    exchange_rate=float(transaction["exchange_rate"])
                    if transaction.get("exchange_rate")
                    else None,
                    stripe_created=from_timestamp(transaction.get("created")),
                )
            )
    row.transactions_loaded = True
    db.session.expire(row, ["transactions"])
    return row


def record_payout_status(
    payout: Mapping[str, Any], event_time: datetime | None, create: bool
) -> tuple[Payout | None, bool]:
    """A payout's new status from ``payout.failed``, ``payout.canceled`` or ``payout.updated``.

    A failed or canceled payout we never saw is stored (``create``), without
    transactions: its money went back to the balance.  Returns the row (None
    if we have none and may not make one) and whether it failed just now.
    """
    row = _payout_row(payout, create)
    if row is None:
        return None, False
    moved = _take_status(row, payout, event_time)
    db.session.flush()
    return row, moved and row.status == "failed"


# -- the payout events (each handler takes the payout, the event's time and the gateway) -------


def payout_paid(payout: Mapping[str, Any], at: datetime, gateway: EventGateway) -> None:
    """``payout.paid``: money reached the bank: record the payout and what it paid out (one list
    per payout)."""
    record_payout(payout, gateway, at)


def payout_reconciliation_completed(payout: Mapping[str, Any], at: datetime, gateway: EventGateway) -> None:
    """``payout.reconciliation_completed``: Stripe's list of the payout's transactions is final:
    read it (again, if ``payout.paid`` read it before), or record the payout if it came first."""
    record_payout({**payout, "reconciliation_status": RECONCILED}, gateway, at)


#: A paid payout whose list Stripe had not completed is asked about again after this long (the
#: endpoint may not send ``payout.reconciliation_completed``: an older one, or the event lost) ...
RECHECK_AFTER = timedelta(hours=6)
#: ... for this long after it was recorded, a few each run.
RECHECK_FOR = timedelta(days=30)
RECHECK_BATCH = 50


def recheck_unreconciled(gateway: EventGateway, now: datetime | None = None) -> int:
    """Hourly: ask Stripe about paid payouts still waiting for a completed list, and read the list
    of those it has completed; returns how many were read.  The caller commits."""
    now = now or utcnow()
    waiting = db.session.scalars(
        select(Payout)
        .where(
            Payout.status == "paid",
            Payout.automatic.is_(True),
            Payout.reconciliation_status.is_distinct_from(RECONCILED),
            Payout.recorded_at <= now - RECHECK_AFTER,
            Payout.recorded_at >= now - RECHECK_FOR,
        )
        .order_by(Payout.recorded_at)
        .limit(RECHECK_BATCH)
    ).all()
    read = 0
    for row in waiting:
        payout = gateway.retrieve_payout(row.stripe_payout_id)
        facts = payout.to_dict() if hasattr(payout, "to_dict") else dict(payout)
        if facts.get("reconciliation_status") == RECONCILED:
            record_payout(facts, gateway)
            read += 1
    return read


def payout_failed(payout: Mapping[str, Any], at: datetime, gateway: EventGateway) -> None:
    """``payout.failed`` / ``payout.canceled`` (stored even if ``payout.paid`` never came): its
    status; a failure emails finance staff."""
    _payout_moved(payout, at, create=True)


def payout_updated(payout: Mapping[str, Any], at: datetime, gateway: EventGateway) -> None:
    """``payout.updated``: the status of a payout we have; a failure emails finance staff."""
    _payout_moved(payout, at, create=False)


def _payout_moved(payout: Mapping[str, Any], at: datetime, create: bool) -> None:
    row, failed = record_payout_status(payout, at, create=create)
    if row is not None and failed:
        notices.payout_failed(row, at)


# -- reading ---------------------------------------------------------------------------------


@dataclass
class Line:
    """One transaction of a payout, next to what our records say."""

    transaction: PayoutTransaction
    kind: str  # charge, refund, dispute, fee, other
    expected: int  # what our records say the gross amount should be
    #: matched, missing (no such payment of ours), differs (amounts disagree), stripe_only
    state: str
    payment_id: int | None = None
    supporter_id: int | None = None
    supporter_email: str | None = None

    @property
    def expected_net(self) -> int:
        return self.expected - self.transaction.fee


@dataclass
class PayoutCheck:
    payout: Payout
    lines: list[Line] = field(default_factory=list)

    def _sum(self, kind: str) -> int:
        return sum(line.transaction.amount for line in self.lines if line.kind == kind)

    @property
    def charges(self) -> int:
        return self._sum("charge")

    @property
    def charge_count(self) -> int:
        return sum(1 for line in self.lines if line.kind == "charge")

    @property
    def refunds(self) -> int:
        return self._sum("refund")

    @property
    def other(self) -> int:
        """Disputes, adjustments and Stripe's fees billed as transactions."""
        return sum(line.transaction.amount for line in self.lines if line.kind not in ("charge", "refund"))

    @property
    def fees(self) -> int:
        return sum(line.transaction.fee for line in self.lines)

    @property
    def expected(self) -> int:
        return sum(line.expected_net for line in self.lines)

    @property
    def difference(self) -> int:
        return self.payout.amount - self.expected

    @property
    def settled(self) -> bool:
        """The money reached the bank (a failed or canceled payout's went back to the balance)."""
        return self.payout.status == "paid"

    @property
    def reconciling(self) -> bool:
        """Stripe has not finished the payout's list: it is read at ``payout.reconciliation_completed``."""
        return not self.payout.transactions_loaded and self.payout.reconciliation_status == "in_progress"

    @property
    def unmatched(self) -> int:
        return sum(1 for line in self.lines if line.state in ("missing", "differs"))


def _kind(transaction: PayoutTransaction) -> str:
    if transaction.type in CHARGE_TYPES:
        return "charge"
    if transaction.type in REFUND_TYPES:
        return "refund"
    if transaction.reporting_category in DISPUTE_CATEGORIES or (transaction.source_id or "").startswith(
        "dp_"
    ):
        return "dispute"
    if "fee" in transaction.type:
        return "fee"
    return "other"


def _in_payout_currency(amount: int, currency: str, transaction: PayoutTransaction) -> int:
    if currency == transaction.currency or not transaction.exchange_rate:
        return amount
    return round(amount * transaction.exchange_rate)


def _line(transaction: PayoutTransaction, payment: Any) -> Line:
    kind = _kind(transaction)
    if kind not in ("charge", "refund"):
        return Line(transaction, kind, transaction.amount, "stripe_only")
    if payment is None:
        return Line(transaction, kind, 0, "missing")
    ids = {"payment_id": payment.id, "supporter_id": payment.supporter_id, "supporter_email": payment.email}
    if kind == "charge":
        ours = _in_payout_currency(payment.amount, payment.currency, transaction)
        state = "matched" if ours == transaction.amount else "differs"
        return Line(transaction, kind, ours, state, **ids)
    refunded = _in_payout_currency(payment.refunded_amount, payment.currency, transaction)
    if refunded <= 0:
        return Line(transaction, kind, 0, "missing", **ids)
    state = "matched" if refunded >= -transaction.amount else "differs"
    return Line(transaction, kind, transaction.amount if state == "matched" else -refunded, state, **ids)


def _checks(payouts: list[Payout]) -> list[PayoutCheck]:
    if not payouts:
        return []
    by_id = {p.id: PayoutCheck(p) for p in payouts}
    rows = db.session.execute(
        select(
            PayoutTransaction,
            Payment.id,
            Payment.amount,
            Payment.currency,
            Payment.refunded_amount,
            Payment.supporter_id,
            Supporter.email,
        )
        .outerjoin(Payment, Payment.stripe_charge_id == PayoutTransaction.charge_id)
        .outerjoin(Supporter, Supporter.id == Payment.supporter_id)
        .where(PayoutTransaction.payout_id.in_(list(by_id)))
        .order_by(PayoutTransaction.payout_id, PayoutTransaction.id)
    )
    for transaction, payment_id, amount, currency, refunded, supporter_id, email in rows:
        payment = (
            None
            if payment_id is None
            else _PaymentFacts(payment_id, amount, currency, refunded or 0, supporter_id, email)
        )
        by_id[transaction.payout_id].lines.append(_line(transaction, payment))
    return list(by_id.values())


@dataclass(frozen=True)
class _PaymentFacts:
    id: int
    amount: int
    currency: str
    refunded_amount: int
    supporter_id: int
    email: str


def payouts_between(start: datetime, end: datetime) -> list[PayoutCheck]:
    """Payouts that arrived in [start, end), newest first, each checked."""
    payouts = list(
        db.session.scalars(
            select(Payout)
            .where(Payout.arrival_date >= start, Payout.arrival_date < end)
            .order_by(Payout.arrival_date.desc(), Payout.id.desc())
        )
    )
    return _checks(payouts)


def payout_check(payout_id: int) -> PayoutCheck | None:
    payout = db.session.get(Payout, payout_id)
    return None if payout is None else _checks([payout])[0]
