"""Renewals the member's bank must confirm (3-D Secure), completed on the account page.

Stripe charges a renewal off-session; when the bank wants the card holder,
the invoice stays open with its payment intent ``requires_action`` and Stripe
sends ``invoice.payment_action_required`` (``payments`` marks the payment as
waiting and mails the member once).  The account page then shows the payment
with a button: the browser asks for the intent's ``client_secret``
(``start``), Stripe.js runs ``confirmCardPayment`` (the bank's check happens
between the browser and Stripe), and ``finish`` reads the invoice back: paid,
the payment and receipt are written at once by the ``invoice.paid`` handler
that the webhook will run again (one payment, one receipt).  The caller (a
view) owns the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Membership, Payment, PaymentStatus, Supporter
from app.models.types import utcnow
from app.services import audit, memberships, payments
from app.services.account.links import actor
from app.services.errors import AccountError, PaymentDeclined
from app.services.stripe_gateway import StripeGateway
from app.services.stripe_objects import invoice_subscription_id, plain

#: A payment intent the browser can confirm (with the bank's check).
CONFIRMABLE = ("requires_action", "requires_confirmation")


def waiting_payments(supporter: Supporter) -> list[Payment]:
    """The supporter's renewals that wait for their bank, of memberships still running."""
    rows = db.session.scalars(
        select(Payment)
        .where(
            Payment.supporter_id == supporter.id,
            Payment.status == PaymentStatus.FAILED,
            Payment.failure_code == payments.AWAITS_AUTHENTICATION,
            Payment.stripe_invoice_id.is_not(None),
        )
        .order_by(Payment.id)
    )
    return [p for p in rows if p.membership is not None and p.membership.is_member]


def mark_waiting(payment: Payment | None) -> None:
    """``invoices.pay`` answered that the bank must confirm: the account page offers it."""
    if payment is not None and payment.status == PaymentStatus.FAILED:
        payment.failure_code = payments.AWAITS_AUTHENTICATION


def _waiting(supporter: Supporter, payment_id: int) -> Payment:
    payment = next((p for p in waiting_payments(supporter) if p.id == payment_id), None)
    if payment is None:
        raise AccountError("payment_not_waiting")
    return payment


@dataclass(frozen=True)
class Confirmation:
    """What the browser needs for ``stripe.confirmCardPayment``."""

    client_secret: str
    #: The card to confirm with, when the intent lost it after a failed check.
    payment_method: str | None


def start(supporter: Supporter, payment_id: int, gateway: StripeGateway) -> Confirmation | None:
    """The payment intent to confirm in the browser, or None if it is paid already (now recorded)."""
    payment = _waiting(supporter, payment_id)
    assert payment.stripe_invoice_id
    invoice, intent = gateway.invoice_with_payment_intent(payment.stripe_invoice_id)
    if invoice["status"] == "paid":
        record_paid(invoice, gateway)
        return None
    if intent is None or invoice["status"] != "open":
        raise AccountError("payment_not_waiting")
    method: str | None = None
    if intent["status"] == "requires_payment_method":
        # A check that failed leaves the card in the error: confirming with it asks the bank again.
        error = plain(intent).get("last_payment_error") or {}
        found = error.get("payment_method")
        method = found.get("id") if isinstance(found, dict) else found
        if not method:
            raise AccountError("authentication_needs_card")
    elif intent["status"] not in CONFIRMABLE:
        raise AccountError("payment_not_waiting")
    return Confirmation(client_secret=intent["client_secret"], payment_method=method)


def finish(supporter: Supporter, payment_id: int, gateway: StripeGateway) -> tuple[Payment, bool]:
    """After the browser's check: the invoice as Stripe has it now, written here at once.

    Returns the payment and whether it is paid (False: the bank confirmed it and Stripe
    is still settling the invoice; its ``invoice.paid`` event follows).  Raises
    ``PaymentDeclined`` when the bank did not confirm the payment.
    """
    payment = _waiting(supporter, payment_id)
    assert payment.stripe_invoice_id
    invoice, intent = gateway.invoice_with_payment_intent(payment.stripe_invoice_id)
    if invoice["status"] != "paid" and intent is not None and intent["status"] in ("succeeded", "processing"):
        return payment, False
    if invoice["status"] != "paid":
        error = plain(intent).get("last_payment_error") if intent is not None else None
        code = (error or {}).get("decline_code") or (error or {}).get("code")
        raise PaymentDeclined(str(code or "payment_intent_authentication_failure"))
    record_paid(invoice, gateway)
    audit.record(
        actor(supporter),
        "invoice.authenticate",
        supporter_id=supporter.id,
        invoice=payment.stripe_invoice_id,
        paid=True,
    )
    return payment, True


def record_paid(invoice: Any, gateway: StripeGateway) -> None:
    """A paid invoice, written as its ``invoice.paid`` webhook will write it, and its membership."""
    paid = plain(invoice)
    payments.invoice_paid(paid, utcnow(), gateway)
    subscription_id = invoice_subscription_id(paid)
    if not subscription_id:
        return
    membership = db.session.scalar(
        select(Membership).where(Membership.stripe_subscription_id == subscription_id)
    )
    if membership is not None:
        subscription = plain(gateway.retrieve_subscription(subscription_id))
        memberships.write_membership(membership, subscription, utcnow(), gateway)
