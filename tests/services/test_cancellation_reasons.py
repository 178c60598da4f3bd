"""Why a membership ends: the reader's own words win; Stripe's word only fills a gap.

Every event here is signed and posted to the endpoint, as Stripe sends it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import Membership, MembershipStatus
from tests.services.conftest import World

NOW = int(time.time())
DAY = 86400


def reason_of(app: Flask) -> str | None:
    with app.app_context():
        membership = db.session.scalars(sa.select(Membership)).one()
        return membership.cancellation_reason


def details(
    comment: str | None = None, feedback: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    return {"comment": comment, "feedback": feedback, "reason": reason}


def cancelling(world: World, **cancellation: str | None) -> dict[str, Any]:
    subscription = world.subscription(cancel_at_period_end=True, period_end=NOW + 20 * DAY)
    subscription["cancel_at"] = NOW + 20 * DAY
    subscription["cancellation_details"] = details(**cancellation)
    return subscription


def ended(world: World, **cancellation: str | None) -> dict[str, Any]:
    subscription = world.subscription(status="canceled", canceled_at=NOW - 10, period_end=NOW - 10)
    subscription["cancellation_details"] = details(**cancellation)
    return subscription


def test_the_readers_reason_survives_stripes_events(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(), NOW - 300)
    with app.app_context():  # what our cancel page stores, before Stripe's events
        membership = db.session.scalars(sa.select(Membership)).one()
        membership.cancel_at_period_end = True
        membership.cancellation_reason = "The budget is tight this year"
        db.session.commit()
    # Stripe echoes the comment we sent, with its own code; then staff reword it in the dashboard.
    echoed = cancelling(world, comment="The budget is tight this year", reason="cancellation_requested")
    world.send("customer.subscription.updated", echoed, NOW - 200)
    world.send(
        "customer.subscription.updated",
        cancelling(world, comment="budget", feedback="too_expensive"),
        NOW - 100,
    )
    assert reason_of(app) == "The budget is tight this year"
    world.send("customer.subscription.deleted", ended(world, reason="cancellation_requested"), NOW - 10)
    with app.app_context():
        membership = db.session.scalars(sa.select(Membership)).one()
        assert membership.status == MembershipStatus.CANCELED
        assert membership.cancellation_reason == "The budget is tight this year"


@pytest.mark.parametrize(
    ("cancellation", "stored"),
    [
        (
            {"comment": "  Moving   abroad ", "feedback": "other", "reason": "cancellation_requested"},
            "Moving abroad",
        ),
        ({"feedback": "too_expensive", "reason": "cancellation_requested"}, "too_expensive"),
        ({"reason": "cancellation_requested"}, "cancellation_requested"),
        ({}, None),
    ],
)
def test_without_a_reason_of_ours_stripes_fills_in_comment_then_feedback_then_code(
    app: Flask, world: World, cancellation: dict[str, str], stored: str | None
) -> None:
    """A cancellation made elsewhere (the Stripe dashboard, a staff member, the reader by email)."""
    world.send("customer.subscription.created", world.subscription(), NOW - 300)
    world.send("customer.subscription.updated", cancelling(world, **cancellation), NOW - 200)
    assert reason_of(app) == stored


def test_stripes_code_for_a_lapse_is_kept_and_a_resumed_membership_has_no_reason(
    app: Flask, world: World
) -> None:
    world.send("customer.subscription.created", world.subscription(), NOW - 300)
    world.send("customer.subscription.updated", cancelling(world, comment="Changed my mind?"), NOW - 200)
    assert reason_of(app) == "Changed my mind?"
    resumed = world.subscription(period_end=NOW + 20 * DAY)
    resumed["cancellation_details"] = details(comment="Changed my mind?")  # Stripe may leave it
    world.send("customer.subscription.updated", resumed, NOW - 100)
    assert reason_of(app) is None
    world.send("customer.subscription.updated", world.subscription(status="past_due"), NOW - 50)
    world.send("customer.subscription.deleted", ended(world, reason="payment_failed"), NOW - 10)
    assert reason_of(app) == "payment_failed"
