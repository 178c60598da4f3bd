"""The donation flow: validate the reader's choice, set up the payment, record it.

Stripe's Payment Element flow.  Recurring: customer + subscription created
``default_incomplete`` (its first invoice's payment intent waits) -> the browser
confirms that intent with ``confirmPayment`` (3-D Secure there, once) -> Stripe
pays the invoice, activates the subscription and saves the method for the
renewals.  Once: customer + PaymentIntent -> the browser confirms it.  Rows are
written once Stripe says the money moved, or that the bank pays it later (a
``pending`` row, ``bank_debits``); the webhooks confirm the same rows later
without doubling them.

No double charge: creates a retry can repeat carry idempotency keys of ours; a
payment still ``processing`` is a gift being confirmed, not a decline; a browser's
new attempt with the email of its own recent attempt reuses that attempt's customer.

Nobody signs in here: a gift with a known supporter's email gets a Stripe
customer of its own and changes nothing of the supporter's (``supporters.for_gift``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.i18n import DEFAULT_LOCALE, LOCALES
from app.models import (
    AttemptOutcome,
    Interval,
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
)
from app.models.types import from_timestamp, utcnow
from app.services import amounts, attempts, bank_debits, notices, stripe_objects, supporters
from app.services.errors import (
    DonationStateError,
    InvalidChoice,
    NotFound,
    PaymentDeclined,
)
from app.services.stripe_gateway import StripeGateway
from app.services.stripe_objects import MAX_TAG, UTM_FIELDS, card_details, period_end
from app.services.supporters import remember_card

MAX_NAME = 200
#: A first charge in these states is on its way, not declined: ``processing`` (the bank has not
#: answered yet), or ``succeeded`` before the invoice and subscription caught up (after 3-D Secure).
SETTLING = ("processing", "succeeded")
#: The charge failed: the intent waits for another card, or was given up.
FAILED_INTENT = ("requires_payment_method", "canceled")


@dataclass(frozen=True, kw_only=True)
class DonationChoice(amounts.Quote):
    """The server's reading of the gift (``amounts.Quote``) and who gives it."""

    email: str
    name: str
    locale: str
    campaign: str | None = None
    utm: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, str]:
        data = {
            "frequency": self.frequency,
            "gift": str(self.amount),
            "fee_cover": str(self.fee_cover),
            "locale": self.locale,
        }
        if self.campaign:
            data["campaign"] = self.campaign
        data.update(self.utm)
        return data


@dataclass
class Pending:
    """What this browser started; kept in its signed session between steps."""

    choice: DonationChoice
    customer_id: str
    intent_id: str
    subscription_id: str | None = None
    card: dict[str, Any] | None = None
    #: Stripe is still confirming the payment (``processing``): the webhooks will finish it.
    confirming: bool = False

    def to_session(self) -> dict[str, Any]:
        return {**asdict(self), "choice": asdict(self.choice)}

    @classmethod
    def from_session(cls, data: Mapping[str, Any]) -> Pending:
        return cls(
            choice=DonationChoice(**data["choice"]),
            customer_id=data["customer_id"],
            intent_id=data["intent_id"],
            subscription_id=data.get("subscription_id"),
            card=data.get("card"),
            confirming=bool(data.get("confirming")),
        )


@dataclass(frozen=True)
class Started:
    kind: str  # "subscription" (its first invoice's payment intent) or "payment" (one-time)
    client_secret: str
    pending: Pending


@dataclass(frozen=True)
class Outcome:
    #: With ``confirming``: the ``pending`` row of a payment the bank pays later, if it is one.
    payment: Payment | None = None
    action_client_secret: str | None = None
    #: Nothing was declined: Stripe is still confirming the payment (the webhooks finish it).
    confirming: bool = False


def _clean_tag(value: str | None) -> str | None:
    value = (value or "").strip()[:MAX_TAG]
    return value or None


