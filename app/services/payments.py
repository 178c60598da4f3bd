"""Payments: what Stripe's invoice, payment intent, charge and dispute events change.

Events handled here (each handler takes the Stripe object, the event's time
and the gateway; ``webhooks.HANDLERS`` dispatches to them, and sync,
self-service and staff actions call them with objects they fetched):

- ``invoice.paid`` / ``invoice.payment_succeeded``: ``invoice_paid`` (a
  membership's renewal, or its first charge, is paid: the payment and receipt);
- ``invoice.payment_failed``: ``invoice_payment_failed`` (a renewal's charge failed);
- ``invoice.payment_action_required``: ``invoice_payment_action_required`` (the
  member's bank asks them to confirm a renewal, 3-D Secure: the account page
  completes it);
- ``invoice_payment.paid``: ``invoice_payment_paid`` (which payment intent and charge
  paid an invoice: from API ``2025-03-31.basil`` on, the only event that says);
- ``payment_intent.succeeded``: ``payment_intent_succeeded`` (a one-time gift is paid);
- ``payment_intent.payment_failed``: ``payment_intent_failed`` (a card declined);
- ``charge.refunded``: ``charge_refunded``;
- ``charge.dispute.created`` / ``.closed``: ``dispute_created`` / ``dispute_closed``.

How the order of events is settled: a paid invoice is a fact, so no later or
earlier event turns its payment back into ``failed``; refunds only grow; a
dispute closes once; a ``pending`` payment (a bank debit on its way, ``bank_debits``) only
becomes ``succeeded`` or ``failed``.

How a payment finds its invoice in any order: older payload shapes name the
invoice's payment intent and charge on the invoice (and the invoice on the
intent and charge).  From ``2025-03-31.basil`` on none of them does; the link
is ``invoice_payment.paid`` (invoice -> payment intent or charge).  So an
event that needs a link which has not arrived yet raises ``EventNotApplied``
and stays stored, and its retry applies it once the link is there: a payment
intent that is neither our one-time gift nor linked yet
(``invoice_link_pending``), ``invoice_payment.paid`` before its ``invoice.paid``,
a refund or dispute of a charge not linked yet (``payment_not_found``).  Only
when no link has come ``LINK_WAIT`` after the event (a payment made in the
dashboard, which no invoice will ever claim, or an endpoint without
``invoice_payment.paid``) is Stripe asked, once.

Rows written by the donation flow carry the same Stripe ids (invoice, payment
intent, charge, all unique), so events confirm them instead of adding new ones.
The handlers change rows and never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Membership, Payment, PaymentStatus, Supporter
from app.models.types import from_timestamp, utcnow
from app.services import attempts, event_rows, notices
from app.services.errors import EventNotApplied
from app.services.gateway import EventGateway
from app.services.memberships import membership_for
from app.services.stripe_objects import (
    Obj,
    campaign_of,
    charge_of_intent,
    currency_of,
    dig,
    fee_cover_of,
    id_of,
    invoice_metadata,
    invoice_payment_ids,
    invoice_subscription_id,
    plain,
    utm_of,
)
from app.services.supporters import newer_event_applied, supporter_for_customer

#: How long after its event a payment intent or charge waits for ``invoice_payment.paid``
#: (Stripe sends it with ``invoice.paid``, seconds after the charge) before Stripe is asked.
LINK_WAIT = timedelta(minutes=10)


def find_payment(
    invoice_id: str | None = None, intent_id: str | None = None, charge_id: str | None = None
) -> Payment | None:
    for kind, value in (("invoice", invoice_id), ("intent", intent_id), ("charge", charge_id)):
        if value:
            held = event_rows.lookup(kind, value)  # a batch of events loaded its payments at once
            if held is not event_rows.UNKNOWN:
                if held is not None:
                    return held
                continue
            column = event_rows.PAYMENT_IDS[kind]
            payment = db.session.scalar(
                select(Payment)
                .where(column == value)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if payment is not None:
                return payment
    return None


def link_payment(
    payment: Payment, intent_id: str | None, charge_id: str | None, *, paid: bool = True
) -> None:
    """Fill in the payment intent and charge ids unless another row already holds them.

    A charge that paid (``paid``: every source but a failure event) replaces
    one a failed attempt left: a renewal's retry charges the same payment
    intent again, and refunds and payouts name the charge that paid.
    """
    if intent_id and not payment.stripe_payment_intent_id and not _taken("intent", intent_id, payment):
        payment.stripe_payment_intent_id = intent_id
    if (
        charge_id
        and (not payment.stripe_charge_id or (paid and payment.stripe_charge_id != charge_id))
        and not _taken("charge", charge_id, payment)
    ):
        payment.stripe_charge_id = charge_id


def _taken(kind: str, value: str, payment: Payment) -> bool:
    held = event_rows.lookup(kind, value)
    if held is not event_rows.UNKNOWN:
        return held is not None and held is not payment
    query = select(Payment.id).where(event_rows.PAYMENT_IDS[kind] == value)
    if payment.id is not None:
        query = query.where(Payment.id != payment.id)
    return db.session.scalar(query) is not None


def _link_overdue(at: datetime) -> bool:
    """No ``invoice_payment.paid`` has linked it ``LINK_WAIT`` after its event: ask Stripe."""
    return utcnow() - at >= LINK_WAIT


def invoice_owner(invoice: Obj, gateway: EventGateway) -> tuple[Supporter, Membership | None]:
    subscription_id = invoice_subscription_id(invoice)
    if subscription_id:
        membership = membership_for(subscription_id, gateway)
        return membership.supporter, membership
    return supporter_for_customer(invoice["customer"], gateway), None


# -- invoices: a membership's charges ------------------------------------------------------


def invoice_paid(invoice: Obj, at: datetime, gateway: EventGateway) -> None:
    """``invoice.paid`` / ``invoice.payment_succeeded``: a renewal (or a first charge) is paid.

    The money arrived: the payment is recorded (or confirmed), with its receipt.
    """
    amount = int(invoice.get("amount_paid") or 0)
    if amount <= 0:
        return  # nothing was charged (a free trial, a full credit)
    intent_id, charge_id = invoice_payment_ids(invoice)
    paid_at = from_timestamp(dig(invoice, "status_transitions", "paid_at")) or at
    payment = find_payment(invoice["id"], intent_id, charge_id)
    if payment is None:
        supporter, membership = invoice_owner(invoice, gateway)
        payment = Payment(
            supporter=supporter,
            membership=membership,
            stripe_invoice_id=invoice["id"],
            amount=amount,
            currency=currency_of(invoice),
            fee_cover=fee_cover_of(invoice_metadata(invoice), amount),
            status=PaymentStatus.SUCCEEDED,
            paid_at=paid_at,
            campaign=membership.campaign if membership else None,
            utm=membership.utm if membership else None,
        )
        db.session.add(payment)
    else:
        payment.stripe_invoice_id = payment.stripe_invoice_id or invoice["id"]
        if payment.status in (PaymentStatus.FAILED, PaymentStatus.PENDING):
            # A paid invoice is a fact: earlier failures of it (or its wait for the bank) no longer count.
            payment.status = PaymentStatus.SUCCEEDED
            payment.failure_code = None
            payment.amount = amount
        payment.paid_at = payment.paid_at or paid_at
        if payment.membership_id is None and (subscription_id := invoice_subscription_id(invoice)):
            payment.membership = membership_for(subscription_id, gateway)
    link_payment(payment, intent_id, charge_id)
    notices.payment_succeeded(payment)


def invoice_payment_paid(invoice_payment: Obj, at: datetime, gateway: EventGateway) -> None:
    """``invoice_payment.paid``: the payment intent (or charge) that paid an invoice.

    From API ``2025-03-31.basil`` on, invoices name no payment and payment
    intents and charges name no invoice: this event is the link.  Its invoice's
    payment row is made by ``invoice.paid``; when that has not been applied yet
    the event waits (``payment_not_found``, retried).  A payment intent's event
    that came first waits too, and its retry adds the charge.
    """
    if invoice_payment.get("status") != "paid" or not int(invoice_payment.get("amount_paid") or 0):
        return
    invoice_id = id_of(invoice_payment.get("invoice"))
    intent_id = id_of(dig(invoice_payment, "payment", "payment_intent"))
    charge_id = id_of(dig(invoice_payment, "payment", "charge"))
    if not invoice_id or not (intent_id or charge_id):
        return  # paid out of band, or by a payment record: no charge of ours to link
    payment = find_payment(invoice_id=invoice_id)
    if payment is None:
        raise EventNotApplied("payment_not_found", detail=invoice_id)
    link_payment(payment, intent_id, charge_id)


def _unpaid_invoice_payment(invoice: Obj, amount: int, gateway: EventGateway) -> Payment:
    """The invoice's payment row; made as a failed one when Stripe reports a charge we have none for."""
    payment = find_payment(invoice["id"])
    if payment is None:
        supporter, membership = invoice_owner(invoice, gateway)
        payment = Payment(
            supporter=supporter,
            membership=membership,
            stripe_invoice_id=invoice["id"],
            amount=amount,
            currency=currency_of(invoice),
            status=PaymentStatus.FAILED,
            campaign=membership.campaign if membership else None,
        )
        db.session.add(payment)
    return payment


