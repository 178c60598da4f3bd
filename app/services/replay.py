"""Bring local state up to Stripe's from its Events API: ``replay`` the events of the last days.

``replay`` lists the events of the last days from Stripe's Events API, stores
each of the types the webhook endpoint is meant to receive (the Events API
lists every type; ``webhooks.HANDLERS`` names ours) with
``webhooks.store_event`` (known ones are left alone) and applies the ones not
applied yet with ``webhooks.apply_event``, oldest first.  (``sync`` walks
Stripe's lists of objects instead.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import WebhookEvent
from app.models.types import from_timestamp, utcnow
from app.services import webhooks
from app.services.stripe_gateway import StripeGateway, get_gateway
from app.services.stripe_operator import MAX_PAGE

#: Stripe keeps events this long; replay cannot look further back.
EVENT_RETENTION_DAYS = 30


@dataclass
class ReplayReport:
    since: datetime
    listed: int = 0
    new: int = 0
    known: int = 0
    #: Types the endpoint is not meant to receive (``webhooks.HANDLERS`` lists ours): not stored.
    other_types: int = 0
    #: Events for the other mode (live/test) than the key, or not events: not stored.
    not_stored: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


def replay(
    days: int = EVENT_RETENTION_DAYS,
    gateway: StripeGateway | None = None,
    *,
    page_size: int = MAX_PAGE,
) -> ReplayReport:
    """Store the events of the last ``days`` that we lack and apply every one not applied yet.

    Asks Stripe for ``created >= now - days`` and checks ``created`` again
    here, for a server that ignores the filter.  Events for the other mode
    than the key (live/test) are left out, as the endpoint leaves them out.
    """
    gateway = gateway or get_gateway()
    since_ts = int((utcnow() - timedelta(days=days)).timestamp())
    since = from_timestamp(since_ts) or utcnow()
    report = ReplayReport(since=since)
    live = webhooks.livemode_expected(current_app.config["STRIPE_SECRET_KEY"])
    listed: set[str] = set()
    for page in gateway.pages(gateway.list_events, created_gte=since_ts, limit=page_size):
        for evt in page.objects:
            if int(evt.get("created") or 0) < since_ts:
                continue
            report.listed += 1
            if evt.get("type") not in webhooks.HANDLERS:
                report.other_types += 1
                continue
            if bool(evt.get("livemode")) != live:
                report.not_stored += 1
                continue
            try:
                stored = webhooks.store_event(evt)
                db.session.commit()
            except webhooks.MalformedEvent:
                db.session.rollback()
                report.not_stored += 1
                continue
            listed.add(stored.stripe_event_id)
            if stored.new:
                report.new += 1
            else:
                report.known += 1
    pending = [
        stripe_event_id
        for stripe_event_id in db.session.scalars(
            select(WebhookEvent.stripe_event_id)
            .where(WebhookEvent.processed_at.is_(None), WebhookEvent.created >= since)
            .order_by(WebhookEvent.created, WebhookEvent.id)
        )
        if stripe_event_id in listed
    ]
    db.session.rollback()
    for stripe_event_id in pending:
        report.outcomes[str(webhooks.apply_event(stripe_event_id, gateway))] += 1
    return report
