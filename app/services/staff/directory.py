"""What the staff pages look up: supporters and their history, payments, memberships, staff
accounts and the audit log.  Reads only: changes go through the other staff services and
``app/services/staff_actions.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import case, func, or_, select

from app.extensions import db
from app.models import AuditEntry, EmailLog, Membership, Payment, StaffUser, Supporter, WebhookEvent

# -- supporters ----------------------------------------------------------------------------


def search_supporters(query: str, limit: int = 50) -> list[Supporter]:
    """By email (whole or its beginning) or by any part of the name, case-insensitive."""
    text = query.strip()
    if not text:
        return []
    lowered = text.lower()
    conditions = [Supporter.email == lowered, Supporter.email.startswith(lowered, autoescape=True)]
    if "@" not in text:
        conditions.append(func.lower(Supporter.name).contains(lowered, autoescape=True))
    exact_first = case((Supporter.email == lowered, 0), else_=1)
    return list(
        db.session.scalars(
            select(Supporter).where(or_(*conditions)).order_by(exact_first, Supporter.email).limit(limit)
        )
    )


def supporter(supporter_id: int) -> Supporter | None:
    return db.session.get(Supporter, supporter_id)


@dataclass(frozen=True)
class SupporterHistory:
    """A supporter's page: newest first, each list cut at a length a page can show."""

    memberships: list[Membership]
    payments: list[Payment]
    emails: list[EmailLog]
    #: Stored Stripe events applied about this supporter (linked when each was applied).
    events: list[WebhookEvent]


def supporter_history(person: Supporter) -> SupporterHistory:
    memberships = list(
        db.session.scalars(
            sa.select(Membership)
            .where(Membership.supporter_id == person.id)
            .order_by(Membership.created_at.desc())
        )
    )
    payments = list(
        db.session.scalars(
            sa.select(Payment)
            .where(Payment.supporter_id == person.id)
            .order_by(sa.func.coalesce(Payment.paid_at, Payment.created_at).desc(), Payment.id.desc())
            .limit(500)
        )
    )
    emails = list(
        db.session.scalars(
            sa.select(EmailLog)
            .where(EmailLog.supporter_id == person.id)
            .order_by(EmailLog.created_at.desc(), EmailLog.id.desc())
            .limit(200)
        )
    )
    events = list(
        db.session.scalars(
            sa.select(WebhookEvent)
            .where(WebhookEvent.supporter_id == person.id)
            .order_by(WebhookEvent.created.desc(), WebhookEvent.id.desc())
            .limit(100)
        )
    )
    return SupporterHistory(memberships, payments, emails, events)


def payment(payment_id: int) -> Payment | None:
    return db.session.get(Payment, payment_id)


def membership(membership_id: int) -> Membership | None:
    return db.session.get(Membership, membership_id)


# -- staff accounts ------------------------------------------------------------------------


def staff_user(staff_id: Any) -> StaffUser | None:
    """The account with this id (``None`` for no id), from the session's identity map if loaded."""
    return db.session.get(StaffUser, staff_id)


def staff_users() -> list[StaffUser]:
    """Every staff account, by email."""
    return list(db.session.scalars(sa.select(StaffUser).order_by(StaffUser.email)))


# -- the audit log -------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    #: The email of each staff account among the page's actors, by id.
    names: dict[int, str]
    #: Whether an older page follows.
    more: bool


def audit_page(page: int, size: int) -> AuditPage:
    """Page ``page`` (from 1) of the audit log, newest first, ``size`` entries a page."""
    entries = list(
        db.session.scalars(
            sa.select(AuditEntry)
            .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
            .offset((page - 1) * size)
            .limit(size + 1)
        )
    )
    more = len(entries) > size
    entries = entries[:size]
    staff_ids = {int(e.actor.split(":", 1)[1]) for e in entries if e.actor.startswith("staff:")}
    names = (
        {s.id: s.email for s in db.session.scalars(sa.select(StaffUser).where(StaffUser.id.in_(staff_ids)))}
        if staff_ids
        else {}
    )
    return AuditPage(entries, names, more)