def invoice_payment_failed(invoice: Obj, at: datetime, gateway: EventGateway) -> None:
    """``invoice.payment_failed``: a charge of the invoice (a renewal) failed.

    Stripe retries, and the membership goes ``past_due``; it follows its
    subscription events itself: ``past_due`` is still a member.
    """
    amount = int(invoice.get("amount_due") or 0)
    if amount <= 0:
        return
    intent_id, charge_id = invoice_payment_ids(invoice)
    payment = _unpaid_invoice_payment(invoice, amount, gateway)
    debit_refused = payment.status == PaymentStatus.PENDING  # a bank debit, refused days later
    if debit_refused:
        refused(payment, "debit_failed", at)  # its own email, not a card renewal's
    if payment.status == PaymentStatus.FAILED:
        payment.amount = amount
    # else: already paid (this failure came late) or refunded/disputed: keep.
    link_payment(payment, intent_id, charge_id, paid=False)
    db.session.flush()
    if not debit_refused:
        notices.renewal_failed(payment, invoice.get("billing_reason"), at)


#: What a payment row waiting for the member's bank (3-D Secure) says as its failure code:
#: Stripe's decline code for a charge that needs the card holder to authenticate.
AWAITS_AUTHENTICATION = "authentication_required"


def invoice_payment_action_required(invoice: Obj, at: datetime, gateway: EventGateway) -> None:
    """``invoice.payment_action_required``: the bank asks the member to confirm a charge (3-D Secure).

    Stripe charged off-session and the bank wants the card holder: the invoice
    stays open, its payment intent ``requires_action``, until the member
    confirms it on the account page (``account.changes.start_authentication``).
    The payment is kept as failed, marked as waiting for them (not a decline),
    and they get one email about it; ``invoice.paid`` turns it into a paid one.
    """
    amount = int(invoice.get("amount_due") or 0)
    if amount <= 0 or invoice.get("status") in ("paid", "void", "uncollectible"):
        return
    intent_id, charge_id = invoice_payment_ids(invoice)
    payment = _unpaid_invoice_payment(invoice, amount, gateway)
    if payment.status != PaymentStatus.FAILED:
        return  # paid already (this event came late), refunded or disputed: history
    payment.amount = amount
    payment.failure_code = AWAITS_AUTHENTICATION
    link_payment(payment, intent_id, charge_id)
    db.session.flush()
    notices.authentication_needed(payment, invoice.get("billing_reason"), at)


