"""Supporters as Stripe's customers: who a customer or an event is, and what customer events change.

Events handled here (each handler takes the Stripe object, the event's time
and the gateway; ``webhooks.HANDLERS`` dispatches to them):

- ``customer.updated``: ``customer_updated`` (name, language, email);
- ``customer.deleted``: ``customer_deleted`` (the supporter stays, without a customer);
- ``payment_method.updated`` / ``.automatically_updated``: ``card_updated``
  (a new expiry, or the card network replaced an expiring card);
- ``payment_method.attached`` / ``.detached``: ``card_attached`` / ``card_detached``;
- ``customer.updated`` also follows the default card (``invoice_settings``).

``supporter_for_customer`` finds (or makes) the supporter behind a customer
for the subscription and payment handlers; ``supporter_of`` says which
supporter an applied event was about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import email_validator
import sqlalchemy as sa
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Membership, Payment, Supporter, WebhookEvent
from app.services import event_rows
from app.services.errors import EventNotApplied, InvalidChoice, NotFound
from app.services.event_rows import StripeIds
from app.services.gateway import EventGateway
from app.services.stripe_objects import (
    Obj,
    card_details,
    dig,
    id_of,
    invoice_payment_ids,
    invoice_subscription_id,
    locale_of,
    plain,
)

#: The longest address there is (RFC 5321), and the size of every email column.
MAX_EMAIL = 254


def normalize_email(text: str | None) -> str:
    """An address as we store it and look it up: trimmed, lower-cased ("" for none).

    Supporters, staff, reminders and the payment-attempt limits all key on this
    form (the tables' ``email = lower(email)`` checks hold it).
    """
    return (text or "").strip().lower()[:MAX_EMAIL]


def read_email(text: str | None, field: str = "email") -> str:
    """An address a person typed, checked (syntax only, no DNS lookup) and normalised.

    Raises ``InvalidChoice({field: "email_missing" | "email_invalid"})``, so a
    form collecting several errors can merge it into its own.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidChoice({field: "email_missing"})
    try:
        typed = email_validator.validate_email(text, check_deliverability=False).normalized
    except email_validator.EmailNotValidError:
        raise InvalidChoice({field: "email_invalid"}) from None
    return normalize_email(typed)


def by_email(email: str) -> Supporter | None:
    return db.session.scalar(select(Supporter).where(Supporter.email == normalize_email(email)))


def for_gift(email: str, name: str, locale: str, customer_id: str) -> tuple[Supporter, bool]:
    """The supporter a support-page gift belongs to, and whether it came from a new Stripe customer.

    Nobody signs in on the support page, so typing an address proves nothing:
    a new address makes a supporter with what was typed; a known one is left
    exactly as it was (Stripe customer, card, name, language).  The gift is
    theirs by email, on the Stripe customer it was made with; ``True`` says
    that customer is not the supporter's own (they are told: ``notices``).
    """
    supporter = by_email(email)
    if supporter is None:
        supporter = Supporter(
            email=normalize_email(email), name=name, locale=locale, stripe_customer_id=customer_id
        )
        db.session.add(supporter)
        return supporter, False
    return supporter, supporter.stripe_customer_id != customer_id


def is_supporters_customer(customer_id: str) -> bool:
    """Is this Stripe customer a supporter's own (never to be handed to the support page)?"""
    return (
        db.session.scalar(select(Supporter.id).where(Supporter.stripe_customer_id == customer_id)) is not None
    )


def running_memberships(supporter: Supporter) -> list[Membership]:
    """Memberships still running (``past_due`` too: Stripe is retrying), newest first."""
    return sorted((m for m in supporter.memberships if m.is_member), key=lambda m: m.id, reverse=True)


def running_membership(supporter: Supporter | None) -> Membership | None:
    """The newest running membership, or None (an email about "your membership")."""
    running = running_memberships(supporter) if supporter is not None else []
    return running[0] if running else None


def current_membership(supporter: Supporter) -> Membership | None:
    """The membership that counts now: the newest running one, else the newest there was.

    The one rule for "the supporter's membership" (newest = highest id, the
    order memberships were recorded in), wherever a page, an email or a command
    shows one.
    """
    return running_membership(supporter) or max(supporter.memberships, key=lambda m: m.id, default=None)


def newer_event_applied(types: Iterable[str], object_id: str, after: datetime | None) -> bool:
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


def made_by_support_page(customer: Mapping[str, Any]) -> bool:
    """A customer the support page made for a gift: whoever typed the email, never the supporter's own."""
    metadata = customer.get("metadata")
    return isinstance(metadata, Mapping) and metadata.get("source") == "support_page"


def supporter_for_customer(customer: Any, gateway: EventGateway) -> Supporter:
    """The supporter behind a Stripe customer, created from the customer when unknown.

    A customer made outside our page (staff in the dashboard) is fetched once
    to learn the email, name and language.  A known supporter keeps their own
    customer, name and language: another customer with their email (a gift on
    the support page, ``for_gift``) finds them by email and changes nothing.
    """
    customer_id = id_of(customer)
    if not customer_id:
        raise EventNotApplied("no_customer")
    supporter = event_rows.lookup("customer", customer_id)
    if supporter is event_rows.UNKNOWN:
        supporter = db.session.scalar(select(Supporter).where(Supporter.stripe_customer_id == customer_id))
    if supporter is not None:
        return supporter
    data = customer if isinstance(customer, Mapping) and "email" in customer else None
    if data is None:
        data = plain(gateway.retrieve_customer(customer_id))
    if data.get("deleted"):
        raise EventNotApplied("customer_deleted", detail=customer_id)
    email = normalize_email(data.get("email"))
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
    elif supporter.stripe_customer_id is None and not made_by_support_page(data):
        supporter.stripe_customer_id = customer_id  # staff made them a new one in the dashboard
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


def customer_updated(customer: Obj, at: datetime, gateway: EventGateway) -> None:
    """``customer.updated``: the supporter's name, language and email follow the customer's."""
    supporter = db.session.scalar(select(Supporter).where(Supporter.stripe_customer_id == customer["id"]))
    if supporter is None or supporter.erased_at is not None:
        return  # not a supporter (yet), or erased: nothing of theirs to update
    if newer_event_applied(["customer.updated"], customer["id"], after=at):
        return  # a newer update already landed
    if customer.get("name"):
        supporter.name = str(customer["name"]).strip()[:200]
    if customer.get("preferred_locales"):
        supporter.locale = locale_of(customer)
    _follow_default_card(supporter, customer, gateway)
    email = normalize_email(customer.get("email"))
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


def customer_deleted(customer: Obj, at: datetime, gateway: EventGateway) -> None:
    """``customer.deleted``: the customer is gone at Stripe; the supporter and their money stay here."""
    customer_id = customer["id"]
    for supporter in db.session.scalars(select(Supporter).where(Supporter.stripe_customer_id == customer_id)):
        supporter.stripe_customer_id = None


def remember_card(supporter: Supporter, card: Mapping[str, Any] | None) -> None:
    """The card to show and to warn about (``card_details`` of the default payment method)."""
    if not card:
        return
    supporter.card_brand = card["brand"]
    supporter.card_last4 = card["last4"]
    supporter.card_exp_month = card["exp_month"]
    supporter.card_exp_year = card["exp_year"]
    supporter.card_payment_method_id = card.get("id") or supporter.card_payment_method_id


def forget_card(supporter: Supporter) -> None:
    supporter.card_brand = supporter.card_last4 = supporter.card_payment_method_id = None
    supporter.card_exp_month = supporter.card_exp_year = None


def _card_owner(method: Obj) -> Supporter | None:
    """The supporter whose card this is: by the card's id, else by its customer."""
    if method.get("id") and (
        found := db.session.scalar(select(Supporter).where(Supporter.card_payment_method_id == method["id"]))
    ):
        return found
    customer_id = id_of(method.get("customer"))
    if not customer_id:
        return None
    return db.session.scalar(select(Supporter).where(Supporter.stripe_customer_id == customer_id))


def card_updated(method: Obj, at: datetime, gateway: EventGateway) -> None:
    """``payment_method.updated`` / ``.automatically_updated``: the card's expiry (or number,
    when the network replaced an expiring card) changed, so the page and the expiry notice follow.

    Only the card we show: another card of the customer changes nothing here.
    """
    supporter = _card_owner(method)
    card = card_details(method)
    if supporter is None or card is None or supporter.erased_at is not None:
        return
    if supporter.card_payment_method_id in (None, method["id"]):
        remember_card(supporter, card)


def card_attached(method: Obj, at: datetime, gateway: EventGateway) -> None:
    """``payment_method.attached``: a card saved to the customer; shown if we know no other.

    Which card Stripe charges is the customer's default (``customer.updated``).
    """
    supporter = _card_owner(method)
    card = card_details(method)
    if supporter is None or card is None or supporter.erased_at is not None:
        return
    if supporter.card_payment_method_id is None and not supporter.card_last4:
        remember_card(supporter, card)


def card_detached(method: Obj, at: datetime, gateway: EventGateway) -> None:
    """``payment_method.detached``: the card can no longer be charged (its ``customer`` is now null)."""
    if not method.get("id"):
        return
    for supporter in db.session.scalars(
        select(Supporter).where(Supporter.card_payment_method_id == method["id"])
    ):
        forget_card(supporter)


def _follow_default_card(supporter: Supporter, customer: Obj, gateway: EventGateway) -> None:
    """``customer.updated`` says which card is the default now; learn it if it is another one."""
    settings = customer.get("invoice_settings")
    if not isinstance(settings, Mapping) or "default_payment_method" not in settings:
        return
    default = settings["default_payment_method"]
    default_id = id_of(default)
    if not default_id or default_id == supporter.card_payment_method_id:
        return  # no default (the subscription's own may be charged): keep what we show
    method = default if isinstance(default, Mapping) and "card" in default else None
    if method is None:
        try:
            method = plain(gateway.retrieve_payment_method(default_id))
        except NotFound:
            return  # detached meanwhile: its own event says so
    remember_card(supporter, card_details(method))


#: What an event's ``data.object`` is, for payloads that do not say (``object``).
_KINDS = (
    ("customer.subscription.", "subscription"),
    ("customer.", "customer"),
    ("invoice_payment.", "invoice_payment"),
    ("invoice.", "invoice"),
    ("payment_intent.", "payment_intent"),
    ("charge.dispute.", "dispute"),
    ("charge.", "charge"),
)


def stripe_ids(obj: Obj, event_type: str) -> StripeIds:
    """The customer, subscription, invoice, payment intent and charge an event's object names."""
    kind = obj.get("object") or next((k for p, k in _KINDS if event_type.startswith(p)), None)
    own = obj.get("id")
    customer = own if kind == "customer" else id_of(obj.get("customer"))
    subscription = own if kind == "subscription" else None
    invoice = own if kind == "invoice" else id_of(obj.get("invoice"))
    intent = own if kind == "payment_intent" else id_of(obj.get("payment_intent"))
    charge = own if kind == "charge" else id_of(obj.get("charge"))
    if kind == "invoice":
        subscription = invoice_subscription_id(obj)
        intent, charge = invoice_payment_ids(obj)
    elif kind == "invoice_payment":
        intent, charge = id_of(dig(obj, "payment", "payment_intent")), id_of(dig(obj, "payment", "charge"))
    return StripeIds(customer, subscription, invoice, intent, charge)


def supporter_of(obj: Obj, event_type: str) -> int | None:
    """The supporter an event is about, by the Stripe ids its object names; once it is applied.

    The customer first, then the subscription, then the payment (invoice,
    payment intent, charge): a reader with a second Stripe customer is found
    through the membership or payment the event touched.
    """
    ids = stripe_ids(obj, event_type)
    for kind, supporter_id, by, value in (
        ("customer", Supporter.id, Supporter.stripe_customer_id, ids.customer),
        ("subscription", Membership.supporter_id, Membership.stripe_subscription_id, ids.subscription),
        *((k, Payment.supporter_id, by, getattr(ids, k)) for k, by in event_rows.PAYMENT_IDS.items()),
    ):
        if not value:
            continue
        held = event_rows.lookup(kind, value)
        if held is event_rows.UNKNOWN:
            found = db.session.scalar(select(supporter_id).where(by == value))
        else:
            found = _held_supporter_id(held)
        if found:
            return int(found)
    return None


def _held_supporter_id(row: Supporter | Membership | Payment | None) -> int | None:
    if row is None:
        return None
    if isinstance(row, Supporter):
        return row.id
    return row.supporter_id or (row.supporter.id if row.supporter is not None else None)
