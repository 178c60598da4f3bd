"""Readers of Stripe objects, in both payload shapes; pure functions, no database.

Stripe's API changed the shape of invoices, payment intents and subscriptions
(see ``../shared/stripe/README.md``): the current API has
``invoice.parent.subscription_details``, ``invoice.payments``, the period on
subscription items and no ``invoice`` on payment intents and charges; older
versions have ``invoice.subscription``, ``invoice.charge``,
``invoice.payment_intent`` and ``subscription.current_period_end``.  Events
arrive in either shape, and the gateway answers in its pinned version; every
handler reads them through these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.i18n import DEFAULT_LOCALE, LOCALES
from app.services.amounts import CURRENCIES
from app.services.errors import EventNotApplied

Obj = Mapping[str, Any]


def id_of(value: Any) -> str | None:
    """An id whether the field holds the id or the expanded object."""
    if value is None or isinstance(value, str):
        return value
    return value.get("id") if isinstance(value, Mapping) else None


def dig(obj: Obj | None, *path: str) -> Any:
    """``obj[a][b]...``, or None where a step is missing."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def plain(obj: Any) -> dict[str, Any]:
    """A plain dict from what the gateway returns (stripe objects are not dicts)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def locale_of(customer: Obj) -> str:
    """Our locale from the customer's ``preferred_locales`` (our page sets it)."""
    for tag in customer.get("preferred_locales") or []:
        language = str(tag).split("-")[0].split("_")[0].lower()
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


def currency_of(obj: Obj) -> str:
    """The object's currency, lower case; ``EventNotApplied`` for one we do not take."""
    currency = str(obj.get("currency") or "").lower()
    if currency not in CURRENCIES:
        raise EventNotApplied("unsupported_currency", detail=currency)
    return currency


def period_end(subscription: Any) -> int | None:
    """Both shapes: ``current_period_end`` (older APIs) or on the first item (current)."""
    if "current_period_end" in subscription and subscription["current_period_end"]:
        return int(subscription["current_period_end"])
    items = subscription["items"]["data"] if "items" in subscription else []
    if items and "current_period_end" in items[0]:
        return int(items[0]["current_period_end"])
    return None


def card_details(method: Any) -> dict[str, Any] | None:
    """Brand, last four digits and expiry of a card payment method (never its number), and its id."""
    card = method["card"] if "card" in method else None
    if not card:
        return None
    return {
        "id": method["id"] if "id" in method else None,
        "brand": card["brand"],
        "last4": card["last4"],
        "exp_month": int(card["exp_month"]),
        "exp_year": int(card["exp_year"]),
    }


def invoice_subscription_id(invoice: Obj) -> str | None:
    """Both shapes: ``invoice.subscription`` (older) or ``invoice.parent.subscription_details``."""
    return id_of(invoice.get("subscription")) or id_of(
        dig(invoice, "parent", "subscription_details", "subscription")
    )


def invoice_payment_ids(invoice: Obj) -> tuple[str | None, str | None]:
    """(payment intent, charge) of an invoice, in both shapes."""
    intent = invoice.get("payment_intent")
    intent_id = id_of(intent)
    charge_id = id_of(invoice.get("charge"))
    if charge_id is None and isinstance(intent, Mapping):
        charge_id = id_of(intent.get("latest_charge"))
    payments = dig(invoice, "payments", "data") or []
    # The paid one first, then the newest attempt.
    for entry in sorted(payments, key=lambda p: (p.get("status") != "paid", -(p.get("created") or 0))):
        payment = entry.get("payment") or {}
        intent_id = intent_id or id_of(payment.get("payment_intent"))
        charge_id = charge_id or id_of(payment.get("charge"))
        if isinstance(payment.get("payment_intent"), Mapping):
            charge_id = charge_id or id_of(payment["payment_intent"].get("latest_charge"))
    return intent_id, charge_id


def invoice_metadata(invoice: Obj) -> Obj:
    """The subscription's metadata as the invoice carries it (shapes differ by version)."""
    for path in (("parent", "subscription_details", "metadata"), ("subscription_details", "metadata")):
        found = dig(invoice, *path)
        if found:
            return dict(found)
    lines = dig(invoice, "lines", "data") or []
    return dict(lines[0].get("metadata") or {}) if lines else {}


def charge_of_intent(intent: Obj) -> str | None:
    """The payment intent's latest charge (older shapes list the charges)."""
    charge = id_of(intent.get("latest_charge"))
    if charge is None:
        charges = dig(intent, "charges", "data") or []
        charge = id_of(charges[0]) if charges else None
    return charge


# -- what our support page wrote into metadata --------------------------------------------

#: The support link's tracking fields, kept with each gift (``?utm_source=...``).
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
#: The size of the ``campaign`` and ``utm`` values we keep.
MAX_TAG = 100


def fee_cover_of(metadata: Obj, amount: int | None = None) -> int:
    """The "I will cover the fees" part of a gift, in minor units (0 when absent or nonsense;
    0 too when it is not less than ``amount``, the whole charge)."""
    text = str(metadata.get("fee_cover") or "0")
    cover = int(text) if text.isdigit() else 0
    return cover if amount is None or cover < amount else 0


def campaign_of(metadata: Obj) -> str | None:
    return str(metadata["campaign"])[:MAX_TAG] if metadata.get("campaign") else None


def utm_of(metadata: Obj) -> dict[str, str] | None:
    return {k: str(metadata[k])[:MAX_TAG] for k in UTM_FIELDS if metadata.get(k)} or None


def first_charge_id(invoice: Any, intent: Any) -> str | None:
    """The charge of a first payment: the invoice's (older shape), else its intent's latest."""
    charge = invoice["charge"] if invoice is not None and "charge" in invoice else None
    if charge is None and intent is not None and "latest_charge" in intent:
        charge = intent["latest_charge"]
    if charge is not None and not isinstance(charge, str):
        charge = charge["id"]
    return charge


def object_id(value: Any) -> str | None:
    """``id_of`` for SDK objects too (they are not ``Mapping``s): the id, or the object's."""
    if value is None or isinstance(value, str):
        return value
    return str(value.id)