# -- payment intents: one-time gifts --------------------------------------------------------


def intent_invoice(
    intent: Obj, at: datetime, gateway: EventGateway, started_here: bool = False
) -> str | None:
    """The invoice a payment intent paid, or None for a one-time gift.

    In the current shape the intent does not say: ``invoice_payment.paid``
    links it to its invoice's row, and until then the event waits
    (``invoice_link_pending``); Stripe is asked only once the link is overdue.
    """
    if "invoice" in intent:  # older shapes say it (null for a one-time payment)
        return id_of(intent["invoice"])
    existing = find_payment(intent_id=intent["id"])
    if existing is not None:
        return existing.stripe_invoice_id
    if started_here or (intent.get("metadata") or {}).get("frequency") == "once":
        return None  # our support page's one-time gift
    if not _link_overdue(at):
        raise EventNotApplied("invoice_link_pending", detail=intent["id"])
    # No invoice has claimed it: made in the dashboard, or the endpoint does not
    # send invoice_payment.paid.  The gateway's pinned version still says.
    fetched = plain(gateway.retrieve_payment_intent(intent["id"]))
    return id_of(fetched.get("invoice"))


def payment_intent_succeeded(intent: Obj, at: datetime, gateway: EventGateway) -> None:
    """``payment_intent.succeeded``: a one-time gift is paid (a membership's: its ids are kept)."""
    invoice_id = intent_invoice(intent, at, gateway)
    charge_id = charge_of_intent(intent)
    if invoice_id:
        # A membership's charge: the invoice events own it; keep the ids for refunds.
        payment = find_payment(invoice_id=invoice_id)
        if payment is not None:
            link_payment(payment, intent["id"], charge_id)
        elif "invoice" not in intent:
            # Stripe named the invoice, whose own event has not been applied
            # (older shapes: that event carries these ids itself).
            raise EventNotApplied("payment_not_found", detail=invoice_id)
        return
    amount = int(intent.get("amount_received") or intent.get("amount") or 0)
    if amount <= 0:
        return
    payment = find_payment(intent_id=intent["id"], charge_id=charge_id)
    if payment is None:
        supporter = supporter_for_customer(intent.get("customer"), gateway)
        metadata = intent.get("metadata") or {}
        payment = Payment(
            supporter=supporter,
            stripe_payment_intent_id=intent["id"],
            amount=amount,
            currency=currency_of(intent),
            fee_cover=fee_cover_of(metadata, amount),
            status=PaymentStatus.SUCCEEDED,
            paid_at=at,
            campaign=campaign_of(metadata),
            utm=utm_of(metadata),
        )
        db.session.add(payment)
    elif payment.status in (PaymentStatus.FAILED, PaymentStatus.PENDING):
        payment.status = PaymentStatus.SUCCEEDED
        payment.failure_code = None
        payment.amount = amount
        payment.paid_at = payment.paid_at or at
    link_payment(payment, intent["id"], charge_id)
    notices.payment_succeeded(payment)


