"""Changing a membership from the account: amount, frequency, cancel, resume, a new card.

Every change goes to Stripe through the gateway first.  The local rows are then
written from Stripe's answer at once, so the account page tells the truth
straight away; the webhooks that follow carry the same subscription, invoice
and payment ids and are applied by the same code (``memberships``), and the
outbox keys every email by what it is about, so nothing happens twice.  Every
action is written to the audit trail.  The caller (a view) owns the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Interval, Membership, MembershipStatus, Payment, Supporter
from app.models.types import utcnow
from app.services import amounts, audit, memberships, payments
from app.services.account import authentication
from app.services.account.links import actor
from app.services.errors import AccountError, InvalidChoice, InvalidDonation, PaymentDeclined
from app.services.stripe_gateway import StripeGateway
from app.services.stripe_objects import card_details, invoice_subscription_id, period_end, plain
from app.services.supporters import remember_card, running_memberships

#: Stripe's codes (a 402 from ``invoices.pay``) for a charge the card holder must confirm.
AUTHENTICATION_CODES = frozenset({"invoice_payment_intent_requires_action", "authentication_required"})


@dataclass(frozen=True)
class NewTerms:
    gift: int
    fee_cover: int
    currency: str
    interval: Interval

    @property
    def total(self) -> int:
        return self.gift + self.fee_cover


@dataclass(frozen=True)
class Change:
    """What a change does: the charge before and after, and from when."""

    before_amount: int
    before_interval: Interval
    after: NewTerms
    effective: datetime | None


def gift_of(membership: Membership, fee_percent_bps: int, fee_fixed: dict[str, int]) -> int:
    """The gift inside the charged amount (which may include the card fees the member covers)."""
    if not membership.covers_fees:
        return membership.amount
    rate = 10_000 - fee_percent_bps
    guess = membership.amount * rate // 10_000 - fee_fixed.get(membership.currency, 0)
    for gift in range(max(guess - 3, 1), guess + 4):
        if (
            gift + amounts.fee_cover(gift, membership.currency, fee_percent_bps, fee_fixed)
            == membership.amount
        ):
            return gift
    return membership.amount


def terms_from_form(
    form: Mapping[str, str], membership: Membership, fee_percent_bps: int, fee_fixed: dict[str, int]
) -> NewTerms:
    """The new amount and frequency, checked as the support page checks them.

    The currency stays: Stripe keeps one currency per subscription.
    """
    errors: dict[str, str] = {}
    frequency = (form.get("frequency") or membership.interval.value).strip().lower()
    if frequency not in (Interval.MONTH, Interval.YEAR):
        errors["frequency"] = "unknown_frequency"
    currency = membership.currency
    chosen = (form.get("amount") or "").strip()
    text = (form.get("custom_amount") or "") if chosen in ("", "other") else chosen
    gift = 0
    try:
        gift = amounts.parse_amount(text, currency)
        amounts.check_limits(gift, currency)
    except InvalidDonation as exc:
        errors["amount"] = exc.code
    if errors:
        raise InvalidChoice(errors)
    cover = form.get("cover_fees") in ("1", "on", "true", "yes")
    fee_cover = amounts.fee_cover(gift, currency, fee_percent_bps, fee_fixed) if cover else 0
    terms = NewTerms(gift=gift, fee_cover=fee_cover, currency=currency, interval=Interval(frequency))
    if terms.total == membership.amount and terms.interval == membership.interval:
        raise InvalidChoice({"amount": "nothing_to_change"})
    return terms


def _require_running(membership: Membership) -> None:
    if not membership.is_member:
        raise AccountError("membership_ended")


def preview_change(membership: Membership, terms: NewTerms) -> Change:
    _require_running(membership)
    if membership.cancel_at_period_end:
        raise AccountError("membership_ending")
    if membership.status == MembershipStatus.PAST_DUE and terms.interval != membership.interval:
        # The new interval starts after a free stretch up to the period's end
        # (see ``change_membership``); while that period's invoice is unpaid it
        # would be given away, and Stripe's retries would meet a trialing
        # subscription.  A new card first.
        raise AccountError("update_card_first")
    return Change(
        before_amount=membership.amount,
        before_interval=membership.interval,
        after=terms,
        effective=membership.current_period_end,
    )


def store_subscription(membership: Membership, subscription: Any, gateway: StripeGateway) -> None:
    """Write Stripe's answer to the row now, as its webhook will (same code, same result)."""
    memberships.write_membership(membership, plain(subscription), utcnow(), gateway)


