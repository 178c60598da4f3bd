"""What Stripe's events mean for supporters, memberships and payments.

``apply(event, gateway)`` is called with the stored event's row locked and
inside the caller's transaction; it changes rows and never commits.

How the order of events is settled, without asking Stripe on every event:

- A subscription event older than the membership's ``stripe_state_at`` is
  stale and skipped; a newer one is applied from its payload.  Stripe's
  ``created`` has whole seconds, so two events less than a second apart cannot
  be ordered: only then is the subscription re-fetched through the gateway.
  ``canceled`` and ``incomplete_expired`` are final at Stripe, so nothing moves
  a membership out of them.
- A paid invoice is a fact: no later or earlier event turns its payment back
  into ``failed``.  Refunds only grow.  A dispute closes once.
- Both payload shapes are read (see ``../shared/stripe/README.md``): the
  current API (``invoice.parent.subscription_details``, ``invoice.payments``,
  period on subscription items, no ``invoice`` on payment intents and charges)
  and older versions (``invoice.subscription``, ``invoice.charge``,
  ``invoice.payment_intent``, ``subscription.current_period_end``).  Where the
  current shape leaves out a link we need (which invoice a payment intent paid),
  the gateway fetches the object once; it speaks the pinned API version, which
  still has the link.

Rows written by the donation flow carry the same Stripe ids (subscription,
invoice, payment intent, charge, all unique), so events confirm them instead of
adding new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Interval,
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
    Supporter,
    WebhookEvent,
)
from app.models.types import SUPPORTED_CURRENCIES, from_timestamp, utcnow
from app.services import attempts, notices
from app.services.donations import UTM_FIELDS, card_details, period_end, remember_card
from app.services.errors import DomainError
from app.services.stripe_gateway import StripeGateway

Obj = Mapping[str, Any]

#: Two events closer than this cannot be ordered by their ``created``.
TIE = timedelta(seconds=1)

#: Statuses Stripe never leaves.
FINAL_STATUSES = (MembershipStatus.CANCELED, MembershipStatus.INCOMPLETE_EXPIRED)

#: The ``membership.cancellation_reason`` column's size.
MAX_CANCELLATION_REASON = 500

LOCALES = ("ar", "en")
DEFAULT_LOCALE = "ar"


class EventNotApplied(DomainError):
    """The event cannot be applied now; it stays unprocessed with this code as its error."""


# -- small readers of Stripe objects -----------------------------------------------------


def _id(value: Any) -> str | None:
    """An id whether the field holds the id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return value.get("id")


