"""SEPA Direct Debit gifts on the support page, through the real SDK against localstripe (issue 14).

The reader gives their IBAN to (the stand-in) Stripe.js; the gift is pending for
days, and the thank-you page and the first email say so with the mandate; then
the bank answers (``settle_charge``) and localstripe's own events for that
customer, signed, reach the webhook endpoint: a receipt once the money arrived,
or, days later, a refusal the donor is told of, and no membership.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import EmailKind, EmailLog, Membership, MembershipStatus, Payment, PaymentStatus
from tests import i18n
from tests import stripe_events as se
from tests.blueprints.test_donation_flow import confirm, start
from tests.harness import SEPA_IBANS, StripeJs, settle_charge


def _deliver(client: FlaskClient, stripe_client: stripe.StripeClient, customer: str, seen: set[str]) -> None:
    """localstripe's events about the customer's objects, oldest first, as its webhooks would POST them."""
    events = list(
        stripe_client.v1.events.list(params={"limit": 100}).auto_paging_iter()
    )  # a session has more
    for event in sorted(events, key=lambda e: (e.created, e.id)):
        body = event.to_dict()
        obj = body["data"]["object"]
        if event.id in seen or customer not in (obj.get("customer"), obj.get("id")):
            continue
        seen.add(event.id)
        assert se.post(client, body).status_code == 200


def _state(app: Flask) -> tuple[Payment, list[EmailKind], Membership | None]:
    with app.app_context():
        payment = db.session.scalars(sa.select(Payment)).one()
        kinds = [e.kind for e in db.session.scalars(sa.select(EmailLog).order_by(EmailLog.id))]
        membership = db.session.scalars(sa.select(Membership)).one_or_none()
        db.session.expunge_all()
        return payment, kinds, membership


def _customer(stripe_client: stripe.StripeClient, intent_id: str) -> str:
    if intent_id.startswith("seti_"):
        return str(stripe_client.v1.setup_intents.retrieve(intent_id)["customer"])
    return str(stripe_client.v1.payment_intents.retrieve(intent_id)["customer"])


def _charge_of(stripe_client: stripe.StripeClient, payment: Payment) -> str:
    assert payment.stripe_payment_intent_id
    charge: Any = stripe_client.v1.payment_intents.retrieve(payment.stripe_payment_intent_id).latest_charge
    return charge if isinstance(charge, str) else str(charge.id)


@dataclass
class Reader:
    """A reader giving by SEPA Direct Debit, and their bank."""

    app: Flask
    client: FlaskClient
    stripe_js: StripeJs
    stripe_client: stripe.StripeClient
    localstripe_url: str
    customer: str = ""
    seen: set[str] = field(default_factory=set)

    def give(self, lang: str, iban: str, **fields: str) -> str:
        """Start, give the IBAN to Stripe.js, confirm: the thank-you page."""
        token, started = start(self.client, lang, currency="eur", **fields)
        intent = self.stripe_js.confirm_sepa_debit(started["client_secret"], iban)
        assert intent["status"] in ("processing", "succeeded"), intent  # a setup intent succeeds
        self.customer = _customer(self.stripe_client, intent["id"])
        response = confirm(self.client, lang, token, intent["id"])
        assert response.status_code == 200, response.get_json()
        return str(self.client.get(response.get_json()["redirect"]).get_data(as_text=True))

    def bank_answers(self) -> None:
        """The bank's answer for the pending debit, then localstripe's events reach our endpoint."""
        settle_charge(self.localstripe_url, _charge_of(self.stripe_client, _state(self.app)[0]))
        _deliver(self.client, self.stripe_client, self.customer, self.seen)


@pytest.fixture()
def reader(
    app: Flask,
    client: FlaskClient,
    stripe_js: StripeJs,
    stripe_client: stripe.StripeClient,
    localstripe_url: str,
) -> Reader:
    return Reader(app, client, stripe_js, stripe_client, localstripe_url)


def test_a_one_time_debit_is_thanked_as_on_its_way_then_receipted_when_paid(
    app: Flask, reader: Reader
) -> None:
    page = reader.give("ar", SEPA_IBANS["succeeds"], frequency="once", amount="15")
    payment, kinds, _ = _state(app)
    assert payment.status == PaymentStatus.PENDING and payment.receipt_number is None
    assert payment.mandate_reference and payment.mandate_reference in page
    assert i18n.translate(app, "Waiting for your bank") in page
    assert i18n.translate(app, "Mandate reference") in page
    assert app.config["NEWSROOM_LEGAL_NAME_AR"] in page  # the creditor of Stripe's mandate text
    assert i18n.translate(app, "Receipt number") not in page
    assert kinds == [EmailKind.PAYMENT_PENDING]

    _deliver(reader.client, reader.stripe_client, reader.customer, reader.seen)
    assert _state(app)[0].status == PaymentStatus.PENDING  # processing, delivered: still on its way
    reader.bank_answers()
    payment, kinds, _ = _state(app)
    assert payment.status == PaymentStatus.SUCCEEDED and payment.receipt_number
    assert kinds == [EmailKind.PAYMENT_PENDING, EmailKind.RECEIPT]
    # Paid: the same reader may give again (while it was on its way, that would have paid twice).
    _, again = start(reader.client, "ar", frequency="once", currency="eur", amount="15")
    assert again["kind"] == "payment" and "redirect" not in again


def test_a_membership_whose_first_debit_is_refused_days_later_never_starts(
    app: Flask, reader: Reader
) -> None:
    page = reader.give("en", SEPA_IBANS["fails"], amount="5")
    assert "starts as soon as the first direct debit from your bank arrives" in page
    payment, kinds, membership = _state(app)
    assert membership is not None and membership.status == MembershipStatus.INCOMPLETE
    assert payment.status == PaymentStatus.PENDING and payment.stripe_invoice_id
    assert kinds == [EmailKind.PAYMENT_PENDING]  # no welcome: not a member yet

    reader.bank_answers()  # this IBAN's bank refuses
    payment, kinds, membership = _state(app)
    assert payment.status == PaymentStatus.FAILED and payment.receipt_number is None
    assert membership is not None and membership.status == MembershipStatus.INCOMPLETE_EXPIRED
    assert kinds == [EmailKind.PAYMENT_PENDING, EmailKind.DEBIT_FAILED]


def test_a_membership_by_debit_counts_from_its_first_paid_debit(app: Flask, reader: Reader) -> None:
    reader.give("ar", SEPA_IBANS["succeeds"], amount="5")
    membership = _state(app)[2]
    assert membership is not None and not membership.is_member
    reader.bank_answers()
    payment, kinds, membership = _state(app)
    assert membership is not None and membership.status == MembershipStatus.ACTIVE
    assert payment.status == PaymentStatus.SUCCEEDED and payment.receipt_number
    assert set(kinds) == {EmailKind.PAYMENT_PENDING, EmailKind.WELCOME, EmailKind.RECEIPT}