def change_membership(
    supporter: Supporter, membership: Membership, terms: NewTerms, gateway: StripeGateway
) -> Change:
    """New amount and/or frequency from the next charge on; nothing charged or credited now."""
    change = preview_change(membership, terms)
    plan_id = gateway.ensure_plan(terms.total, terms.currency, terms.interval.value)
    subscription = gateway.retrieve_subscription(membership.stripe_subscription_id)
    item_id = subscription["items"]["data"][0]["id"]
    next_charge = period_end(subscription)
    # Same interval: ``proration_behavior="none"`` and the billing date stays;
    # the next invoice has the new amount.  Another interval is different at
    # Stripe: it resets the billing cycle anchor to now and invoices the new
    # price at once (no credit either, with proration off), which would charge
    # a monthly member a whole year today.  So the rest of the paid period
    # becomes a trial that ends on the next charge date, Stripe's documented
    # way to move a billing date: "introducing a trial results in setting the
    # anchor to the end of the trial", with proration off so that the paid
    # days are not credited
    # (https://docs.stripe.com/billing/subscriptions/billing-cycle).  Nothing
    # is charged now (a $0 invoice at most), the subscription reads
    # ``trialing`` until then, and the first invoice of the new interval is
    # made at ``trial_end``.  A subscription schedule (a second phase from the
    # period's end) would do the same without the trialing status, but
    # localstripe has no schedules, and the membership would show its old
    # terms until the phase starts.  README, "Supporter self-service", says more.
    trial_end = next_charge if terms.interval != membership.interval else None
    metadata = {
        "frequency": terms.interval.value,
        "gift": str(terms.gift),
        "fee_cover": str(terms.fee_cover),
    }
    updated = gateway.change_subscription_plan(
        membership.stripe_subscription_id, item_id, plan_id, metadata, trial_end=trial_end
    )
    store_subscription(membership, updated, gateway)
    membership.covers_fees = terms.fee_cover > 0
    audit.record(
        actor(supporter),
        "membership.change",
        supporter_id=supporter.id,
        membership_id=membership.id,
        before={"amount": change.before_amount, "interval": change.before_interval.value},
        after={"amount": terms.total, "interval": terms.interval.value, "currency": terms.currency},
    )
    return change


# -- cancel and resume -----------------------------------------------------------------------


def cancel_membership(
    supporter: Supporter, membership: Membership, reason: str | None, gateway: StripeGateway
) -> None:
    """Stop at the end of the paid period; the reader's reason is kept for the newsroom."""
    _require_running(membership)
    if membership.cancel_at_period_end:
        return
    reason = " ".join((reason or "").split())[: memberships.MAX_CANCELLATION_REASON] or None
    # Sent as ``cancellation_details.comment``, exactly as stored here, so the
    # webhooks that echo it back agree with us; without a reason we keep
    # whatever Stripe records (``cancellation_requested``).
    subscription = gateway.set_cancel_at_period_end(membership.stripe_subscription_id, True, reason or "")
    if reason:
        membership.cancellation_reason = reason
    store_subscription(membership, subscription, gateway)
    audit.record(
        actor(supporter),
        "membership.cancel",
        supporter_id=supporter.id,
        membership_id=membership.id,
        reason_given=reason is not None,
    )


def resume_membership(supporter: Supporter, membership: Membership, gateway: StripeGateway) -> None:
    """Take back a cancellation before the period ends."""
    _require_running(membership)
    if not membership.cancel_at_period_end:
        return
    subscription = gateway.set_cancel_at_period_end(membership.stripe_subscription_id, False)
    store_subscription(membership, subscription, gateway)  # no longer ending: no reason either
    audit.record(
        actor(supporter), "membership.resume", supporter_id=supporter.id, membership_id=membership.id
    )


