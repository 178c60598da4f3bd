"""Money on its way: payments the bank pays days later (SEPA Direct Debit).

At Stripe such a payment intent is ``processing`` (its charge ``pending``) until
the bank pays (``payment_intent.succeeded``, ``invoice.paid``) or refuses it
(``payment_intent.payment_failed``, ``invoice.payment_failed``), days later.
Until then the gift is a ``pending`` payment row: the thank-you page and the
first email say it is on its way, no receipt is numbered or sent, no report
counts it as revenue, and a membership it pays first is not a member yet
(its subscription stays ``incomplete``; ``memberships`` follows Stripe's word).

- The support page writes the pending row at once (``gift_on_its_way``,
  ``first_charge_on_its_way``) so that its thank-you page is right.
- ``payment_intent.processing``: ``payment_intent_processing`` writes it when
  the page did not (another tab, a lost answer).  It never changes a row that
  exists: the bank's answer may come first (events arrive in any order), and a
  processing event after it is history.
- The bank's answer is ``payments``'s: a pending row becomes ``succeeded``
  (its receipt then) or ``failed`` (``payments.refused``: the ``debit_failed`` email).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.extensions import db
from app.models import Membership, Payment, PaymentStatus, Supporter
from app.models.types import utcnow
from app.services import notices, payments, supporters
from app.services.errors import PaymentServiceUnavailable
from app.services.gateway import EventGateway
from app.services.stripe_gateway import StripeGateway
from app.services.stripe_objects import (
    Obj,
    campaign_of,
    charge_of_intent,
    currency_of,
    fee_cover_of,
    first_charge_id,
    invoice_metadata,
    object_id,
    plain,
    utm_of,
)

if TYPE_CHECKING:
    from app.services.donations import Pending


def payment_intent_processing(intent: Obj, at: datetime, gateway: EventGateway) -> None:
    """``payment_intent.processing``: a payment waits for the bank; the pending row unless one exists."""
    invoice_id = payments.intent_invoice(intent, at, gateway)
    charge_id = charge_of_intent(intent)
    if invoice_id:
        # A membership's charge: the support page wrote a first one's row; a renewal's is written
        # here (no email: the member hears if it fails); the invoice's events finish it.
        if (payment := payments.find_payment(invoice_id=invoice_id)) is not None:
            payments.link_payment(payment, intent["id"], charge_id, paid=False)
        else:
            _renewal_on_its_way(invoice_id, intent, charge_id, gateway)
        return
    amount = int(intent.get("amount") or 0)
    if amount <= 0 or not intent.get("customer"):
        return
    if payments.find_payment(intent_id=intent["id"], charge_id=charge_id) is not None:
        return  # written by the page, or the bank's answer came first: keep what it says
    metadata = intent.get("metadata") or {}
    payment = _pending_row(
        supporters.supporter_for_customer(intent["customer"], gateway),
        amount=amount,
        currency=currency_of(intent),
        fee_cover=fee_cover_of(metadata, amount),
        campaign=campaign_of(metadata),
        utm=utm_of(metadata),
        stripe_payment_intent_id=intent["id"],
        stripe_charge_id=charge_id,
    )
    notices.payment_pending(payment, at)


def _renewal_on_its_way(invoice_id: str, intent: Obj, charge_id: str | None, gateway: EventGateway) -> None:
    invoice = plain(gateway.retrieve_invoice(invoice_id))
    amount = int(invoice.get("amount_due") or 0)
    if amount <= 0 or invoice.get("status") != "open":
        return  # paid already (its event will say), voided, or nothing to pay
    supporter, membership = payments.invoice_owner(invoice, gateway)
    payment = _pending_row(
        supporter,
        amount=amount,
        currency=currency_of(invoice),
        fee_cover=fee_cover_of(invoice_metadata(invoice), amount),
        campaign=membership.campaign if membership else None,
        stripe_invoice_id=invoice_id,
        stripe_payment_intent_id=intent["id"],
        stripe_charge_id=charge_id,
    )
    payment.membership = membership


def gift_on_its_way(pending: Pending, intent: Any, gateway: StripeGateway) -> Payment:
    """The support page's one-time gift whose intent is ``processing``: its pending row."""
    choice = pending.choice
    supporter, other_customer = supporters.for_gift(
        choice.email, choice.name, choice.locale, pending.customer_id
    )
    payment = payments.find_payment(intent_id=intent.id)
    if payment is None:
        payment = _pending_row(
            supporter,
            amount=intent["amount"],
            currency=intent["currency"],
            fee_cover=choice.fee_cover,
            campaign=choice.campaign,
            utm=choice.utm or None,
            stripe_payment_intent_id=intent.id,
            stripe_charge_id=first_charge_id(None, intent),
        )
        if other_customer:
            notices.gift_with_your_address(payment)
    _remember_mandate(payment, gateway)
    notices.payment_pending(payment, utcnow())
    return payment


def first_charge_on_its_way(
    pending: Pending, subscription: Any, intent: Any, gateway: StripeGateway
) -> Payment | None:
    """A new membership whose first invoice's intent is ``processing``: that invoice's pending row.

    ``None`` when the intent is not waiting for the bank (it succeeded and the
    invoice has not caught up yet: ``invoice.paid`` writes the row).
    """
    invoice = subscription["latest_invoice"]
    if invoice is None or intent is None or intent["status"] != "processing":
        return None
    membership = db.session.scalar(
        select(Membership).where(Membership.stripe_subscription_id == subscription.id)
    )
    if membership is None:
        return None
    payment = payments.find_payment(invoice_id=invoice.id)
    if payment is None:
        choice = pending.choice
        payment = _pending_row(
            membership.supporter,
            amount=int(invoice["amount_due"] or choice.total),
            currency=invoice["currency"],
            fee_cover=choice.fee_cover,
            campaign=choice.campaign,
            utm=choice.utm or None,
            stripe_invoice_id=invoice.id,
            stripe_payment_intent_id=object_id(intent),
            stripe_charge_id=first_charge_id(invoice, intent),
        )
        payment.membership = membership
    _remember_mandate(payment, gateway)
    notices.payment_pending(payment, utcnow())
    return payment


def _remember_mandate(payment: Payment, gateway: StripeGateway) -> None:
    """The debit's mandate reference, for the thank-you page and the receipt (Stripe's, when it says)."""
    if payment.mandate_reference or not payment.stripe_charge_id:
        return
    # A nicety: without it the gift is recorded all the same, and Stripe mails the mandate itself.
    with suppress(PaymentServiceUnavailable):
        payment.mandate_reference = gateway.mandate_reference(payment.stripe_charge_id)


def _pending_row(supporter: Supporter, **columns: Any) -> Payment:
    payment = Payment(supporter=supporter, status=PaymentStatus.PENDING, **columns)
    db.session.add(payment)
    db.session.flush()
    return payment