def choice_from_form(
    form: Mapping[str, str], locale: str, fee_percent_bps: int, fee_fixed: dict[str, int]
) -> DonationChoice:
    """Validate every field; raise ``InvalidChoice`` with all the errors at once."""
    errors: dict[str, str] = {}
    quote = amounts.Quote(0, amounts.DEFAULT_CURRENCY, amounts.DEFAULT_FREQUENCY)
    try:
        quote = amounts.quote(form, fee_percent_bps, fee_fixed)
    except InvalidChoice as exc:
        errors.update(exc.errors)
    email = ""
    try:
        email = supporters.read_email(form.get("email"))
    except InvalidChoice as exc:
        errors.update(exc.errors)
    name = " ".join((form.get("name") or "").split())
    if len(name) > MAX_NAME:
        errors["name"] = "name_too_long"
    if errors:
        raise InvalidChoice(errors)

    utm = {k: v for k in UTM_FIELDS if (v := _clean_tag(form.get(k)))}
    return DonationChoice(
        amount=quote.amount,
        currency=quote.currency,
        frequency=quote.frequency,
        email=email,
        name=name,
        locale=locale if locale in LOCALES else DEFAULT_LOCALE,
        cover_fees=quote.cover_fees,
        fee_cover=quote.fee_cover,
        campaign=_clean_tag(form.get("campaign")),
        utm=utm,
    )


def start(
    choice: DonationChoice, gateway: StripeGateway, reuse_customer: str | None = None, attempt_key: str = ""
) -> Started:
    """Create (or reuse) the Stripe customer and the intent the browser will confirm.

    ``attempt_key`` names the reader's attempt: with it, the creates carry idempotency
    keys, so a request the gateway repeats is the same customer and intent at Stripe.
    """
    # Only a customer this browser made: never a supporter's own (it would take the new card).
    known = reuse_customer is not None and supporters.is_supporters_customer(reuse_customer)
    customer_id = None if known else reuse_customer
    if customer_id is None:
        source = {"source": "support_page"}
        key = f"customer-{attempt_key}" if attempt_key else None
        customer_id = gateway.create_customer(choice.email, choice.name, choice.locale, source, key).id
    key = f"intent-{attempt_key}-{customer_id}" if attempt_key else None
    if choice.recurring:
        plan_id = gateway.ensure_plan(choice.total, choice.currency, choice.frequency)
        subscription = gateway.create_subscription(
            customer_id, plan_id, choice.metadata(), idempotency_key=key
        )
        intent = subscription["latest_invoice"]["payment_intent"]
        pending = Pending(choice, customer_id, intent_id=intent["id"], subscription_id=subscription.id)
        return Started(kind="subscription", client_secret=intent["client_secret"], pending=pending)
    intent = gateway.create_payment_intent(
        customer_id, choice.total, choice.currency, choice.metadata(), idempotency_key=key
    )
    pending = Pending(choice=choice, customer_id=customer_id, intent_id=intent.id)
    return Started(kind="payment", client_secret=intent.client_secret, pending=pending)


def start_attempt(
    choice: DonationChoice,
    attempt_id: int,
    gateway: StripeGateway,
    reuse_customer: str | None = None,
    payment_method: str = "",
) -> Started:
    """``start`` for the reader's payment attempt, which learns its intent (or its decline).

    Failed tries with one email in one browser leave one Stripe customer: its recent attempt's is reused.
    ``payment_method`` is what the browser made of the typed card (``createPaymentMethod``):
    a card declined too often today is refused (``TooManyAttempts``) before anything is made.
    """
    if re.fullmatch(r"pm_\w{1,250}", payment_method):
        with suppress(NotFound):  # not one of Stripe's: confirmPayment uses the typed details anyway
            attempts.check_card(attempt_id, card_fingerprint(gateway.retrieve_payment_method(payment_method)))
    if reuse_customer is None and (recent := attempts.recent_intent(choice.email, attempt_id)):
        reuse_customer = _intent_customer(recent, gateway)
    try:
        started = start(choice, gateway, reuse_customer=reuse_customer, attempt_key=attempts.key(attempt_id))
    except PaymentDeclined as exc:
        attempts.finish(attempt_id, AttemptOutcome.DECLINED, exc.code, exc.card_fingerprint)
        raise
    attempts.started(attempt_id, started.pending.intent_id)
    return started


