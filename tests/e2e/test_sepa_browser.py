"""SEPA Direct Debit through the Payment Element in the browser: the IBAN goes to (fake) Stripe,
the gift is thanked as on its way, and the bank's answer comes days later (localstripe's
``settle``).  What our service does with that answer (receipt, or the late-failure email and
the membership) is in ``tests/blueprints/test_sepa_gifts.py``; here: what the reader meets."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask, render_template
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


def test_the_mandate_is_shown_once_in_arabic_before_a_debit_is_confirmed(
    mobile_page: Page, live_server: str, live_app: Flask
) -> None:
    page = mobile_page
    open_support(page, live_server, "ar")
    mandate = page.locator("#sepa-mandate")
    page.locator("#currency").select_option("eur")
    iban = page.locator("#payment-element input[placeholder=iban]")
    expect(iban).to_be_visible()
    expect(mandate).to_be_hidden()  # a card is the chosen method until an IBAN is typed
    iban.fill(SEPA_IBANS["succeeds"])
    expect(mandate).to_be_visible()
    with live_app.test_request_context("/ar/support"):
        expected = render_template("donate/_sepa_mandate.html")
    text = mandate.text_content() or ""
    assert " ".join(text.split()) == " ".join(html.unescape(re.sub(r"<[^>]+>", " ", expected)).split())
    assert i18n.is_arabic(text) and live_app.config["NEWSROOM_LEGAL_NAME_AR"] in text
    # Once: Stripe's element shows none of its own beside ours.
    expect(page.locator(".localstripe-terms")).to_have_count(0)
    expect(page.locator(".mandate")).to_have_count(1)
    page.locator("#currency").select_option("usd")  # no SEPA for dollars: no mandate
    expect(iban).to_have_count(0)
    expect(mandate).to_be_hidden()
