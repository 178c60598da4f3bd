"""Stripe's events call for emails; each is queued once however often Stripe repeats it."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import EmailKind, EmailLog, Payment, Supporter
from tests import stripe_events as se
from tests.services.conftest import World

NOW = int(time.time())
DAY = 86400


def queued(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(EmailLog).order_by(EmailLog.id)).all()
        return [(r.kind.value, r.about, r.to_address) for r in rows]


def kinds(app: Flask) -> list[str]:
    return [kind for kind, _, _ in queued(app)]


def test_new_membership_and_its_renewals_mail_welcome_and_one_receipt_each(app: Flask, world: World) -> None:
    created = world.subscription(status="active")
    created["start_date"] = created["created"] = NOW - 60
    for _ in range(3):  # Stripe repeats itself
        world.send("customer.subscription.created", created, NOW - 60, event_id="evt_sub_created")
    first = world.invoice("in_first", amount=100, paid_at=NOW - 50)
    renewal = world.invoice("in_renewal", amount=100, paid_at=NOW - 10)
    for evt_type in ("invoice.paid", "invoice.payment_succeeded"):
        world.send(evt_type, first, NOW - 50)
        world.send(evt_type, renewal, NOW - 10)
    assert sorted(kinds(app)) == ["receipt", "receipt", "welcome"]
    with app.app_context():
        numbers = db.session.scalars(sa.select(Payment.receipt_number)).all()
    assert all(numbers) and len(set(numbers)) == 2


def test_a_failed_renewal_is_told_once_and_the_membership_kept(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(status="active"), NOW - 100)
    failing = world.invoice("in_fail", amount=100, status="open")
    failing["billing_reason"] = "subscription_cycle"
    for attempt in range(3):  # Stripe retries the card three times
        world.send("invoice.payment_failed", failing, NOW - 50 + attempt)
    world.send("customer.subscription.updated", world.subscription(status="past_due"), NOW - 40)
    assert kinds(app).count("payment_failed") == 1


def test_a_failed_first_payment_is_not_mailed(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(status="incomplete"), NOW - 100)
    first = world.invoice("in_first_fail", amount=100, status="open")
    first["billing_reason"] = "subscription_create"
    world.send("invoice.payment_failed", first, NOW - 50)
    assert "payment_failed" not in kinds(app)


def test_cancelling_mails_the_member_once_and_lapsing_tells_finance(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(status="active"), NOW - 300)
    world.send("customer.subscription.updated", world.subscription(status="past_due"), NOW - 200)
    ended = world.subscription(status="canceled")
    ended["canceled_at"] = NOW - 100
    ended["cancellation_details"] = {"reason": "payment_failed", "comment": None, "feedback": None}
    for _ in range(2):
        world.send("customer.subscription.deleted", ended, NOW - 100, event_id="evt_deleted")
    mails = queued(app)
    assert [k for k, _, _ in mails].count("cancellation") == 1
    lapsed = [m for m in mails if m[0] == "membership_lapsed"]
    assert len(lapsed) == 1 and lapsed[0][2] == app.config["FINANCE_NOTIFY_EMAIL"]


def test_scheduled_cancellation_then_its_end_is_one_email(app: Flask, world: World) -> None:
    period_end = NOW + 20 * DAY
    world.send(
        "customer.subscription.created", world.subscription(status="active", period_end=period_end), NOW - 300
    )
    scheduled = world.subscription(status="active", period_end=period_end, cancel_at_period_end=True)
    world.send("customer.subscription.updated", scheduled, NOW - 200)
    ended = world.subscription(status="canceled", period_end=period_end, cancel_at_period_end=True)
    ended["canceled_at"] = NOW - 100
    world.send("customer.subscription.deleted", ended, NOW - 100)
    assert kinds(app).count("cancellation") == 1
    assert "membership_lapsed" not in kinds(app)  # the member chose it


def test_refund_is_told_per_refunded_amount(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(status="active"), NOW - 300)
    world.send(
        "invoice.paid",
        world.invoice("in_r", amount=1000, charge="ch_r", paid_at=NOW - 200, shape=se.OLD),
        NOW - 200,
    )
    partial = se.charge("ch_r", None, amount=1000, amount_refunded=400, customer_id=world.customer_id)
    world.send("charge.refunded", partial, NOW - 100)
    world.send("charge.refunded", partial, NOW - 100)
    full = se.charge("ch_r", None, amount=1000, amount_refunded=1000, customer_id=world.customer_id)
    world.send("charge.refunded", full, NOW - 50)
    assert kinds(app).count("refund") == 2


def test_history_mails_nobody(app: Flask, world: World) -> None:
    """A membership from last year and its old invoice, arriving now (a replay): no email."""
    old = world.subscription(status="active")
    old["start_date"] = old["created"] = NOW - 400 * DAY
    world.send("customer.subscription.created", old, NOW - 400 * DAY + 5)
    world.send("invoice.paid", world.invoice("in_old", amount=100, paid_at=NOW - 400 * DAY), NOW - 400 * DAY)
    assert queued(app) == []


def test_yearly_renewal_notice_once_per_renewal(app: Flask, world: World) -> None:
    renews = NOW + 7 * DAY
    world.send(
        "customer.subscription.created",
        world.subscription(status="active", interval="year", period_end=renews),
        NOW - 300,
    )
    upcoming = world.invoice("in_upcoming", amount=5000, status="draft")
    upcoming.pop("id", None)
    upcoming["next_payment_attempt"] = renews
    world.send("invoice.upcoming", upcoming, NOW - 100)
    world.send("invoice.upcoming", upcoming, NOW - 50)
    assert kinds(app).count("renewal_upcoming") == 1
    with app.app_context():
        (row,) = db.session.scalars(
            sa.select(EmailLog).where(EmailLog.kind == EmailKind.RENEWAL_UPCOMING)
        ).all()
        assert row.about.endswith(time.strftime("%Y-%m-%d", time.gmtime(renews)))


def test_automatically_updated_card_moves_the_expiry_notice(app: Flask, world: World) -> None:
    world.send("customer.subscription.created", world.subscription(status="active"), NOW - 300)
    method: dict[str, Any] = se.fixture("payment_method")
    method.update(customer=world.customer_id)
    method["card"].update(brand="visa", last4="4444", exp_month=3, exp_year=2031)
    world.send("payment_method.automatically_updated", method, NOW - 10)
    with app.app_context():
        row = db.session.scalars(sa.select(Supporter)).one()
        assert (row.card_last4, row.card_exp_month, row.card_exp_year) == ("4444", 3, 2031)


def test_emails_go_to_the_supporters_language(app: Flask, world: World) -> None:
    new = world.subscription(status="active")
    new["start_date"] = new["created"] = NOW - 60
    world.send("customer.subscription.created", new, NOW - 60)
    with app.app_context():
        (row,) = db.session.scalars(sa.select(EmailLog).where(EmailLog.kind == EmailKind.WELCOME)).all()
        assert row.locale == "ar" and row.to_address == "reader@example.org"