def _intent_customer(intent_id: str, gateway: StripeGateway) -> str | None:
    """The customer of a recent attempt's intent; ``None`` if Stripe no longer has it."""
    try:
        if intent_id.startswith("seti_"):
            intent = gateway.retrieve_setup_intent(intent_id)
        else:
            intent = gateway.retrieve_payment_intent(intent_id)
    except NotFound:
        return None
    customer = intent["customer"]
    return customer if isinstance(customer, str) or customer is None else str(customer["id"])


def confirm(pending: Pending, intent_id: str, gateway: StripeGateway) -> Outcome:
    """The browser says it confirmed ``intent_id`` (or came back to ``return_url``): ask Stripe, finish."""
    if intent_id != pending.intent_id:
        raise DonationStateError("intent_mismatch")
    if pending.choice.recurring:
        return _confirm_recurring(pending, gateway)
    return _confirm_once(pending, gateway)


def confirm_attempt(
    pending: Pending, intent_id: str, attempt_id: int | None, gateway: StripeGateway
) -> Outcome:
    """``confirm`` for the reader's payment attempt, which learns the outcome.

    A decline is the caller's to record (``attempts.finish``, with the card's fingerprint), after
    it rolled back.
    """
    outcome = confirm(pending, intent_id, gateway)
    if outcome.payment is not None:
        attempts.finish(attempt_id, AttemptOutcome.SUCCEEDED)
    return outcome


def card_fingerprint(method: Any) -> str | None:
    """Stripe's fingerprint of a card: the same number gives the same one, whoever saves it."""
    if not method or isinstance(method, str) or "card" not in method or not method["card"]:
        return None
    card = method["card"]
    return str(card["fingerprint"]) if "fingerprint" in card and card["fingerprint"] else None


def _declined(error: Any) -> PaymentDeclined:
    method = error["payment_method"] if error and "payment_method" in error else None
    return PaymentDeclined(
        (error["code"] if error else None) or "card_declined", card_fingerprint=card_fingerprint(method)
    )


def _confirm_recurring(pending: Pending, gateway: StripeGateway) -> Outcome:
    if pending.subscription_id is None:
        raise DonationStateError("intent_mismatch")
    subscription = gateway.retrieve_subscription(pending.subscription_id)
    if subscription["customer"] != pending.customer_id:
        raise DonationStateError("customer_mismatch")
    invoice = subscription["latest_invoice"]
    intent = invoice["payment_intent"] if invoice is not None else None
    status = subscription["status"]
    if status in ("active", "trialing"):
        _remember_method(pending, intent, gateway)
        return Outcome(payment=record_subscription(pending, subscription))
    if intent is not None and intent["status"] == "requires_action":
        return Outcome(action_client_secret=intent["client_secret"])
    if status == "incomplete" and intent is not None and intent["status"] in SETTLING:
        _remember_method(pending, intent, gateway)
        record_subscription(pending, subscription)
        pending.confirming = True
        return Outcome(
            payment=bank_debits.first_charge_on_its_way(pending, subscription, intent, gateway),
            confirming=True,
        )
    # The first payment failed: the incomplete subscription expires at Stripe (23 hours);
    # another try starts a new one.
    raise _declined(intent["last_payment_error"] if intent is not None else None)


def _remember_method(pending: Pending, intent: Any, gateway: StripeGateway) -> None:
    """The method that paid, also as the customer's default (the account pages show it and
    change it there); Stripe saved it on the subscription (``save_default_payment_method``)."""
    method_id = intent["payment_method"] if intent is not None else None
    if pending.card is None and method_id:
        method_id = method_id if isinstance(method_id, str) else method_id["id"]
        pending.card = card_details(gateway.make_default_payment_method(pending.customer_id, method_id))


def still_confirming(pending: Pending, gateway: StripeGateway) -> bool:
    """The gift is still being confirmed: once declined, or paid, the reader may give again."""
    if pending.subscription_id:
        subscription = gateway.retrieve_subscription(pending.subscription_id)
        invoice = subscription["latest_invoice"]
        intent = invoice["payment_intent"] if invoice is not None else None
        failed = intent is not None and intent["status"] in FAILED_INTENT
        return not failed and subscription["status"] == "incomplete"
    return gateway.retrieve_payment_intent(pending.intent_id)["status"] == "processing"


