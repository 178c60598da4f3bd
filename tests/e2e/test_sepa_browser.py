"""SEPA Direct Debit through the Payment Element in the browser: the IBAN goes to (fake) Stripe,
the gift is thanked as on its way, and the bank's answer comes days later (localstripe's
``settle``).  What our service does with that answer (receipt, or the late-failure email and
the membership) is in ``tests/blueprints/test_sepa_gifts.py``; here: what the reader meets."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import Payment, PaymentStatus
from tests import i18n
from tests.e2e.test_browser import open_support
from tests.harness import SEPA_IBANS, settle_charge

pytestmark = pytest.mark.browser


def give_by_debit(page: Page, live_server: str, lang: str, iban: str, frequency: str) -> None:
    open_support(page, live_server, lang)
    page.locator("#currency").select_option("eur")
    page.locator(f"label.choice:has(input[name=frequency][value={frequency}])").click()
    page.locator("#presets label.choice").nth(2).click()  # €5
    expect(page.locator("#total")).to_contain_text("€5.00" if lang == "en" else "5 يورو")
    page.locator("#email").fill(f"debit-{lang}@example.org")
    page.locator("#name").fill("Leila Haddad")
    page.locator("#payment-element input[placeholder=iban]").fill(iban)
    page.locator("#submit").click()
    page.wait_for_url(re.compile(rf"/{lang}/support/thank-you/"))


def charge_of(intent: Any) -> str:
    charge = intent["latest_charge"]
    return charge if isinstance(charge, str) else str(charge["id"])


def pending_payment(app: Flask) -> Payment:
    with app.app_context():
        payment = db.session.scalars(sa.select(Payment)).one()
        db.session.expunge_all()
        return payment


def test_a_monthly_debit_in_arabic_is_thanked_as_on_its_way_then_paid(
    mobile_page: Page,
    live_server: str,
    live_app: Flask,
    localstripe_url: str,
    stripe_client: stripe.StripeClient,
) -> None:
    give_by_debit(mobile_page, live_server, "ar", SEPA_IBANS["succeeds"], "month")
    expect(mobile_page.locator("main")).to_contain_text(i18n.translate(live_app, "Waiting for your bank"))
    payment = pending_payment(live_app)
    assert payment.status == PaymentStatus.PENDING and (payment.amount, payment.currency) == (500, "eur")
    intent = stripe_client.v1.payment_intents.retrieve(str(payment.stripe_payment_intent_id))
    assert intent["status"] == "processing"
    settle_charge(localstripe_url, charge_of(intent))  # the bank pays, days later
    assert stripe_client.v1.payment_intents.retrieve(intent.id)["status"] == "succeeded"


def test_a_one_time_debit_refused_days_later(
    page: Page, live_server: str, live_app: Flask, localstripe_url: str, stripe_client: stripe.StripeClient
) -> None:
    give_by_debit(page, live_server, "en", SEPA_IBANS["fails"], "once")
    expect(page.locator("main")).to_contain_text("Waiting for your bank")
    payment = pending_payment(live_app)
    intent = stripe_client.v1.payment_intents.retrieve(str(payment.stripe_payment_intent_id))
    settle_charge(localstripe_url, charge_of(intent))  # this IBAN's bank refuses
    assert stripe_client.v1.payment_intents.retrieve(intent.id)["status"] == "requires_payment_method"
