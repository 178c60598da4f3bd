"""Each Stripe event, signed and POSTed, changes supporters, memberships and
payments as a finance person expects; in both payload shapes; out of order."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import Membership, MembershipStatus, Payment, PaymentStatus, Supporter, WebhookEvent
from app.services import webhook_queue, webhooks
from tests import stripe_events as se
from tests.conftest import count_rows
from tests.services.conftest import World

NOW = int(time.time())
HOUR = 3600


def one(app: Flask, model: type) -> Any:
    with app.app_context():
        row = db.session.scalars(sa.select(model)).one()
        db.session.expunge_all()
        return row


def rows(app: Flask, model: type) -> list[Any]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(model).order_by(model.id)))
        db.session.expunge_all()
        return found


def errors(app: Flask) -> list[str | None]:
    return [e.last_error for e in rows(app, WebhookEvent) if e.last_error]


# -- subscriptions -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [se.CURRENT, se.OLD])
def test_a_membership_made_in_the_dashboard_appears_with_its_readers_language(
    app: Flask, world: World, shape: str
) -> None:
    period_end = NOW + 30 * 86400
    world.gateway.customers[world.customer_id]["preferred_locales"] = ["en-GB"]
    world.send(
        "customer.subscription.created",
        world.subscription(
            amount=700,
            quantity=2,
            currency="eur",
            interval="year",
            period_end=period_end,
            shape=shape,
            metadata={"campaign": "spring", "utm_source": "mail"},
        ),
        created=NOW - HOUR,
    )
    supporter = one(app, Supporter)
    assert (supporter.email, supporter.name, supporter.locale) == ("reader@example.org", "Reader One", "en")
    assert supporter.stripe_customer_id == world.customer_id
    membership = one(app, Membership)
    assert membership.stripe_subscription_id == world.subscription_id
    assert membership.status == MembershipStatus.ACTIVE and membership.is_member
    assert (membership.amount, membership.currency, membership.interval) == (1400, "eur", "year")
    assert membership.current_period_end == datetime.fromtimestamp(period_end, UTC)
    assert membership.stripe_state_at == datetime.fromtimestamp(NOW - HOUR, UTC)
    assert (membership.campaign, membership.utm) == ("spring", {"utm_source": "mail"})
    assert world.gateway.calls == [("customer", world.customer_id)]


def test_language_defaults_to_arabic(app: Flask, world: World) -> None:
    world.gateway.customers[world.customer_id]["preferred_locales"] = []
    world.send("customer.subscription.created", world.subscription(), created=NOW)
    assert one(app, Supporter).locale == "ar"


def test_an_existing_reader_is_found_by_email(app: Flask, world: World) -> None:
    with app.app_context():
        db.session.add(Supporter(email="reader@example.org", name="Known", locale="en"))
        db.session.commit()
    world.send("customer.subscription.created", world.subscription(), created=NOW)
    supporter = one(app, Supporter)
    assert (supporter.name, supporter.stripe_customer_id) == ("Known", world.customer_id)


def test_updates_apply_in_order_and_an_older_one_changes_nothing(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(amount=500), created=NOW - 3 * HOUR)
    world.send(
        "customer.subscription.updated",
        world.subscription(amount=900, cancel_at_period_end=True),
        created=NOW - HOUR,
    )
    membership = one(app, Membership)
    assert (membership.amount, membership.cancel_at_period_end) == (900, True)

    # Delivered late: older than what is stored.
    world.send("customer.subscription.updated", world.subscription(amount=600), created=NOW - 2 * HOUR)
    late = one(app, Membership)
    assert (late.amount, late.cancel_at_period_end, late.stripe_state_at) == (
        900,
        True,
        membership.stripe_state_at,
    )
    assert world.gateway.calls == [("customer", world.customer_id)]  # no re-fetch needed
    assert all(e.processed_at for e in rows(app, WebhookEvent))


def test_a_tie_within_a_second_asks_stripe(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(amount=500), created=NOW - HOUR)
    world.gateway.subscriptions[world.subscription_id] = world.subscription(amount=800, status="past_due")
    world.send("customer.subscription.updated", world.subscription(amount=700), created=NOW - HOUR)
    membership = one(app, Membership)
    assert (membership.amount, membership.status) == (800, MembershipStatus.PAST_DUE)
    assert ("subscription", world.subscription_id) in world.gateway.calls
    assert membership.stripe_state_at and membership.stripe_state_at >= datetime.fromtimestamp(NOW - 1, UTC)


def test_past_due_is_still_a_member_until_stripe_cancels(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(), created=NOW - 3 * HOUR)
    world.send("customer.subscription.updated", world.subscription(status="past_due"), created=NOW - 2 * HOUR)
    membership = one(app, Membership)
    assert membership.status == MembershipStatus.PAST_DUE and membership.is_member
    canceled = world.subscription(status="canceled", canceled_at=NOW - HOUR)
    canceled["cancellation_details"]["reason"] = "payment_failed"
    world.send("customer.subscription.deleted", canceled, created=NOW - HOUR)
    membership = one(app, Membership)
    assert membership.status == MembershipStatus.CANCELED and not membership.is_member
    assert membership.canceled_at == datetime.fromtimestamp(NOW - HOUR, UTC)
    assert membership.cancellation_reason == "payment_failed"


def test_nothing_brings_a_canceled_membership_back(app: Flask, world: World) -> None:
    world.send(
        "customer.subscription.deleted",
        world.subscription(status="canceled", canceled_at=NOW),
        created=NOW - HOUR,
    )
    # An update from before the cancellation, delivered after it with a
    # clock that says otherwise.
    world.send("customer.subscription.updated", world.subscription(status="active"), created=NOW)
    assert one(app, Membership).status == MembershipStatus.CANCELED


# -- invoices ------------------------------------------------------------------------------


def test_a_renewal_paid_in_the_current_shape(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(amount=1500), created=NOW - 2 * HOUR)
    invoice = world.invoice("in_renewal1", amount=1500, paid_at=NOW - HOUR, metadata={"fee_cover": "80"})
    assert invoice["subscription"] is None  # only parent.subscription_details says it
    world.send("invoice.paid", invoice, created=NOW - HOUR)
    payment = one(app, Payment)
    membership = one(app, Membership)
    assert payment.membership_id == membership.id and payment.supporter_id == membership.supporter_id
    assert (payment.stripe_invoice_id, payment.amount, payment.currency) == ("in_renewal1", 1500, "usd")
    assert (payment.status, payment.fee_cover) == (PaymentStatus.SUCCEEDED, 80)
    assert payment.paid_at == datetime.fromtimestamp(NOW - HOUR, UTC)
    assert payment.stripe_payment_intent_id is None  # not in a webhook unless expanded


def test_invoice_payment_paid_links_the_charge_in_the_current_shape(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(), created=NOW - 2 * HOUR)
    # The charge first (Stripe promises no order): it waits for its invoice's link.
    intent = se.payment_intent("pi_cur", world.customer_id, charge="ch_cur")
    assert world.send("payment_intent.succeeded", intent, created=NOW - 30)["outcome"] == "failed"
    assert errors(app) == ["EventNotApplied: invoice_link_pending (pi_cur)"]
    link = se.invoice_payment("in_cur", payment_intent="pi_cur")
    # The link before its invoice.paid: it waits too.
    assert world.send("invoice_payment.paid", link, created=NOW - 20)["outcome"] == "failed"
    world.send("invoice.paid", world.invoice("in_cur"), created=NOW - 20)
    with app.app_context():  # the retries, oldest first: the intent still waits for the link
        assert webhook_queue.apply_pending() == {webhooks.Applied.FAILED: 1, webhooks.Applied.APPLIED: 1}
        assert webhook_queue.apply_pending() == {webhooks.Applied.APPLIED: 1}
    payment = one(app, Payment)
    assert (payment.stripe_invoice_id, payment.stripe_payment_intent_id, payment.stripe_charge_id) == (
        "in_cur",
        "pi_cur",
        "ch_cur",
    )
    assert payment.status == PaymentStatus.SUCCEEDED and not errors(app)
    assert ("payment_intent", "pi_cur") not in world.gateway.calls  # the events said it all


def test_a_renewal_paid_in_the_old_shape_and_both_events_make_one_payment(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(shape=se.OLD), created=NOW - 2 * HOUR)
    old = world.invoice("in_old1", payment_intent="pi_old1", charge="ch_old1", shape=se.OLD)
    assert "parent" not in old and old["subscription"] == world.subscription_id
    world.send("invoice.payment_succeeded", old, created=NOW - HOUR)
    world.send("invoice.paid", old, created=NOW - HOUR)
    world.send("invoice.paid", world.invoice("in_old1"), created=NOW - HOUR)  # a second endpoint version
    payment = one(app, Payment)
    assert (payment.stripe_invoice_id, payment.stripe_payment_intent_id, payment.stripe_charge_id) == (
        "in_old1",
        "pi_old1",
        "ch_old1",
    )
    assert payment.membership_id == one(app, Membership).id
    assert len(rows(app, WebhookEvent)) == 4 and not errors(app)


def test_an_invoice_before_its_subscription_event_fetches_the_subscription(app: Flask, world: World) -> None:
    world.gateway.subscriptions[world.subscription_id] = world.subscription(amount=1200)
    world.send("invoice.paid", world.invoice("in_first", amount=1200), created=NOW - HOUR)
    membership = one(app, Membership)
    assert (membership.amount, membership.status) == (1200, MembershipStatus.ACTIVE)
    assert one(app, Payment).membership_id == membership.id
    # Its own (older) event arrives after: nothing changes, nothing doubles.
    world.send(
        "customer.subscription.created",
        world.subscription(amount=1200, status="incomplete"),
        created=NOW - 2 * HOUR,
    )
    assert one(app, Membership).status == MembershipStatus.ACTIVE
    assert count_rows(app)["membership"] == 1


def test_a_failed_renewal_then_a_paid_retry(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(), created=NOW - 5 * HOUR)
    world.send("invoice.payment_failed", world.invoice("in_retry", status="open"), created=NOW - 4 * HOUR)
    world.send("customer.subscription.updated", world.subscription(status="past_due"), created=NOW - 4 * HOUR)
    payment = one(app, Payment)
    assert (payment.status, payment.amount, payment.paid_at) == (PaymentStatus.FAILED, 1000, None)
    assert one(app, Membership).is_member  # past_due: Stripe is still retrying

    world.send("invoice.paid", world.invoice("in_retry"), created=NOW - HOUR)
    world.send("customer.subscription.updated", world.subscription(status="active"), created=NOW - HOUR)
    payment = one(app, Payment)
    assert payment.status == PaymentStatus.SUCCEEDED and payment.paid_at is not None
    assert one(app, Membership).status == MembershipStatus.ACTIVE


def test_a_paid_invoice_is_never_downgraded_by_a_late_failure(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(), created=NOW - 5 * HOUR)
    world.send("invoice.paid", world.invoice("in_fact"), created=NOW - HOUR)
    world.send("invoice.payment_failed", world.invoice("in_fact", status="open"), created=NOW - 2 * HOUR)
    assert one(app, Payment).status == PaymentStatus.SUCCEEDED


def test_a_free_invoice_records_no_payment(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(), created=NOW - HOUR)
    free = world.invoice("in_free")
    free.update(amount_paid=0, amount_due=0)
    assert world.send("invoice.paid", free, created=NOW)["outcome"] == "applied"
    assert count_rows(app)["payment"] == 0


# -- one-time gifts ------------------------------------------------------------------------


def test_a_one_time_gift_old_shape(app: Flask, world: World) -> None:
    intent = se.payment_intent(
        "pi_gift",
        world.customer_id,
        amount=5000,
        charge="ch_gift",
        shape=se.OLD,
        metadata={"frequency": "once", "campaign": "winter", "fee_cover": "175"},
    )
    world.send("payment_intent.succeeded", intent, created=NOW)
    payment = one(app, Payment)
    assert payment.membership_id is None and payment.is_one_time
    assert (payment.stripe_payment_intent_id, payment.stripe_charge_id, payment.amount) == (
        "pi_gift",
        "ch_gift",
        5000,
    )
    assert (payment.status, payment.campaign, payment.fee_cover) == (PaymentStatus.SUCCEEDED, "winter", 175)
    assert one(app, Supporter).locale == "ar"


def test_a_one_time_gift_current_shape_is_checked_with_stripe_once(app: Flask, world: World) -> None:
    intent = se.payment_intent("pi_dash", world.customer_id, amount=3000)  # made in the dashboard
    assert "invoice" not in intent
    world.gateway.payment_intents["pi_dash"] = {**intent, "invoice": None}  # the pinned version says
    # No invoice claims it within LINK_WAIT of its event: then Stripe is asked, once.
    world.send("payment_intent.succeeded", intent, created=NOW - HOUR)
    assert one(app, Payment).amount == 3000
    assert world.gateway.calls.count(("payment_intent", "pi_dash")) == 1


def test_a_membership_charge_is_not_a_gift(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(), created=NOW - HOUR)
    world.send("invoice.paid", world.invoice("in_m"), created=NOW)
    old = se.payment_intent("pi_m", world.customer_id, charge="ch_m", invoice_id="in_m", shape=se.OLD)
    world.send("payment_intent.succeeded", old, created=NOW)
    current = se.payment_intent("pi_m2", world.customer_id, charge="ch_m2")
    world.gateway.payment_intents["pi_m2"] = {**current, "invoice": "in_other"}
    world.send("payment_intent.succeeded", current, created=NOW - HOUR)  # no link came: Stripe is asked
    payment = one(app, Payment)  # still one row: the invoice's
    assert (payment.stripe_invoice_id, payment.stripe_payment_intent_id, payment.stripe_charge_id) == (
        "in_m",
        "pi_m",
        "ch_m",
    )


def test_a_failed_gift_then_a_successful_retry_is_one_payment(app: Flask, world: World) -> None:
    failed = se.payment_intent(
        "pi_try",
        world.customer_id,
        status="requires_payment_method",
        decline_code="insufficient_funds",
        shape=se.OLD,
    )
    world.send("payment_intent.payment_failed", failed, created=NOW - 60)
    payment = one(app, Payment)
    assert (payment.status, payment.failure_code) == (PaymentStatus.FAILED, "insufficient_funds")
    world.send(
        "payment_intent.succeeded",
        se.payment_intent("pi_try", world.customer_id, charge="ch_try", shape=se.OLD),
        created=NOW,
    )
    world.send("payment_intent.payment_failed", failed, created=NOW - 60, event_id=se.new_id("evt"))  # late
    payment = one(app, Payment)
    assert (payment.status, payment.failure_code, payment.stripe_charge_id) == (
        PaymentStatus.SUCCEEDED,
        None,
        "ch_try",
    )


# -- refunds and disputes ------------------------------------------------------------------


@pytest.fixture()
def paid_gift(app: Flask, world: World) -> World:
    intent = se.payment_intent("pi_r", world.customer_id, amount=4000, charge="ch_r", shape=se.OLD)
    world.send("payment_intent.succeeded", intent, created=NOW - 5 * HOUR)
    return world


@pytest.mark.parametrize("shape", [se.CURRENT, se.OLD])
def test_partial_then_full_refund(app: Flask, paid_gift: World, shape: str) -> None:
    w = paid_gift
    w.send(
        "charge.refunded",
        se.charge("ch_r", "pi_r", amount=4000, amount_refunded=1000, shape=shape),
        created=NOW - 3 * HOUR,
    )
    payment = one(app, Payment)
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.SUCCEEDED, 1000)
    w.send(
        "charge.refunded",
        se.charge("ch_r", "pi_r", amount=4000, amount_refunded=4000, shape=shape),
        created=NOW - 2 * HOUR,
    )
    # The first refund's event again, late: refunds only grow.
    w.send(
        "charge.refunded",
        se.charge("ch_r", "pi_r", amount=4000, amount_refunded=1000, shape=shape),
        created=NOW - 3 * HOUR,
    )
    payment = one(app, Payment)
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, 4000)


def test_a_renewal_refund_without_its_link_finds_its_invoice_through_stripe(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(), created=NOW - 5 * HOUR)
    world.send("invoice.paid", world.invoice("in_ref"), created=NOW - 4 * HOUR)  # no charge id in it
    world.gateway.payment_intents["pi_ref"] = {
        **se.payment_intent("pi_ref", world.customer_id),
        "invoice": "in_ref",
    }
    # No invoice_payment.paid came (an endpoint without it): an overdue link asks Stripe.
    world.send("charge.refunded", se.charge("ch_ref", "pi_ref", amount_refunded=1000), created=NOW - HOUR)
    payment = one(app, Payment)
    assert (payment.status, payment.stripe_charge_id, payment.stripe_payment_intent_id) == (
        PaymentStatus.REFUNDED,
        "ch_ref",
        "pi_ref",
    )


def test_a_refund_before_its_payment_waits_and_is_applied_later(app: Flask, world: World) -> None:
    refund = world.send(
        "charge.refunded", se.charge("ch_early", "pi_early", amount_refunded=1000, shape=se.OLD), created=NOW
    )
    assert refund["outcome"] == "failed"
    assert errors(app) == ["EventNotApplied: payment_not_found (ch_early)"]
    world.send(
        "payment_intent.succeeded",
        se.payment_intent("pi_early", world.customer_id, charge="ch_early", shape=se.OLD),
        created=NOW - 60,
    )
    with app.app_context():
        assert webhook_queue.apply_pending() == {webhooks.Applied.APPLIED: 1}
    assert one(app, Payment).status == PaymentStatus.REFUNDED
    assert not errors(app)


def test_a_renewal_refund_and_dispute_before_the_link_wait_and_are_applied_after_it(
    app: Flask, world: World
) -> None:
    """Current shape: the charge names its payment intent, which no row holds until
    ``invoice_payment.paid`` links it; then the waiting events apply, Stripe never asked."""
    world.send("customer.subscription.created", world.subscription(), created=NOW - 5 * HOUR)
    world.send("invoice.paid", world.invoice("in_wait"), created=NOW - 60)
    refunded = se.charge("ch_wait", "pi_wait", amount_refunded=300)
    assert world.send("charge.refunded", refunded, created=NOW - 30)["outcome"] == "failed"
    opened = se.dispute("dp_wait", "ch_wait", "pi_wait", status="needs_response")
    assert world.send("charge.dispute.created", opened, created=NOW - 20)["outcome"] == "failed"
    assert errors(app) == [
        "EventNotApplied: payment_not_found (ch_wait)",
        "EventNotApplied: payment_not_found (ch_wait)",
    ]
    link = se.invoice_payment("in_wait", payment_intent="pi_wait")
    world.send("invoice_payment.paid", link, created=NOW - 50)
    with app.app_context():
        assert webhook_queue.apply_pending() == {webhooks.Applied.APPLIED: 2}
    payment = one(app, Payment)
    assert (payment.stripe_payment_intent_id, payment.stripe_charge_id) == ("pi_wait", "ch_wait")
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.DISPUTED, 300)
    assert not errors(app)
    assert [c for c in world.gateway.calls if c[0] == "payment_intent"] == []


def test_a_dispute_won(app: Flask, paid_gift: World) -> None:
    paid_gift.send(
        "charge.dispute.created",
        se.dispute("dp_1", "ch_r", "pi_r", status="needs_response"),
        created=NOW - 2 * HOUR,
    )
    assert one(app, Payment).status == PaymentStatus.DISPUTED
    paid_gift.send("charge.dispute.closed", se.dispute("dp_1", "ch_r", "pi_r", status="won"), created=NOW)
    assert one(app, Payment).status == PaymentStatus.SUCCEEDED


def test_a_dispute_lost_and_a_late_opening_changes_nothing(app: Flask, paid_gift: World) -> None:
    paid_gift.send("charge.dispute.closed", se.dispute("dp_2", "ch_r", "pi_r", status="lost"), created=NOW)
    assert one(app, Payment).status == PaymentStatus.DISPUTED
    won = se.dispute("dp_3", "ch_r", "pi_r", status="won")
    paid_gift.send("charge.dispute.closed", won, created=NOW)
    paid_gift.send("charge.dispute.created", {**won, "status": "needs_response"}, created=NOW - HOUR)  # late
    assert one(app, Payment).status == PaymentStatus.SUCCEEDED


# -- customers -----------------------------------------------------------------------------


def test_customer_updates_and_deletion(app: Flask, paid_gift: World) -> None:
    w = paid_gift
    newer = se.customer(w.customer_id, "New@Example.org", "Reader Renamed", ["en"])
    w.send("customer.updated", newer, created=NOW - HOUR)
    w.send(
        "customer.updated",
        se.customer(w.customer_id, "old@example.org", "Old Name", ["ar"]),
        created=NOW - 2 * HOUR,
    )  # late
    supporter = one(app, Supporter)
    assert (supporter.email, supporter.name, supporter.locale) == ("new@example.org", "Reader Renamed", "en")

    w.send("customer.deleted", {**newer, "deleted": True}, created=NOW)
    supporter = one(app, Supporter)
    assert supporter.stripe_customer_id is None and supporter.email == "new@example.org"
    assert one(app, Payment).supporter_id == supporter.id  # the money stays


def test_an_update_to_an_email_another_supporter_has_is_not_taken(app: Flask, paid_gift: World) -> None:
    with app.app_context():
        db.session.add(Supporter(email="taken@example.org", locale="ar"))
        db.session.commit()
    paid_gift.send(
        "customer.updated", se.customer(paid_gift.customer_id, "taken@example.org", "Same"), created=NOW
    )
    mine = [s for s in rows(app, Supporter) if s.stripe_customer_id == paid_gift.customer_id]
    assert mine[0].email == "reader@example.org" and mine[0].name == "Same"


@pytest.mark.parametrize(
    ("event_type", "obj"),
    [
        ("payment_method.automatically_updated", se.fixture("payment_method")),
        ("invoice.upcoming", {**se.fixture("invoice"), "id": None}),
        # payout.paid records the payout: tests/staff/test_reconciliation.py
    ],
)
def test_events_kept_for_the_record(
    app: Flask, paid_gift: World, event_type: str, obj: dict[str, Any]
) -> None:
    before = count_rows(app)
    assert paid_gift.send(event_type, obj, created=NOW)["outcome"] == "applied"
    after = count_rows(app)
    assert after["webhook_event"] == before["webhook_event"] + 1
    assert {k: v for k, v in after.items() if k != "webhook_event"} == {
        k: v for k, v in before.items() if k != "webhook_event"
    }
    assert all(e.processed_at for e in rows(app, WebhookEvent))