def payment_intent_failed(intent: Obj, at: datetime, gateway: EventGateway) -> None:
    """``payment_intent.payment_failed``: a card was declined (a one-time gift's failure is kept)."""
    error = intent.get("last_payment_error") or {}
    code = error.get("decline_code") or error.get("code") or "card_declined"
    method = error.get("payment_method") or {}
    card = method.get("card") if isinstance(method, dict) else None
    # A card declined in the reader's browser: the support page's limits count it.
    ours = attempts.declined_by_stripe(intent["id"], str(code), (card or {}).get("fingerprint"))
    invoice_id = intent_invoice(intent, at, gateway, started_here=ours)
    if invoice_id:
        return  # invoice.payment_failed records a membership's failed charge
    amount = int(intent.get("amount") or 0)
    if amount <= 0 or not intent.get("customer"):
        return
    payment = find_payment(intent_id=intent["id"])
    if payment is None:
        supporter = supporter_for_customer(intent["customer"], gateway)
        payment = Payment(
            supporter=supporter,
            stripe_payment_intent_id=intent["id"],
            amount=amount,
            currency=currency_of(intent),
            status=PaymentStatus.FAILED,
            failure_code=str(code)[:100],
        )
        db.session.add(payment)
    elif payment.status == PaymentStatus.FAILED:
        payment.failure_code = str(code)[:100]
    elif payment.status == PaymentStatus.PENDING:
        refused(payment, str(code), at)
    # else: the reader retried and it succeeded; this failure is history.