# -- a new card ------------------------------------------------------------------------------


def start_card_update(supporter: Supporter, gateway: StripeGateway) -> Any:
    """A SetupIntent for the browser to confirm with the new card (the card goes to Stripe only)."""
    if not supporter.stripe_customer_id:
        raise AccountError("no_customer")
    return gateway.create_setup_intent(
        supporter.stripe_customer_id, {"purpose": "card_update", "supporter": str(supporter.id)}
    )


@dataclass
class CardUpdate:
    card: dict[str, Any] | None
    #: Open invoices charged again with the new card: (payment row, paid?, decline code).
    retried: list[tuple[Payment | None, bool, str | None]] = field(default_factory=list)


def finish_card_update(supporter: Supporter, setup_intent_id: str, gateway: StripeGateway) -> CardUpdate:
    """Make the confirmed card the default everywhere, then charge any failed renewal again."""
    customer_id = supporter.stripe_customer_id
    if not customer_id:
        raise AccountError("no_customer")
    setup = gateway.retrieve_setup_intent(setup_intent_id)
    if setup["customer"] != customer_id:
        raise AccountError("customer_mismatch")
    method_id = setup["payment_method"]
    if not isinstance(method_id, str) and method_id is not None:
        method_id = method_id["id"]
    if setup["status"] != "succeeded" or not method_id:
        raise AccountError("card_not_confirmed")
    method = gateway.make_default_payment_method(customer_id, method_id)
    # Stripe charges (and retries) a subscription's own default before the customer's.
    for membership in running_memberships(supporter):
        gateway.set_subscription_payment_method(membership.stripe_subscription_id, method_id)
    card = card_details(method)
    remember_card(supporter, card)
    audit.record(
        actor(supporter),
        "card.update",
        supporter_id=supporter.id,
        brand=card["brand"] if card else None,
        last4=card["last4"] if card else None,
    )
    outcome = CardUpdate(card=card)
    outcome.retried = retry_open_invoices(supporter, gateway)
    return outcome


def retry_open_invoices(
    supporter: Supporter, gateway: StripeGateway
) -> list[tuple[Payment | None, bool, str | None]]:
    assert supporter.stripe_customer_id
    results: list[tuple[Payment | None, bool, str | None]] = []
    for invoice in gateway.list_open_invoices(supporter.stripe_customer_id):
        if not invoice["amount_due"]:
            continue
        payment = db.session.scalar(select(Payment).where(Payment.stripe_invoice_id == invoice["id"]))
        try:
            paid = gateway.pay_invoice(invoice["id"])
        except PaymentDeclined as exc:
            code = exc.code
            if code in AUTHENTICATION_CODES:
                # Not a decline: the bank wants the member; the account page offers the check.
                authentication.mark_waiting(payment)
                code = payments.AWAITS_AUTHENTICATION
            results.append((payment, False, code))
            audit.record(
                actor(supporter),
                "invoice.retry",
                supporter_id=supporter.id,
                invoice=invoice["id"],
                paid=False,
            )
            continue
        if paid["status"] != "paid":
            results.append((payment, False, "card_declined"))
            audit.record(
                actor(supporter),
                "invoice.retry",
                supporter_id=supporter.id,
                invoice=invoice["id"],
                paid=False,
            )
            continue
        # The same handler as the ``invoice.paid`` webhook that follows: one payment, one receipt.
        payments.invoice_paid(plain(paid), utcnow(), gateway)
        subscription_id = invoice_subscription_id(plain(paid))
        if subscription_id:
            membership = db.session.scalar(
                select(Membership).where(Membership.stripe_subscription_id == subscription_id)
            )
            if membership is not None:
                store_subscription(membership, gateway.retrieve_subscription(subscription_id), gateway)
        payment = db.session.scalar(select(Payment).where(Payment.stripe_invoice_id == invoice["id"]))
        results.append((payment, True, None))
        audit.record(
            actor(supporter), "invoice.retry", supporter_id=supporter.id, invoice=invoice["id"], paid=True
        )
    return results