def _get(obj: Obj | None, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _as_dict(obj: Any) -> dict[str, Any]:
    """A plain dict from what the gateway returns (stripe objects are not dicts)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def locale_of(customer: Obj) -> str:
    """Our locale from the customer's ``preferred_locales`` (our page sets it)."""
    for tag in customer.get("preferred_locales") or []:
        language = str(tag).split("-")[0].split("_")[0].lower()
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


def _event_time(event: WebhookEvent) -> datetime:
    return event.created


def _newer_event_applied(types: Iterable[str], object_id: str, after: datetime | None) -> bool:
    """Has an event of ``types`` about ``object_id`` already been applied (after ``after``)?

    For objects without a stored Stripe time (customers, disputes); those events
    are rare, and the payload is searched as text for the id.
    """
    query = select(sa.func.count()).where(
        WebhookEvent.type.in_(list(types)),
        WebhookEvent.processed_at.is_not(None),
        sa.cast(WebhookEvent.payload, sa.Text).contains(f'"{object_id}"', autoescape=True),
    )
    if after is not None:
        query = query.where(WebhookEvent.created > after)
    return bool(db.session.scalar(query))


# -- supporters --------------------------------------------------------------------------


def supporter_for_customer(customer: Any, gateway: StripeGateway) -> Supporter:
    """The supporter behind a Stripe customer, created from the customer when unknown.

    A customer made outside our page (staff in the dashboard) is fetched once
    to learn the email, name and language.
    """
    customer_id = _id(customer)
    if not customer_id:
        raise EventNotApplied("no_customer")
    supporter = db.session.scalar(select(Supporter).where(Supporter.stripe_customer_id == customer_id))
    if supporter is not None:
        return supporter
    data = customer if isinstance(customer, Mapping) and "email" in customer else None
    if data is None:
        data = _as_dict(gateway.retrieve_customer(customer_id))
    if data.get("deleted"):
        raise EventNotApplied("customer_deleted", detail=customer_id)
    email = (data.get("email") or "").strip().lower()
    if not email:
        raise EventNotApplied("customer_without_email", detail=customer_id)
    supporter = db.session.scalar(select(Supporter).where(Supporter.email == email))
    if supporter is None:
        supporter = Supporter(
            email=email,
            name=(data.get("name") or "").strip()[:200],
            locale=locale_of(data),
            stripe_customer_id=customer_id,
        )
        db.session.add(supporter)
        db.session.flush()
    elif supporter.stripe_customer_id is None:
        supporter.stripe_customer_id = customer_id
    else:
        # One reader, two Stripe customers (one made in the dashboard): keep
        # the first; this one's events find the reader by email again.
        current_app.logger.info(
            "supporter %s has customer %s; %s also pays",
            supporter.id,
            supporter.stripe_customer_id,
            customer_id,
        )
    return supporter


def customer_updated(event: WebhookEvent, gateway: StripeGateway) -> None:
    customer = event.object
    supporter = db.session.scalar(select(Supporter).where(Supporter.stripe_customer_id == customer["id"]))
    if supporter is None or supporter.erased_at is not None:
        return  # not a supporter (yet), or erased: nothing of theirs to update
    if _newer_event_applied(["customer.updated"], customer["id"], after=_event_time(event)):
        return  # a newer update already landed
    if customer.get("name"):
        supporter.name = str(customer["name"]).strip()[:200]
    if customer.get("preferred_locales"):
        supporter.locale = locale_of(customer)
    email = (customer.get("email") or "").strip().lower()
    if email and email != supporter.email:
        taken = db.session.scalar(select(Supporter.id).where(Supporter.email == email))
        if taken is None:
            supporter.email = email
        else:
            current_app.logger.warning(
                "customer %s changed email to that of supporter %s; kept %s",
                customer["id"],
                taken,
                supporter.id,
            )


def customer_deleted(event: WebhookEvent, gateway: StripeGateway) -> None:
    """The customer is gone at Stripe; the supporter and their money stay here."""
    customer_id = event.object["id"]
    for supporter in db.session.scalars(select(Supporter).where(Supporter.stripe_customer_id == customer_id)):
        supporter.stripe_customer_id = None


# -- memberships -------------------------------------------------------------------------


def _lock_membership(subscription_id: str) -> Membership | None:
    return db.session.scalar(
        select(Membership)
        .where(Membership.stripe_subscription_id == subscription_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _first_item(subscription: Obj) -> Obj:
    items = _get(subscription, "items", "data") or []
    if not items:
        raise EventNotApplied("subscription_without_items", detail=subscription.get("id", ""))
    return items[0]


def _terms(subscription: Obj) -> tuple[int, str, Interval]:
    """Amount per interval (minor units), currency and interval, from plan or price."""
    item = _first_item(subscription)
    plan = item.get("plan") or {}
    price = item.get("price") or {}
    unit = plan.get("amount")
    if unit is None:
        unit = price.get("unit_amount")
    if unit is None:
        raise EventNotApplied("subscription_without_amount", detail=subscription.get("id", ""))
    amount = int(unit) * int(item.get("quantity") or 1)
    currency = next(
        (
            c.lower()
            for c in (price.get("currency"), plan.get("currency"), subscription.get("currency"))
            if isinstance(c, str) and c.lower() in SUPPORTED_CURRENCIES
        ),
        None,
    )
    if currency is None:
        raise EventNotApplied("unsupported_currency", detail=subscription.get("id", ""))
    interval = plan.get("interval") or _get(price, "recurring", "interval")
    if interval not in (Interval.MONTH, Interval.YEAR):
        raise EventNotApplied("unsupported_interval", detail=str(interval))
    return amount, currency, Interval(interval)


def _status(subscription: Obj) -> MembershipStatus:
    try:
        return MembershipStatus(subscription["status"])
    except (KeyError, ValueError) as exc:
        raise EventNotApplied("unknown_subscription_status", detail=str(subscription.get("status"))) from exc


def _write_membership(
    membership: Membership | None, subscription: Obj, state_at: datetime, gateway: StripeGateway
) -> Membership:
    """Store what ``subscription`` says; it is at least as new as ``state_at``."""
    status = _status(subscription)
    amount, currency, interval = _terms(subscription)
    before_status = membership.status if membership is not None else None
    before_cancel = bool(membership.cancel_at_period_end) if membership is not None else False
    if membership is None:
        metadata = subscription.get("metadata") or {}
        supporter = supporter_for_customer(subscription["customer"], gateway)
        fee_cover = str(metadata.get("fee_cover") or "0")
        membership = Membership(
            supporter=supporter,
            stripe_subscription_id=subscription["id"],
            covers_fees=fee_cover.isdigit() and int(fee_cover) > 0,
            campaign=(str(metadata["campaign"])[:100] if metadata.get("campaign") else None),
            utm={k: str(metadata[k])[:100] for k in UTM_FIELDS if metadata.get(k)} or None,
        )
        db.session.add(membership)
    membership.status = status
    membership.amount = amount
    membership.currency = currency
    membership.interval = interval
    membership.current_period_end = from_timestamp(period_end(subscription))
    membership.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    membership.canceled_at = from_timestamp(subscription.get("canceled_at"))
    _keep_cancellation_reason(membership, subscription)
    started = from_timestamp(subscription.get("start_date") or subscription.get("created"))
    if started is not None:
        membership.started_at = started
    membership.stripe_state_at = state_at
    db.session.flush()
    notices.membership_changed(membership, before_status, before_cancel, started)
    return membership


def stripe_cancellation_reason(subscription: Obj) -> str | None:
    """Why Stripe says the subscription ends: the reader's words, their choice, or Stripe's code.

    ``cancellation_details.comment`` is free text (our cancel page sends the
    reader's reason there), ``feedback`` one of Stripe's choices
    (``too_expensive``, ...) and ``reason`` Stripe's own code
    (``cancellation_requested``, ``payment_failed``, ``payment_disputed``).
    """
    details = _get(subscription, "cancellation_details") or {}
    for key in ("comment", "feedback", "reason"):
        value = " ".join(str(details.get(key) or "").split())
        if value:
            return value[:MAX_CANCELLATION_REASON]
    return None


def _keep_cancellation_reason(membership: Membership, subscription: Obj) -> None:
    """The reason a membership ends: what we hold wins; Stripe's word only fills a gap.

    The reason the reader typed on our cancel page is stored at once and must
    survive the webhooks that follow (their ``reason`` is only Stripe's
    ``cancellation_requested``).  A membership that is not ending (resumed,
    or never cancelled) has no reason; an erased supporter's gets none back
    (Stripe's comment may be their own words).
    """
    ending = (
        membership.cancel_at_period_end
        or bool(subscription.get("cancel_at"))
        or membership.status in FINAL_STATUSES
    )
    if not ending:
        membership.cancellation_reason = None
    elif not membership.cancellation_reason and membership.supporter.erased_at is None:
        membership.cancellation_reason = stripe_cancellation_reason(subscription)


def _fetch_subscription(subscription_id: str, gateway: StripeGateway) -> dict[str, Any]:
    return _as_dict(gateway.retrieve_subscription(subscription_id))


def subscription_changed(event: WebhookEvent, gateway: StripeGateway) -> None:
    """``customer.subscription.created`` / ``.updated`` / ``.deleted``."""
    subscription = event.object
    at = _event_time(event)
    membership = _lock_membership(subscription["id"])
    if membership is None:
        _write_membership(None, subscription, at, gateway)
        return
    incoming = _status(subscription)
    if membership.status in FINAL_STATUSES and incoming not in FINAL_STATUSES:
        return  # Stripe never leaves a final status: this event is older
    state_at = membership.stripe_state_at
    if incoming in FINAL_STATUSES and membership.status not in FINAL_STATUSES:
        # The end is always the newest word, whatever the clocks say.
        _write_membership(membership, subscription, max(at, state_at or at), gateway)
        return
    if state_at is None or at >= state_at + TIE:
        _write_membership(membership, subscription, at, gateway)
    elif at <= state_at - TIE:
        return  # stale: newer state is stored
    else:
        # Within a second of the stored state: the event cannot say which is
        # newer.  Ask Stripe what holds now.
        fresh = _fetch_subscription(subscription["id"], gateway)
        _write_membership(membership, fresh, max(utcnow(), at), gateway)


def _membership_for(subscription_id: str, gateway: StripeGateway) -> Membership:
    """The membership of an invoice; fetched from Stripe when its own events are late."""
    membership = db.session.scalar(
        select(Membership).where(Membership.stripe_subscription_id == subscription_id)
    )
    if membership is not None:
        return membership
    fresh = _fetch_subscription(subscription_id, gateway)
    membership = _lock_membership(subscription_id)  # someone may have written it meanwhile
    return _write_membership(membership, fresh, utcnow(), gateway)


# -- payments ----------------------------------------------------------------------------


def _find_payment(
    invoice_id: str | None = None, intent_id: str | None = None, charge_id: str | None = None
) -> Payment | None:
    for column, value in (
        (Payment.stripe_invoice_id, invoice_id),
        (Payment.stripe_payment_intent_id, intent_id),
        (Payment.stripe_charge_id, charge_id),
    ):
        if value:
            payment = db.session.scalar(
                select(Payment)
                .where(column == value)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if payment is not None:
                return payment
    return None


def _link(payment: Payment, intent_id: str | None, charge_id: str | None) -> None:
    """Fill in the payment intent and charge ids unless another row already holds them."""
    if (
        intent_id
        and not payment.stripe_payment_intent_id
        and not _taken(Payment.stripe_payment_intent_id, intent_id)
    ):
        payment.stripe_payment_intent_id = intent_id
    if charge_id and not payment.stripe_charge_id and not _taken(Payment.stripe_charge_id, charge_id):
        payment.stripe_charge_id = charge_id


def _taken(column: Any, value: str) -> bool:
    return db.session.scalar(select(Payment.id).where(column == value)) is not None


def invoice_subscription_id(invoice: Obj) -> str | None:
    """Both shapes: ``invoice.subscription`` (older) or ``invoice.parent.subscription_details``."""
    return _id(invoice.get("subscription")) or _id(
        _get(invoice, "parent", "subscription_details", "subscription")
    )


def invoice_payment_ids(invoice: Obj) -> tuple[str | None, str | None]:
    """(payment intent, charge) of an invoice, in both shapes."""
    intent = invoice.get("payment_intent")
    intent_id = _id(intent)
    charge_id = _id(invoice.get("charge"))
    if charge_id is None and isinstance(intent, Mapping):
        charge_id = _id(intent.get("latest_charge"))
    payments = _get(invoice, "payments", "data") or []
    # The paid one first, then the newest attempt.
    for entry in sorted(payments, key=lambda p: (p.get("status") != "paid", -(p.get("created") or 0))):
        payment = entry.get("payment") or {}
        intent_id = intent_id or _id(payment.get("payment_intent"))
        charge_id = charge_id or _id(payment.get("charge"))
        if isinstance(payment.get("payment_intent"), Mapping):
            charge_id = charge_id or _id(payment["payment_intent"].get("latest_charge"))
    return intent_id, charge_id


def _invoice_metadata(invoice: Obj) -> Obj:
    """The subscription's metadata as the invoice carries it (shapes differ by version)."""
    for path in (("parent", "subscription_details", "metadata"), ("subscription_details", "metadata")):
        found = _get(invoice, *path)
        if found:
            return dict(found)
    lines = _get(invoice, "lines", "data") or []
    return dict(lines[0].get("metadata") or {}) if lines else {}


def _owner(invoice: Obj, gateway: StripeGateway) -> tuple[Supporter, Membership | None]:
    subscription_id = invoice_subscription_id(invoice)
    if subscription_id:
        membership = _membership_for(subscription_id, gateway)
        return membership.supporter, membership
    return supporter_for_customer(invoice["customer"], gateway), None


def _currency(obj: Obj) -> str:
    currency = str(obj.get("currency") or "").lower()
    if currency not in SUPPORTED_CURRENCIES:
        raise EventNotApplied("unsupported_currency", detail=currency)
    return currency


def invoice_paid(event: WebhookEvent, gateway: StripeGateway) -> None:
    """``invoice.paid`` / ``invoice.payment_succeeded``: the money arrived."""
    invoice = event.object
    amount = int(invoice.get("amount_paid") or 0)
    if amount <= 0:
        return  # nothing was charged (a free trial, a full credit)
    intent_id, charge_id = invoice_payment_ids(invoice)
    paid_at = from_timestamp(_get(invoice, "status_transitions", "paid_at")) or _event_time(event)
    payment = _find_payment(invoice["id"], intent_id, charge_id)
    if payment is None:
        supporter, membership = _owner(invoice, gateway)
        fee_cover = str(_invoice_metadata(invoice).get("fee_cover") or "0")
        payment = Payment(
            supporter=supporter,
            membership=membership,
            stripe_invoice_id=invoice["id"],
            amount=amount,
            currency=_currency(invoice),
            fee_cover=int(fee_cover) if fee_cover.isdigit() and int(fee_cover) < amount else 0,
            status=PaymentStatus.SUCCEEDED,
            paid_at=paid_at,
            campaign=membership.campaign if membership else None,
            utm=membership.utm if membership else None,
        )
        db.session.add(payment)
    else:
        payment.stripe_invoice_id = payment.stripe_invoice_id or invoice["id"]
        if payment.status == PaymentStatus.FAILED:
            # A paid invoice is a fact: earlier failures of it no longer count.
            payment.status = PaymentStatus.SUCCEEDED
            payment.failure_code = None
            payment.amount = amount
        payment.paid_at = payment.paid_at or paid_at
        if payment.membership_id is None and (subscription_id := invoice_subscription_id(invoice)):
            payment.membership = _membership_for(subscription_id, gateway)
    _link(payment, intent_id, charge_id)
    notices.payment_succeeded(payment)


def invoice_payment_failed(event: WebhookEvent, gateway: StripeGateway) -> None:
    """A charge of the invoice failed; Stripe retries, the membership goes ``past_due``.

    The membership itself follows its subscription events: ``past_due`` is still
    a member.
    """
    invoice = event.object
    amount = int(invoice.get("amount_due") or 0)
    if amount <= 0:
        return
    intent_id, charge_id = invoice_payment_ids(invoice)
    payment = _find_payment(invoice["id"])
    if payment is None:
        supporter, membership = _owner(invoice, gateway)
        payment = Payment(
            supporter=supporter,
            membership=membership,
            stripe_invoice_id=invoice["id"],
            amount=amount,
            currency=_currency(invoice),
            status=PaymentStatus.FAILED,
            campaign=membership.campaign if membership else None,
        )
        db.session.add(payment)
    elif payment.status == PaymentStatus.FAILED:
        payment.amount = amount
    # else: already paid (this failure came late) or refunded/disputed: keep.
    _link(payment, intent_id, charge_id)
    db.session.flush()
    notices.renewal_failed(payment, invoice.get("billing_reason"), _event_time(event))


def _charge_of_intent(intent: Obj) -> str | None:
    charge = _id(intent.get("latest_charge"))
    if charge is None:  # older shapes list the charges
        charges = _get(intent, "charges", "data") or []
        charge = _id(charges[0]) if charges else None
    return charge


def _intent_invoice(intent: Obj, gateway: StripeGateway) -> str | None:
    """The invoice a payment intent paid, or None for a one-time gift."""
    if "invoice" in intent:  # older shapes say it (null for a one-time payment)
        return _id(intent["invoice"])
    existing = _find_payment(intent_id=intent["id"])
    if existing is not None:
        return existing.stripe_invoice_id
    if (intent.get("metadata") or {}).get("frequency") == "once":
        return None  # our support page's one-time gift
    # The current shape dropped the link; the gateway's pinned version has it.
    # (One call per such event: on the current shape, renewals cost one each.)
    fetched = _as_dict(gateway.retrieve_payment_intent(intent["id"]))
    return _id(fetched.get("invoice"))


def payment_intent_succeeded(event: WebhookEvent, gateway: StripeGateway) -> None:
    intent = event.object
    invoice_id = _intent_invoice(intent, gateway)
    charge_id = _charge_of_intent(intent)
    if invoice_id:
        # A membership's charge: the invoice events own it; keep the ids for refunds.
        payment = _find_payment(invoice_id=invoice_id)
        if payment is not None:
            _link(payment, intent["id"], charge_id)
        return
    amount = int(intent.get("amount_received") or intent.get("amount") or 0)
    if amount <= 0:
        return
    payment = _find_payment(intent_id=intent["id"], charge_id=charge_id)
    if payment is None:
        supporter = supporter_for_customer(intent.get("customer"), gateway)
        metadata = intent.get("metadata") or {}
        fee_cover = str(metadata.get("fee_cover") or "0")
        payment = Payment(
            supporter=supporter,
            stripe_payment_intent_id=intent["id"],
            amount=amount,
            currency=_currency(intent),
            fee_cover=int(fee_cover) if fee_cover.isdigit() and int(fee_cover) < amount else 0,
            status=PaymentStatus.SUCCEEDED,
            paid_at=_event_time(event),
            campaign=(str(metadata["campaign"])[:100] if metadata.get("campaign") else None),
            utm={k: str(metadata[k])[:100] for k in UTM_FIELDS if metadata.get(k)} or None,
        )
        db.session.add(payment)
    elif payment.status == PaymentStatus.FAILED:
        payment.status = PaymentStatus.SUCCEEDED
        payment.failure_code = None
        payment.amount = amount
        payment.paid_at = payment.paid_at or _event_time(event)
    _link(payment, intent["id"], charge_id)
    notices.payment_succeeded(payment)


def payment_intent_failed(event: WebhookEvent, gateway: StripeGateway) -> None:
    intent = event.object
    error = intent.get("last_payment_error") or {}
    code = error.get("decline_code") or error.get("code") or "card_declined"
    method = error.get("payment_method") or {}
    card = method.get("card") if isinstance(method, dict) else None
    # A card declined in the reader's browser: the support page's limits count it.
    attempts.declined_by_stripe(intent["id"], str(code), (card or {}).get("fingerprint"))
    invoice_id = _intent_invoice(intent, gateway)
    if invoice_id:
        return  # invoice.payment_failed records a membership's failed charge
    amount = int(intent.get("amount") or 0)
    if amount <= 0 or not intent.get("customer"):
        return
    payment = _find_payment(intent_id=intent["id"])
    if payment is None:
        supporter = supporter_for_customer(intent["customer"], gateway)
        payment = Payment(
            supporter=supporter,
            stripe_payment_intent_id=intent["id"],
            amount=amount,
            currency=_currency(intent),
            status=PaymentStatus.FAILED,
            failure_code=str(code)[:100],
        )
        db.session.add(payment)
    elif payment.status == PaymentStatus.FAILED:
        payment.failure_code = str(code)[:100]
    # else: the reader retried and it succeeded; this failure is history.


def _payment_for_charge(
    charge_id: str | None, intent_id: str | None, charge: Obj | None, gateway: StripeGateway
) -> Payment:
    payment = _find_payment(charge_id=charge_id, intent_id=intent_id)
    if payment is None:
        invoice_id: str | None = None
        if charge is not None and "invoice" in charge:
            invoice_id = _id(charge["invoice"])
        elif intent_id:
            invoice_id = _id(_as_dict(gateway.retrieve_payment_intent(intent_id)).get("invoice"))
        if invoice_id:
            payment = _find_payment(invoice_id=invoice_id)
    if payment is None:
        # Its payment event has not been applied yet: try again later.
        raise EventNotApplied("payment_not_found", detail=charge_id or intent_id or "")
    _link(payment, intent_id, charge_id)
    return payment


def charge_refunded(event: WebhookEvent, gateway: StripeGateway) -> None:
    charge = event.object
    payment = _payment_for_charge(charge["id"], _id(charge.get("payment_intent")), charge, gateway)
    refunded = min(int(charge.get("amount_refunded") or 0), payment.amount)
    # Refunds only grow: an older event with a smaller total changes nothing.
    payment.refunded_amount = max(payment.refunded_amount or 0, refunded)
    if payment.refunded_amount >= payment.amount and payment.status != PaymentStatus.DISPUTED:
        payment.status = PaymentStatus.REFUNDED
    notices.refunded(payment, _event_time(event))


def dispute_created(event: WebhookEvent, gateway: StripeGateway) -> None:
    dispute = event.object
    if _newer_event_applied(["charge.dispute.closed"], dispute["id"], after=None):
        return  # it closed already; this opening came late
    payment = _payment_for_charge(
        _id(dispute.get("charge")), _id(dispute.get("payment_intent")), None, gateway
    )
    payment.status = PaymentStatus.DISPUTED


def dispute_closed(event: WebhookEvent, gateway: StripeGateway) -> None:
    dispute = event.object
    payment = _payment_for_charge(
        _id(dispute.get("charge")), _id(dispute.get("payment_intent")), None, gateway
    )
    if dispute.get("status") == "lost":
        payment.status = PaymentStatus.DISPUTED  # the money went back to the card holder
    elif payment.refunded_amount >= payment.amount:
        payment.status = PaymentStatus.REFUNDED
    else:  # won, or an inquiry closed without a chargeback
        payment.status = PaymentStatus.SUCCEEDED


def acknowledge(event: WebhookEvent, gateway: StripeGateway) -> None:
    """Stored for the record; nothing of ours changes (yet)."""


def payout_paid(event: WebhookEvent, gateway: StripeGateway) -> None:
    """Money reached the bank: record the payout and what it paid out (one list per payout)."""
    from app.services import reconciliation

    reconciliation.record_payout(event.object, gateway, _event_time(event))


def payout_changed(event: WebhookEvent, gateway: StripeGateway) -> None:
    """``payout.failed`` / ``payout.canceled`` (stored even if ``payout.paid`` never came) and
    ``payout.updated`` (a payout we have): its status; a failure emails finance staff."""
    from app.services import reconciliation

    when = _event_time(event)
    row, failed = reconciliation.record_payout_status(
        event.object, when, create=event.type != "payout.updated"
    )
    if row is not None and failed:
        notices.payout_failed(row, when)


def invoice_upcoming(event: WebhookEvent, gateway: StripeGateway) -> None:
    """A yearly member hears about the renewal before it is charged (never a fetch)."""
    invoice = event.object
    subscription_id = invoice_subscription_id(invoice)
    if not subscription_id:
        return
    membership = db.session.scalar(
        select(Membership).where(Membership.stripe_subscription_id == subscription_id)
    )
    if membership is None:
        return
    renews_at = from_timestamp(invoice.get("next_payment_attempt") or invoice.get("period_end"))
    notices.renewal_coming(membership, membership.current_period_end or renews_at)


def card_updated(event: WebhookEvent, gateway: StripeGateway) -> None:
    """The card network replaced an expiring card: the expiry notice follows the new date."""
    method = event.object
    customer_id = _id(method.get("customer"))
    card = card_details(method)
    if not customer_id or not card:
        return
    supporter = db.session.scalar(select(Supporter).where(Supporter.stripe_customer_id == customer_id))
    if supporter is not None:
        remember_card(supporter, card)


#: What an event's ``data.object`` is, for payloads that do not say (``object``).
_KINDS = (
    ("customer.subscription.", "subscription"),
    ("customer.", "customer"),
    ("invoice.", "invoice"),
    ("payment_intent.", "payment_intent"),
    ("charge.dispute.", "dispute"),
    ("charge.", "charge"),
)


def supporter_of(event: WebhookEvent) -> int | None:
    """The supporter an event is about, by the Stripe ids its object names; once it is applied.

    The customer first, then the subscription, then the payment (invoice,
    payment intent, charge): a reader with a second Stripe customer is found
    through the membership or payment the event touched.
    """
    obj = event.object
    kind = obj.get("object") or next((k for p, k in _KINDS if event.type.startswith(p)), None)
    own = obj.get("id")
    customer = own if kind == "customer" else _id(obj.get("customer"))
    subscription = own if kind == "subscription" else None
    invoice = own if kind == "invoice" else _id(obj.get("invoice"))
    intent = own if kind == "payment_intent" else _id(obj.get("payment_intent"))
    charge = own if kind == "charge" else _id(obj.get("charge"))
    if kind == "invoice":
        subscription = invoice_subscription_id(obj)
        intent, charge = invoice_payment_ids(obj)
    if customer and (
        found := db.session.scalar(select(Supporter.id).where(Supporter.stripe_customer_id == customer))
    ):
        return int(found)
    if subscription and (
        found := db.session.scalar(
            select(Membership.supporter_id).where(Membership.stripe_subscription_id == subscription)
        )
    ):
        return int(found)
    for column, value in (
        (Payment.stripe_invoice_id, invoice),
        (Payment.stripe_payment_intent_id, intent),
        (Payment.stripe_charge_id, charge),
    ):
        if value and (found := db.session.scalar(select(Payment.supporter_id).where(column == value))):
            return int(found)
    return None


HANDLERS: dict[str, Callable[[WebhookEvent, StripeGateway], None]] = {
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    "invoice.paid": invoice_paid,
    "invoice.payment_succeeded": invoice_paid,
    "invoice.payment_failed": invoice_payment_failed,
    "payment_intent.succeeded": payment_intent_succeeded,
    "payment_intent.payment_failed": payment_intent_failed,
    "charge.refunded": charge_refunded,
    "charge.dispute.created": dispute_created,
    "charge.dispute.closed": dispute_closed,
    "customer.updated": customer_updated,
    "customer.deleted": customer_deleted,
    # Kept for the record; later issues act on them (card reminders,
    # renewal notices, payout reconciliation).
    "payment_method.automatically_updated": card_updated,
    "invoice.upcoming": invoice_upcoming,
    "payout.paid": payout_paid,
    "payout.failed": payout_changed,
    "payout.canceled": payout_changed,
    "payout.updated": payout_changed,
}


def apply(event: WebhookEvent, gateway: StripeGateway) -> bool:
    """Apply one stored event; False when its type is not one we act on."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        return False
    handler(event, gateway)
    return True
