"""Money on its way (issue 14): a SEPA Direct Debit is pending for days, then paid or refused.

Stripe's events for it, in both payload shapes, signed and POSTed, twice, late and
out of order: the gift is ``pending`` (no receipt, no revenue) until the bank pays,
then receipted once; a refusal days later mails the donor once, in their language.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import EmailKind, EmailLog, Payment, PaymentStatus
from app.services import emails
from tests import i18n
from tests import stripe_events as se
from tests.services.conftest import World

NOW = int(time.time())
DAY = 86400
ONCE = {"frequency": "once", "gift": "1500", "fee_cover": "0", "locale": "ar"}


def _payment(app: Flask) -> Payment:
    with app.app_context():
        payment = db.session.scalars(sa.select(Payment)).one()
        db.session.expunge_all()
        return payment


def _emails(app: Flask) -> list[tuple[EmailKind, str]]:
    with app.app_context():
        return [(e.kind, e.locale) for e in db.session.scalars(sa.select(EmailLog).order_by(EmailLog.id))]


def _debit(world: World, status: str, shape: str, **kw: Any) -> dict[str, Any]:
    intent = se.payment_intent(
        "pi_sepa",
        world.customer_id,
        amount=1500,
        currency="eur",
        status=status,
        metadata=ONCE,
        shape=shape,
        **kw,
    )
    intent["payment_method_types"] = ["card", "sepa_debit"]
    return intent


@pytest.mark.parametrize("shape", [se.CURRENT, se.OLD])
def test_a_debit_is_pending_until_the_bank_pays_then_receipted_once(
    app: Flask, world: World, shape: str
) -> None:
    processing = _debit(world, "processing", shape, charge="ch_sepa")
    world.send("payment_intent.processing", processing, created=NOW - 60)
    payment = _payment(app)
    assert (payment.status, payment.amount, payment.currency) == (PaymentStatus.PENDING, 1500, "eur")
    assert payment.receipt_number is None and payment.paid_at is None
    assert _emails(app) == [(EmailKind.PAYMENT_PENDING, "ar")]
    # Stripe delivers it again: nothing doubles.
    world.send("payment_intent.processing", processing, created=NOW - 60, event_id=se.new_id("evt"))

    world.send("payment_intent.succeeded", _debit(world, "succeeded", shape, charge="ch_sepa"), created=NOW)
    payment = _payment(app)
    assert payment.status == PaymentStatus.SUCCEEDED and payment.receipt_number
    assert payment.paid_at is not None
    assert _emails(app) == [(EmailKind.PAYMENT_PENDING, "ar"), (EmailKind.RECEIPT, "ar")]


def test_the_banks_answer_before_the_processing_event_stands(app: Flask, world: World) -> None:
    world.send("payment_intent.succeeded", _debit(world, "succeeded", se.OLD, charge="ch_sepa"), created=NOW)
    world.send("payment_intent.processing", _debit(world, "processing", se.OLD), created=NOW - 60)
    assert _payment(app).status == PaymentStatus.SUCCEEDED
    assert _emails(app) == [(EmailKind.RECEIPT, "ar")]  # "on its way" would come after the money


@pytest.mark.parametrize("shape", [se.CURRENT, se.OLD])
def test_a_refusal_days_later_fails_the_gift_and_tells_the_donor_once(
    app: Flask, world: World, shape: str
) -> None:
    world.send("payment_intent.processing", _debit(world, "processing", shape), created=NOW - 60)
    refused = _debit(world, "requires_payment_method", shape, decline_code="insufficient_funds")
    world.send("payment_intent.payment_failed", refused, created=NOW)
    world.send("payment_intent.payment_failed", refused, created=NOW, event_id=se.new_id("evt"))
    # The processing event redelivered after the refusal is history.
    world.send("payment_intent.processing", _debit(world, "processing", shape), created=NOW - 60)
    payment = _payment(app)
    assert (payment.status, payment.failure_code) == (PaymentStatus.FAILED, "insufficient_funds")
    assert payment.receipt_number is None
    assert _emails(app) == [(EmailKind.PAYMENT_PENDING, "ar"), (EmailKind.DEBIT_FAILED, "ar")]


def test_a_refusal_long_past_changes_the_row_but_mails_nobody(app: Flask, world: World) -> None:
    """A sync or a replay weeks later records it; the donor heard at the time (or it is too late)."""
    world.send("payment_intent.processing", _debit(world, "processing", se.OLD), created=NOW - 40 * DAY)
    refused = _debit(world, "requires_payment_method", se.OLD, decline_code="insufficient_funds")
    world.send("payment_intent.payment_failed", refused, created=NOW - 35 * DAY)
    assert _payment(app).status == PaymentStatus.FAILED
    assert _emails(app) == []


def test_a_renewal_debit_is_pending_and_its_refusal_is_a_debits_email_not_a_cards(
    app: Flask, world: World
) -> None:
    world.send("customer.subscription.created", world.subscription(currency="eur"), created=NOW - 40 * DAY)
    world.send(
        "invoice.paid", world.invoice("in_first", currency="eur", shape=se.OLD), created=NOW - 40 * DAY
    )
    renewal = world.invoice(
        "in_renewal", currency="eur", status="open", payment_intent="pi_renewal", shape=se.OLD
    )
    world.gateway.invoices["in_renewal"] = renewal
    processing = se.payment_intent(
        "pi_renewal",
        world.customer_id,
        currency="eur",
        status="processing",
        invoice_id="in_renewal",
        shape=se.OLD,
    )
    world.send("payment_intent.processing", processing, created=NOW - 60)
    with app.app_context():
        pending = db.session.scalars(
            sa.select(Payment).where(Payment.stripe_invoice_id == "in_renewal")
        ).one()
        assert pending.status == PaymentStatus.PENDING and pending.membership is not None
    assert EmailKind.PAYMENT_PENDING not in [kind for kind, _ in _emails(app)]  # no mail each month

    world.send("invoice.payment_failed", renewal, created=NOW)
    with app.app_context():
        refused = db.session.get(Payment, pending.id)
        assert refused is not None and refused.status == PaymentStatus.FAILED
        row = db.session.scalars(sa.select(EmailLog).where(EmailLog.kind == EmailKind.DEBIT_FAILED)).one()
        text = emails.compose(row).get_body(("plain",)).get_content()
    assert i18n.translate(app, "Manage your membership", locale="ar") in text
    assert EmailKind.PAYMENT_FAILED not in [kind for kind, _ in _emails(app)]
