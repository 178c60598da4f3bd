"""Migration 0008 fills ``membership.started_at`` and links the events already stored to their supporter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from tests.test_migrations import scratch_url  # noqa: F401 (fixture)

EVENTS = [
    ("customer.updated", {"object": "customer", "id": "cus_1"}),
    ("customer.subscription.updated", {"object": "subscription", "id": "sub_1", "customer": "cus_gone"}),
    (
        "invoice.paid",
        {"object": "invoice", "id": "in_1", "customer": "cus_other_account", "subscription": "sub_1"},
    ),
    ("charge.dispute.created", {"id": "dp_1", "charge": "ch_1"}),  # no customer: found by the charge
    ("payout.paid", {"object": "payout", "id": "po_1"}),  # nobody's
]


@pytest.fixture()
def at_0007(scratch_url: str) -> Iterator[str]:  # noqa: F811
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url})
    with app.app_context():
        upgrade(revision="0007")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO supporter (id, email, name, locale, stripe_customer_id, created_at, updated_at)"
                    " VALUES (1, 'a@example.org', 'A', 'ar', 'cus_1', :t, :t)"
                ),
                {"t": "2026-01-01 00:00:00+00"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO membership (id, supporter_id, stripe_subscription_id, status, amount, currency,"
                    " interval, cancel_at_period_end, covers_fees, created_at, updated_at)"
                    " VALUES (1, 1, 'sub_1', 'active', 100, 'usd', 'month', false, false, :c, :u)"
                ),
                {"c": "2026-02-03 04:05:06+00", "u": "2026-03-01 00:00:00+00"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO payment (id, supporter_id, membership_id, stripe_charge_id, amount, currency,"
                    " fee_cover, status, refunded_amount, created_at, updated_at)"
                    " VALUES (1, 1, 1, 'ch_1', 100, 'usd', 0, 'succeeded', 0, :t, :t)"
                ),
                {"t": "2026-02-03 04:05:06+00"},
            )
            for number, (kind, obj) in enumerate(EVENTS, start=1):
                conn.execute(
                    sa.text(
                        "INSERT INTO webhook_event (id, stripe_event_id, type, livemode, created, payload,"
                        " received_at, attempts) VALUES (:id, :sid, :type, false, :t, :payload, :t, 1)"
                    ),
                    {
                        "id": number,
                        "sid": f"evt_{number}",
                        "type": kind,
                        "t": "2026-03-01 00:00:00+00",
                        "payload": json.dumps({"id": f"evt_{number}", "type": kind, "data": {"object": obj}}),
                    },
                )
        db.session.remove()
        db.engine.dispose()
    yield scratch_url


def test_started_at_and_event_links_are_filled(at_0007: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": at_0007})
    with app.app_context():
        upgrade(revision="0008")
        with db.engine.connect() as conn:
            started = conn.execute(sa.text("SELECT started_at FROM membership")).scalar_one()
            links = conn.execute(sa.text("SELECT type, supporter_id FROM webhook_event ORDER BY id")).all()
        db.session.remove()
        db.engine.dispose()
    if isinstance(started, datetime):  # PostgreSQL; SQLite gives the text stored
        started = started.astimezone(UTC).isoformat(" ")
    assert str(started).startswith("2026-02-03 04:05:06")
    assert [tuple(link) for link in links] == [
        ("customer.updated", 1),
        ("customer.subscription.updated", 1),  # its customer is unknown: found by the subscription
        ("invoice.paid", 1),
        ("charge.dispute.created", 1),
        ("payout.paid", None),
    ]


def test_the_file_keeps_its_revision_ids() -> None:
    text = (
        Path(__file__).resolve().parent.parent
        / "migrations/versions/0008_membership_start_and_daily_summaries.py"
    ).read_text()
    assert 'revision = "0008"' in text and 'down_revision = "0007"' in text
