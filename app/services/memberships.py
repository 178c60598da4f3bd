"""Memberships as Stripe's subscriptions: what subscription events change.

Events handled here (each handler takes the Stripe object, the event's time
and the gateway; ``webhooks.HANDLERS`` dispatches to them, and sync,
self-service and staff actions call them with objects they fetched):

- ``customer.subscription.created`` / ``.updated`` / ``.deleted``:
  ``subscription_changed`` (status, amount, interval, period, cancellation);
- ``invoice.upcoming``: ``invoice_upcoming`` (a yearly renewal is coming: the notice).

A renewal's money is in ``payments`` (``invoice_paid``, ``invoice_payment_failed``).

How the order of events is settled, without asking Stripe on every event:
a subscription event older than the membership's ``stripe_state_at`` is stale
and skipped; a newer one is applied from its payload.  Stripe's ``created``
has whole seconds, so two events less than a second apart cannot be ordered:
only then is the subscription re-fetched through the gateway.  ``canceled``
and ``incomplete_expired`` are final at Stripe, so nothing moves a membership
out of them.

Rows written by the donation flow carry the same subscription id (unique), so
events confirm them instead of adding new ones.  The handlers are called with
the row locked and inside the caller's transaction; they change rows and never
commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import FINAL_STATUSES, Interval, Membership, MembershipStatus
from app.models.types import from_timestamp, utcnow
from app.services import event_rows, notices
from app.services.amounts import CURRENCIES
from app.services.errors import EventNotApplied
from app.services.gateway import EventGateway
from app.services.stripe_objects import (
    Obj,
    campaign_of,
    dig,
    fee_cover_of,
    invoice_subscription_id,
    period_end,
    plain,
    utm_of,
)
from app.services.supporters import supporter_for_customer

#: Two events closer than this cannot be ordered by their ``created``.
TIE = timedelta(seconds=1)

#: The ``membership.cancellation_reason`` column's size.
MAX_CANCELLATION_REASON = 500


def _lock_membership(subscription_id: str) -> Membership | None:
    held = event_rows.lookup("subscription", subscription_id, locked=True)
    if held is not event_rows.UNKNOWN:
        return held
    return db.session.scalar(
        select(Membership)
        .where(Membership.stripe_subscription_id == subscription_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _first_item(subscription: Obj) -> Obj:
    items = dig(subscription, "items", "data") or []
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
            if isinstance(c, str) and c.lower() in CURRENCIES
        ),
        None,
    )
    if currency is None:
        raise EventNotApplied("unsupported_currency", detail=subscription.get("id", ""))
    interval = plan.get("interval") or dig(price, "recurring", "interval")
    if interval not in (Interval.MONTH, Interval.YEAR):
        raise EventNotApplied("unsupported_interval", detail=str(interval))
    return amount, currency, Interval(interval)


def _status(subscription: Obj) -> MembershipStatus:
    try:
        return MembershipStatus(subscription["status"])
    except (KeyError, ValueError) as exc:
        raise EventNotApplied("unknown_subscription_status", detail=str(subscription.get("status"))) from exc


def write_membership(
    membership: Membership | None, subscription: Obj, state_at: datetime, gateway: EventGateway
) -> Membership:
    """Store what ``subscription`` says; it is at least as new as ``state_at``.

    Self-service writes Stripe's answer with it at once, as its webhook will
    (same code, same result).
    """
    status = _status(subscription)
    amount, currency, interval = _terms(subscription)
    before_status = membership.status if membership is not None else None
    before_cancel = bool(membership.cancel_at_period_end) if membership is not None else False
    if membership is None:
        metadata = subscription.get("metadata") or {}
        supporter = supporter_for_customer(subscription["customer"], gateway)
        membership = Membership(
            supporter=supporter,
            stripe_subscription_id=subscription["id"],
            covers_fees=fee_cover_of(metadata) > 0,
            campaign=campaign_of(metadata),
            utm=utm_of(metadata),
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
    details = dig(subscription, "cancellation_details") or {}
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


def _fetch_subscription(subscription_id: str, gateway: EventGateway) -> dict[str, Any]:
    return plain(gateway.retrieve_subscription(subscription_id))


def subscription_changed(subscription: Obj, at: datetime, gateway: EventGateway) -> None:
    """``customer.subscription.created`` / ``.updated`` / ``.deleted``: the membership follows."""
    membership = _lock_membership(subscription["id"])
    if membership is None:
        write_membership(None, subscription, at, gateway)
        return
    incoming = _status(subscription)
    if membership.status in FINAL_STATUSES and incoming not in FINAL_STATUSES:
        return  # Stripe never leaves a final status: this event is older
    state_at = membership.stripe_state_at
    if incoming in FINAL_STATUSES and membership.status not in FINAL_STATUSES:
        # The end is always the newest word, whatever the clocks say.
        write_membership(membership, subscription, max(at, state_at or at), gateway)
        return
    if state_at is None or at >= state_at + TIE:
        write_membership(membership, subscription, at, gateway)
    elif at <= state_at - TIE:
        return  # stale: newer state is stored
    else:
        # Within a second of the stored state: the event cannot say which is
        # newer.  Ask Stripe what holds now.
        fresh = _fetch_subscription(subscription["id"], gateway)
        write_membership(membership, fresh, max(utcnow(), at), gateway)


def membership_for(subscription_id: str, gateway: EventGateway) -> Membership:
    """The membership of an invoice; fetched from Stripe when its own events are late."""
    membership = event_rows.lookup("subscription", subscription_id)
    if membership is event_rows.UNKNOWN:
        membership = db.session.scalar(
            select(Membership).where(Membership.stripe_subscription_id == subscription_id)
        )
    if membership is not None:
        return membership
    fresh = _fetch_subscription(subscription_id, gateway)
    membership = _lock_membership(subscription_id)  # someone may have written it meanwhile
    return write_membership(membership, fresh, utcnow(), gateway)


def invoice_upcoming(invoice: Obj, at: datetime, gateway: EventGateway) -> None:
    """``invoice.upcoming``: a yearly member hears about the renewal before it is charged (never a fetch)."""
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
