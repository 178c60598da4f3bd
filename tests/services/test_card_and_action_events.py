"""The card the account page shows follows Stripe's ``payment_method.*`` and ``customer.updated``
events; ``invoice.payment_action_required`` in the newest shape marks the renewal as waiting."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import EmailKind, EmailLog, Payment, PaymentStatus, Supporter
from app.services.payments import AWAITS_AUTHENTICATION
from tests import stripe_events as se
from tests.services.conftest import World


def card(
    method_id: str, customer_id: str | None, last4: str = "4242", exp_year: int = 2030
) -> dict[str, Any]:
    obj = se.fixture("payment_method")
    obj.update(id=method_id, customer=customer_id)
    obj["card"].update(brand="visa", last4=last4, exp_month=8, exp_year=exp_year)
    return obj


def supporter(app: Flask) -> Supporter:
    with app.app_context():
        row = db.session.scalars(sa.select(Supporter)).one()
        db.session.expunge(row)
        return row


def a_member(world: World) -> None:
    world.send("customer.subscription.created", world.subscription(), int(time.time()) - 60)


def test_the_default_card_follows_customer_updated_and_payment_method_events(
    app: Flask, world: World
) -> None:
    a_member(world)
    assert supporter(app).card_last4 is None  # joined in the dashboard: no card known yet
    first = card("pm_first", world.customer_id, "1111")
    world.send("payment_method.attached", first, int(time.time()) - 50)
    assert supporter(app).card_last4 == "1111"
    assert supporter(app).card_payment_method_id == "pm_first"

    # A second card becomes the default: customer.updated names it, the card is fetched once.
    world.gateway.payment_methods["pm_second"] = card("pm_second", world.customer_id, "2222")
    world.send("payment_method.attached", card("pm_second", world.customer_id, "2222"), int(time.time()) - 40)
    assert supporter(app).card_last4 == "1111"  # attached is not yet the default
    customer = se.customer(world.customer_id, "reader@example.org", "Reader One", ["ar"])
    customer["invoice_settings"] = {"default_payment_method": "pm_second"}
    world.send("customer.updated", customer, int(time.time()) - 30)
    assert (supporter(app).card_last4, supporter(app).card_payment_method_id) == ("2222", "pm_second")
    assert world.gateway.calls.count(("payment_method", "pm_second")) == 1
    world.send("customer.updated", customer, int(time.time()) - 29)
    assert world.gateway.calls.count(("payment_method", "pm_second")) == 1  # known: no call

    # A new expiry of another card changes nothing; of this one, the page follows.
    world.send(
        "payment_method.updated", card("pm_first", world.customer_id, "1111", 2031), int(time.time()) - 20
    )
    assert supporter(app).card_exp_year == 2030
    world.send(
        "payment_method.updated", card("pm_second", world.customer_id, "2222", 2032), int(time.time()) - 10
    )
    assert supporter(app).card_exp_year == 2032

    # Detached (Stripe sends it with no customer): no card on file any more.
    world.send("payment_method.detached", card("pm_second", None, "2222"), int(time.time()))
    gone = supporter(app)
    assert gone.card_last4 is None and gone.card_payment_method_id is None


def test_action_required_in_the_newest_shape_marks_the_renewal_waiting_once(app: Flask, world: World) -> None:
    a_member(world)
    invoice_id = se.new_id("in")
    invoice = world.invoice(invoice_id, amount=500, status="open")  # no payment intent in it
    now = int(time.time())
    world.send("invoice.payment_action_required", invoice, now)
    world.send("invoice.payment_action_required", invoice, now + 1)
    with app.app_context():
        payment = db.session.scalars(sa.select(Payment)).one()
        assert payment.status == PaymentStatus.FAILED and payment.failure_code == AWAITS_AUTHENTICATION
        assert payment.amount == 500 and payment.stripe_invoice_id == invoice_id
        kinds = list(
            db.session.scalars(sa.select(EmailLog.kind).where(EmailLog.kind == EmailKind.ACTION_REQUIRED))
        )
        assert kinds == [EmailKind.ACTION_REQUIRED]
    # The invoice is paid later (Stripe retried, or the member confirmed): a paid payment.
    world.send("invoice.paid", world.invoice(invoice_id, amount=500), now + 2)
    world.send("invoice.payment_action_required", invoice, now + 3)  # a late copy changes nothing
    with app.app_context():
        payment = db.session.scalars(sa.select(Payment)).one()
        assert payment.status == PaymentStatus.SUCCEEDED and payment.failure_code is None