def _confirm_once(pending: Pending, gateway: StripeGateway) -> Outcome:
    intent = gateway.retrieve_payment_intent(pending.intent_id)
    if intent["customer"] != pending.customer_id:
        raise DonationStateError("customer_mismatch")
    if intent["status"] == "succeeded":
        return Outcome(payment=record_one_time(pending, intent))
    if intent["status"] == "requires_action":
        return Outcome(action_client_secret=intent["client_secret"])
    if intent["status"] == "processing":
        pending.confirming = True
        return Outcome(payment=bank_debits.gift_on_its_way(pending, intent, gateway), confirming=True)
    raise _declined(intent["last_payment_error"])


def record_subscription(pending: Pending, subscription: Any) -> Payment | None:
    choice = pending.choice
    supporter, other_customer = supporters.for_gift(
        choice.email, choice.name, choice.locale, pending.customer_id
    )
    if not other_customer:
        remember_card(supporter, pending.card)  # a known supporter's card stays the one they gave
    membership = db.session.scalar(
        select(Membership).where(Membership.stripe_subscription_id == subscription.id)
    )
    if membership is None:
        membership = Membership(
            supporter=supporter,
            stripe_subscription_id=subscription.id,
            amount=choice.total,
            currency=choice.currency,
            interval=Interval(choice.frequency),
            covers_fees=choice.cover_fees,
            campaign=choice.campaign,
            utm=choice.utm or None,
            status=MembershipStatus(subscription["status"]),
        )
        db.session.add(membership)
    membership.status = MembershipStatus(subscription["status"])
    membership.current_period_end = from_timestamp(period_end(subscription))
    start = subscription["start_date"] if "start_date" in subscription else None
    membership.started_at = from_timestamp(start) or membership.started_at or utcnow()
    membership.stripe_state_at = utcnow()
    if other_customer:
        notices.gift_with_your_address(membership)

    invoice = subscription["latest_invoice"]
    if invoice is None or invoice["status"] != "paid":
        return None
    intent = invoice["payment_intent"] if "payment_intent" in invoice else None
    payment = db.session.scalar(select(Payment).where(Payment.stripe_invoice_id == invoice.id))
    if payment is None:
        payment = Payment(
            supporter=supporter,
            membership=membership,
            stripe_invoice_id=invoice.id,
            amount=invoice["amount_paid"] or choice.total,
            currency=invoice["currency"],
            fee_cover=choice.fee_cover,
            status=PaymentStatus.SUCCEEDED,
            campaign=choice.campaign,
            utm=choice.utm or None,
        )
        db.session.add(payment)
    payment.stripe_payment_intent_id = payment.stripe_payment_intent_id or stripe_objects.object_id(intent)
    payment.stripe_charge_id = payment.stripe_charge_id or stripe_objects.first_charge_id(invoice, intent)
    payment.paid_at = payment.paid_at or utcnow()
    notices.membership_changed(membership, None, False, started_at=utcnow())
    notices.payment_succeeded(payment)
    return payment


def record_one_time(pending: Pending, intent: Any) -> Payment:
    choice = pending.choice
    supporter, other_customer = supporters.for_gift(
        choice.email, choice.name, choice.locale, pending.customer_id
    )
    payment = db.session.scalar(select(Payment).where(Payment.stripe_payment_intent_id == intent.id))
    if payment is None:
        payment = Payment(
            supporter=supporter,
            stripe_payment_intent_id=intent.id,
            amount=intent["amount"],
            currency=intent["currency"],
            fee_cover=choice.fee_cover,
            status=PaymentStatus.SUCCEEDED,
            campaign=choice.campaign,
            utm=choice.utm or None,
            paid_at=utcnow(),
        )
        db.session.add(payment)
    payment.stripe_charge_id = payment.stripe_charge_id or stripe_objects.first_charge_id(None, intent)
    notices.payment_succeeded(payment)
    if other_customer:
        notices.gift_with_your_address(payment)
    return payment