def refused(payment: Payment, code: str, at: datetime) -> None:
    """The bank refused a payment that was on its way (``bank_debits``): the donor is told."""
    payment.status = PaymentStatus.FAILED
    payment.failure_code = code[:100]
    db.session.flush()
    notices.debit_failed(payment, at)


# -- charges: refunds and disputes ----------------------------------------------------------


def _payment_for_charge(
    charge_id: str | None,
    intent_id: str | None,
    charge: Obj | None,
    at: datetime,
    gateway: EventGateway,
) -> Payment:
    """The payment of a charge: by its ids, by the invoice older shapes name, or (current
    shape) once ``invoice_payment.paid`` has linked it; until then ``payment_not_found``."""
    payment = find_payment(charge_id=charge_id, intent_id=intent_id)
    if payment is None:
        invoice_id: str | None = None
        if charge is not None and "invoice" in charge:
            invoice_id = id_of(charge["invoice"])
        elif intent_id and _link_overdue(at):
            invoice_id = id_of(plain(gateway.retrieve_payment_intent(intent_id)).get("invoice"))
        if invoice_id:
            payment = find_payment(invoice_id=invoice_id)
    if payment is None:
        # Its payment event has not been applied yet: try again later.
        raise EventNotApplied("payment_not_found", detail=charge_id or intent_id or "")
    link_payment(payment, intent_id, charge_id)
    return payment


def charge_refunded(charge: Obj, at: datetime, gateway: EventGateway) -> None:
    """``charge.refunded``: the refunded amount of a payment (refunds only grow)."""
    payment = _payment_for_charge(charge["id"], id_of(charge.get("payment_intent")), charge, at, gateway)
    refunded = min(int(charge.get("amount_refunded") or 0), payment.amount)
    # Refunds only grow: an older event with a smaller total changes nothing.
    payment.refunded_amount = max(payment.refunded_amount or 0, refunded)
    if payment.refunded_amount >= payment.amount and payment.status != PaymentStatus.DISPUTED:
        payment.status = PaymentStatus.REFUNDED
    notices.refunded(payment, at)


def dispute_created(dispute: Obj, at: datetime, gateway: EventGateway) -> None:
    """``charge.dispute.created``: the card holder disputes a payment."""
    if newer_event_applied(["charge.dispute.closed"], dispute["id"], after=None):
        return  # it closed already; this opening came late
    payment = _payment_for_charge(
        id_of(dispute.get("charge")), id_of(dispute.get("payment_intent")), None, at, gateway
    )
    payment.status = PaymentStatus.DISPUTED


def dispute_closed(dispute: Obj, at: datetime, gateway: EventGateway) -> None:
    """``charge.dispute.closed``: lost (the money went back), won, or an inquiry closed."""
    payment = _payment_for_charge(
        id_of(dispute.get("charge")), id_of(dispute.get("payment_intent")), None, at, gateway
    )
    if dispute.get("status") == "lost":
        payment.status = PaymentStatus.DISPUTED  # the money went back to the card holder
    elif payment.refunded_amount >= payment.amount:
        payment.status = PaymentStatus.REFUNDED
    else:  # won, or an inquiry closed without a chargeback
        payment.status = PaymentStatus.SUCCEEDED
