"""What erasing a supporter scrubs beyond their own row (``account.erase`` calls it).

A person's data also sits in copies: Stripe's events as we stored them
(customer emails, names, phones and addresses, a charge's or card's billing
details, the comment they typed when cancelling), the audit trail (the IP
address of each of their own actions), the outbox's error texts, and the
Stripe customer itself.  Ids and amounts stay: they name no person, and they
tie the payments accounting keeps to Stripe's records.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, EmailLog, Payment, Supporter, WebhookEvent
from app.services.errors import NotFound
from app.services.stripe_gateway import StripeGateway

#: Keys whose value is about a person wherever they appear in a Stripe object:
#: customers, invoices' copies of the customer, charges' and cards' billing
#: details, receipts, shipping, dispute evidence, mandates, and
#: ``cancellation_details.comment`` (the person's own words).
PERSONAL_KEYS = frozenset(
    {
        "address",
        "billing_address",
        "billing_details",
        "comment",
        "customer_address",
        "customer_email",
        "customer_email_address",
        "customer_name",
        "customer_phone",
        "customer_purchase_ip",
        "customer_shipping",
        "email",
        "ip_address",
        "name",
        "phone",
        "receipt_email",
        "shipping",
        "shipping_address",
        "user_agent",
    }
)

#: A Stripe id (``cus_...``, ``in_...``): kept as it is, whatever it contains.
STRIPE_ID = re.compile(r"^[a-z]+(_[a-z]+)?_[A-Za-z0-9]+$")
ERASED = "[erased]"
#: Shorter names are not searched for inside other text (they would match words).
MIN_NAME = 3

#: Customer fields Stripe removes when they are sent as "".
CUSTOMER_FIELDS = ("name", "email", "phone", "address", "shipping", "description")


def scrub(value: Any, needles: Iterable[str] = ()) -> Any:
    """A copy of ``value`` (JSON) without personal data.

    Values under ``PERSONAL_KEYS`` become null; any other text loses the
    ``needles`` (the person's email address and name) wherever they appear.
    """
    patterns = [re.compile(re.escape(n), re.IGNORECASE) for n in needles if n]
    return _scrub(copy.deepcopy(value), patterns)


def _scrub(value: Any, patterns: list[re.Pattern[str]]) -> Any:
    if isinstance(value, dict):
        return {
            key: None if key in PERSONAL_KEYS and value[key] is not None else _scrub(value[key], patterns)
            for key in value
        }
    if isinstance(value, list):
        return [_scrub(item, patterns) for item in value]
    if isinstance(value, str) and patterns and not STRIPE_ID.match(value):
        for pattern in patterns:
            value = pattern.sub(ERASED, value)
    return value


def needles(email: str, name: str) -> list[str]:
    return [email] + ([name.strip()] if len(name.strip()) >= MIN_NAME else [])


def _events_about(supporter: Supporter, email: str) -> list[WebhookEvent]:
    """Stored events that name the supporter's customer, subscriptions, payments or address."""
    ids = {supporter.stripe_customer_id}
    ids.update(m.stripe_subscription_id for m in supporter.memberships)
    for payment in db.session.scalars(select(Payment).where(Payment.supporter_id == supporter.id)):
        ids.update((payment.stripe_invoice_id, payment.stripe_payment_intent_id, payment.stripe_charge_id))
    text = sa.cast(WebhookEvent.payload, sa.Text)
    conditions = [text.contains(f'"{i}"', autoescape=True) for i in sorted(filter(None, ids))]
    conditions.append(sa.func.lower(text).contains(email.lower(), autoescape=True))
    return list(db.session.scalars(select(WebhookEvent).where(sa.or_(*conditions))))


def scrub_records(supporter: Supporter, email: str, name: str, actor: str) -> None:
    """Our copies: stored Stripe events, the supporter's audit entries, the outbox's errors.

    Called before the supporter row itself becomes a tombstone.  Staff
    actions about the supporter keep the staff member's IP address: it is
    theirs, and the audit trail must say who did what.
    """
    found = needles(email, name)
    for event in _events_about(supporter, email):
        event.payload = scrub(event.payload, found)
    for entry in db.session.scalars(select(AuditEntry).where(AuditEntry.supporter_id == supporter.id)):
        if entry.actor == actor:
            entry.ip = None
        if entry.details:
            entry.details = scrub(entry.details, found)
    for row in db.session.scalars(select(EmailLog).where(EmailLog.supporter_id == supporter.id)):
        if row.subject:
            row.subject = scrub(row.subject, found)
        if row.last_error:
            row.last_error = scrub(row.last_error, found)


def forget_at_stripe(customer_id: str, gateway: StripeGateway) -> None:
    """The Stripe customer keeps no name, address or contact, and no card that could be charged.

    Charges and invoices keep the billing details they were made with:
    Stripe does not let them be edited (README, "Supporter self-service").
    """
    try:
        gateway.update_customer(customer_id, **dict.fromkeys(CUSTOMER_FIELDS, ""), metadata={"erased": "1"})
        for method in gateway.list_cards(customer_id):
            gateway.detach_payment_method(method["id"])
    except NotFound:
        pass  # deleted at Stripe already


def forget_if_erased(event: WebhookEvent, supporter_id: int | None) -> None:
    """An event about a supporter erased before it arrived is kept without personal data.

    Erasing makes Stripe send some at once: the cancelled subscription, and
    ``customer.updated`` whose ``previous_attributes`` hold the old email and
    name.  ``supporter_id`` is whom the event is about
    (``supporters.supporter_of``): the tombstone, found by its ids.
    """
    if supporter_id is None:
        return
    erased = db.session.scalar(select(Supporter.erased_at).where(Supporter.id == supporter_id))
    if erased is not None:
        event.payload = scrub(event.payload)
