""" "Remind me later" and the card-expiring notice: the daily jobs' domain."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import MEMBER_STATUSES, EmailKind, Membership, Reminder, ReminderRequest, Supporter
from app.models.types import utcnow
from app.services import outbox, supporters
from app.services.errors import InvalidChoice

DELAYS = {"week": timedelta(days=7), "month": timedelta(days=30)}
KEPT_CHOICES = ("amount", "custom_amount", "currency", "frequency", "cover_fees", "campaign")


def request_reminder(
    form: Mapping[str, str], locale: str, ip: str | None = None, now: datetime | None = None
) -> datetime:
    """Note the reader's wish; returns when they will be reminded.

    The answer is the same for an address that unsubscribed before, which
    simply gets nothing: no one learns who opted out.  Asks are limited as
    sign-in links are: past ``REMINDER_MAX_PER_IP`` from one IP address,
    ``InvalidChoice`` (``too_many_reminders``); past
    ``REMINDER_MAX_PER_EMAIL`` for one address, the same answer and no change.
    """
    now = now or utcnow()
    errors: dict[str, str] = {}
    when = form.get("when", "")
    if when not in DELAYS:
        errors["when"] = "unknown_delay"
    try:
        email = supporters.read_email(form.get("email"), field="remind_email")
    except InvalidChoice as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidChoice(errors)
    remind_at = now + DELAYS[when]
    if not _within_limits(email, ip, now):
        return remind_at
    choices = {k: v[:100] for k in KEPT_CHOICES if (v := (form.get(k) or "").strip())}
    reminders = db.session.scalars(select(Reminder).where(Reminder.email == email)).all()
    if any(r.unsubscribed_at for r in reminders):
        return remind_at
    waiting = next((r for r in reminders if r.queued_at is None), None)
    if waiting is None:
        waiting = Reminder(email=email, token=secrets.token_urlsafe(24))
        db.session.add(waiting)
    waiting.locale = locale
    waiting.choices = choices
    waiting.remind_at = remind_at
    return remind_at


def email_digest(email: str) -> str:
    """How a reminder request keeps its address: a keyed hash."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"reminder-email:" + email.encode(), hashlib.sha256).hexdigest()


def _within_limits(email: str, ip: str | None, now: datetime) -> bool:
    """Count this ask; ``False`` past the address's limit, ``InvalidChoice`` past the IP's."""
    config = current_app.config
    since = now - timedelta(minutes=config["REMINDER_RATE_WINDOW_MINUTES"])
    db.session.execute(sa.delete(ReminderRequest).where(ReminderRequest.created_at <= since))
    ip = (ip or "unknown")[:64]
    digest = email_digest(email)

    def recent(column: Any, value: str) -> int:
        query = select(sa.func.count()).select_from(ReminderRequest).where(column == value)
        return int(db.session.scalar(query.where(ReminderRequest.created_at > since)) or 0)

    if recent(ReminderRequest.ip, ip) >= config["REMINDER_MAX_PER_IP"]:
        raise InvalidChoice({"remind_email": "too_many_reminders"})
    asked_before = recent(ReminderRequest.email_digest, digest)
    db.session.add(ReminderRequest(email_digest=digest, ip=ip, created_at=now))
    return asked_before < config["REMINDER_MAX_PER_EMAIL"]


def queue_due_reminders(now: datetime | None = None) -> int:
    """Queue the reminders that are due; each reader gets at most one per request."""
    now = now or utcnow()
    due = db.session.scalars(
        select(Reminder)
        .where(Reminder.remind_at <= now, Reminder.queued_at.is_(None), Reminder.unsubscribed_at.is_(None))
        .with_for_update(skip_locked=True)
    ).all()
    queued = 0
    for reminder in due:
        reminder.queued_at = now
        if _gave_since(reminder.email, reminder.created_at):
            continue  # they gave in the meantime: no nagging
        if outbox.queue_to(EmailKind.REMINDER, f"reminder:{reminder.id}", reminder.email, reminder.locale):
            queued += 1
    return queued


def _gave_since(email: str, since: datetime) -> bool:
    supporter = db.session.scalar(select(Supporter).where(Supporter.email == email))
    if supporter is None:
        return False
    return any(p.paid_at and p.paid_at >= since for p in supporter.payments)


def unsubscribe(token: str, now: datetime | None = None) -> bool:
    reminder = db.session.scalar(select(Reminder).where(Reminder.token == token))
    if reminder is None:
        return False
    now = now or utcnow()
    for row in db.session.scalars(select(Reminder).where(Reminder.email == reminder.email)):
        row.unsubscribed_at = row.unsubscribed_at or now
    return True


def next_month(today: date) -> tuple[int, int]:
    return (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)


def queue_card_expiring(today: date | None = None) -> int:
    """Members whose default card expires at the end of next month hear about it once."""
    year, month = next_month(today or utcnow().date())
    supporters = db.session.scalars(
        select(Supporter)
        .join(Membership, Membership.supporter_id == Supporter.id)
        .where(
            Supporter.card_exp_year == year,
            Supporter.card_exp_month == month,
            Membership.status.in_(MEMBER_STATUSES),
            Membership.cancel_at_period_end.is_(False),
            Supporter.erased_at.is_(None),
        )
        .distinct()
    ).all()
    queued = 0
    for supporter in supporters:
        about = f"supporter:{supporter.id}:card:{year}-{month:02d}"
        if outbox.queue(EmailKind.CARD_EXPIRING, about, supporter):
            queued += 1
    return queued
