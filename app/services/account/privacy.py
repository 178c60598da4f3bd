"""The supporter's data: everything we hold about them as JSON, and erasing them.

Erasing forgets the person and keeps the money's trail.  A person's data also
sits in copies: Stripe's events as we stored them (customer emails, names,
phones and addresses, a charge's or card's billing details, the comment they
typed when cancelling), the audit trail (the IP address of each of their own
actions), the outbox's error texts, and the Stripe customer itself.  Ids and
amounts stay: they name no person, and they tie the payments accounting keeps
to Stripe's records.  The caller (a view) owns the commit.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from app.extensions import db
from app.models import (
    FINAL_STATUSES,
    AuditEntry,
    EmailKind,
    EmailLog,
    EmailStatus,
    MembershipStatus,
    Payment,
    Reminder,
    ReminderRequest,
    SignInAttempt,
    SignInToken,
    Supporter,
    WebhookEvent,
)
from app.models.types import utcnow
from app.services import audit, outbox, reminders
from app.services.account.changes import store_subscription
from app.services.account.links import actor, email_digest
from app.services.account.records import payments_of
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


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_data(supporter: Supporter) -> dict[str, Any]:
    """Everything we hold about the supporter, as plain JSON."""
    audit.record(actor(supporter), "data.export", supporter_id=supporter.id)
    db.session.flush()
    emails = db.session.scalars(
        select(EmailLog).where(EmailLog.supporter_id == supporter.id).order_by(EmailLog.id)
    )
    reminders = db.session.scalars(select(Reminder).where(Reminder.email == supporter.email))
    sign_ins = db.session.scalars(
        select(SignInToken).where(SignInToken.supporter_id == supporter.id).order_by(SignInToken.id)
    )
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.supporter_id == supporter.id).order_by(AuditEntry.id)
    )
    return {
        "exported_at": utcnow().isoformat(),
        "supporter": {
            "id": supporter.id,
            "email": supporter.email,
            "name": supporter.name,
            "language": supporter.locale,
            "created_at": _when(supporter.created_at),
            "stripe_customer_id": supporter.stripe_customer_id,
            "card": (
                {
                    "brand": supporter.card_brand,
                    "last4": supporter.card_last4,
                    "exp_month": supporter.card_exp_month,
                    "exp_year": supporter.card_exp_year,
                }
                if supporter.card_last4
                else None
            ),
        },
        "memberships": [
            {
                "id": m.id,
                "stripe_subscription_id": m.stripe_subscription_id,
                "status": m.status.value,
                "amount": m.amount,
                "currency": m.currency,
                "interval": m.interval.value,
                "covers_fees": m.covers_fees,
                "current_period_end": _when(m.current_period_end),
                "cancel_at_period_end": m.cancel_at_period_end,
                "canceled_at": _when(m.canceled_at),
                "cancellation_reason": m.cancellation_reason,
                "campaign": m.campaign,
                "utm": m.utm,
                "created_at": _when(m.created_at),
            }
            for m in sorted(supporter.memberships, key=lambda m: m.id)
        ],
        "payments": [
            {
                "id": p.id,
                "membership_id": p.membership_id,
                "amount": p.amount,
                "currency": p.currency,
                "fee_cover": p.fee_cover,
                "status": p.status.value,
                "refunded_amount": p.refunded_amount,
                "paid_at": _when(p.paid_at),
                "receipt_number": p.receipt_number,
                "stripe_invoice_id": p.stripe_invoice_id,
                "stripe_payment_intent_id": p.stripe_payment_intent_id,
                "stripe_charge_id": p.stripe_charge_id,
                "campaign": p.campaign,
                "utm": p.utm,
            }
            for p in reversed(payments_of(supporter))
        ],
        "emails": [
            {
                "kind": e.kind.value,
                "to": e.to_address,
                "subject": e.subject,
                "status": e.status.value,
                "created_at": _when(e.created_at),
                "sent_at": _when(e.sent_at),
            }
            for e in emails
        ],
        "reminders": [
            {"remind_at": _when(r.remind_at), "choices": r.choices, "created_at": _when(r.created_at)}
            for r in reminders
        ],
        "sign_in_links": [{"created_at": _when(t.created_at), "used_at": _when(t.used_at)} for t in sign_ins],
        "activity": [
            {"action": a.action, "at": _when(a.created_at), "ip": a.ip, "details": a.details} for a in entries
        ],
    }


def erase(supporter: Supporter, gateway: StripeGateway) -> None:
    """Forget the person, keep the money's trail.

    Any running membership ends at Stripe now; the Stripe customer loses its
    name, email, phone and addresses, and its cards are detached; the
    confirmation is queued to the address we had before it goes; our copies
    of the person's data (stored Stripe events, audit entries' IP addresses,
    email errors) are scrubbed; then the row becomes a tombstone.  Payments
    stay (accounting must keep them) but point at nobody.  The tombstone
    keeps its Stripe customer id so that a late event from Stripe finds it
    instead of recreating the person (and is stored scrubbed).
    """
    if supporter.erased_at is not None:
        return
    now = utcnow()
    for membership in supporter.memberships:
        if membership.status in FINAL_STATUSES:
            continue
        try:
            subscription = gateway.retrieve_subscription(membership.stripe_subscription_id)
            if subscription["status"] not in ("canceled", "incomplete_expired"):
                subscription = gateway.cancel_subscription(membership.stripe_subscription_id)
        except NotFound:
            membership.status = MembershipStatus.CANCELED
            membership.canceled_at = membership.canceled_at or now
            continue
        store_subscription(membership, subscription, gateway)
    if supporter.stripe_customer_id:
        forget_at_stripe(supporter.stripe_customer_id, gateway)
    original_email, original_name = supporter.email, supporter.name
    confirmation = outbox.queue_to(
        EmailKind.ACCOUNT_ERASED, f"erasure:{supporter.id}", original_email, supporter.locale, supporter
    )
    tombstone = f"erased-{supporter.id}@invalid"
    # Unsent emails to the person are dropped; sent ones keep no address.  The
    # confirmation loses its address once it is sent (``outbox.settle``).
    for row in db.session.scalars(select(EmailLog).where(EmailLog.supporter_id == supporter.id)):
        if confirmation is not None and row.id == confirmation.id:
            continue
        if row.status == EmailStatus.PENDING:
            db.session.delete(row)
        else:
            row.to_address = tombstone
    db.session.execute(sa.delete(Reminder).where(Reminder.email == original_email))
    db.session.execute(
        sa.delete(ReminderRequest).where(
            ReminderRequest.email_digest == reminders.email_digest(original_email)
        )
    )
    db.session.execute(
        sa.delete(SignInAttempt).where(SignInAttempt.email_digest == email_digest(original_email))
    )
    for token in db.session.scalars(select(SignInToken).where(SignInToken.supporter_id == supporter.id)):
        token.session_ended_at = token.session_ended_at or now
    for membership in supporter.memberships:
        membership.cancellation_reason = None  # free text the person wrote
    scrub_records(supporter, original_email, original_name, actor(supporter))
    supporter.email = tombstone
    supporter.name = ""
    supporter.card_brand = None
    supporter.card_last4 = None
    supporter.card_exp_month = None
    supporter.card_exp_year = None
    supporter.erased_at = now
    audit.record(actor(supporter), "supporter.erase", supporter_id=supporter.id).ip = None


# -- our copies and Stripe's ---------------------------------------------------------------------


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
    supporter = db.session.get(Supporter, supporter_id)  # in the session already, as a rule: no query
    if supporter is not None and supporter.erased_at is not None:
        event.payload = scrub(event.payload)
