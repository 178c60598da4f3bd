"""Paying with a wallet (the Express Checkout Element) in the browser: the sum the wallet's
sheet showed, the total the page showed and what Stripe charged are one amount.

The fake Stripe.js plays the reader's wallet (``window.__expressCheckout.confirm``): it fires
``click`` and ``confirm`` as Stripe.js does, and keeps the sum the sheet showed."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import Payment
from tests import i18n
from tests.e2e.test_browser import open_support

pytestmark = pytest.mark.browser


def pay_with_wallet(page: Page, email: str) -> dict[str, Any]:
    """The reader taps Google Pay and approves its sheet; returns what the sheet and the elements had."""
    opened = page.evaluate(
        "email => window.__expressCheckout.confirm("
        "{expressPaymentType: 'google_pay', billingDetails: {email: email, name: 'Leila Haddad'}})",
        email,
    )
    assert opened, "the page did not open the wallet's sheet"
    return dict(
        page.evaluate(
            "({sheet: window.__expressCheckout.sheet, updates: window.__expressCheckout.updates,"
            " now: window.__elements.options})"
        )
    )


def charged(app: Flask, stripe_client: stripe.StripeClient) -> tuple[int, str, str]:
    with app.app_context():
        payment = db.session.scalars(sa.select(Payment)).one()
        intent_id = str(payment.stripe_payment_intent_id)
    intent = stripe_client.v1.payment_intents.retrieve(intent_id)
    return intent["amount"], intent["currency"], intent["status"]


def shown_total(page: Page) -> str:
    return page.locator("#total").text_content() or ""


def test_one_dollar_a_month_by_wallet(
    page: Page, live_server: str, live_app: Flask, stripe_client: stripe.StripeClient
) -> None:
    open_support(page, live_server, "en")
    expect(page.locator("#total")).to_have_text("Total: $1.00 a month")
    wallet = pay_with_wallet(page, "wallet@example.org")  # the email comes from the sheet
    page.wait_for_url(re.compile(r"/en/support/thank-you/"))
    assert wallet["updates"] == []  # nothing changed since the elements were made for $1 a month
    assert (wallet["sheet"]["amount"], wallet["sheet"]["currency"], wallet["sheet"]["mode"]) == (
        100,
        "usd",
        "subscription",
    )
    assert charged(live_app, stripe_client) == (100, "usd", "succeeded")


def test_euros_yearly_with_the_fees_covered_by_wallet(
    mobile_page: Page, live_server: str, live_app: Flask, stripe_client: stripe.StripeClient
) -> None:
    page = mobile_page
    open_support(page, live_server, "ar")
    for change in (
        lambda: page.locator("#currency").select_option("eur"),
        lambda: page.locator("label.choice:has(input[value=year])").click(),
        lambda: page.locator("#cover_fees").check(),
    ):
        before = shown_total(page)
        change()
        expect(page.locator("#total")).not_to_have_text(before)
        expect(page.locator("#total")).not_to_have_attribute("aria-busy", "true")
    page.locator("#email").fill("wallet-ar@example.org")
    total = shown_total(page)
    wallet = pay_with_wallet(page, "")
    page.wait_for_url(re.compile(r"/ar/support/thank-you/"))
    sheet, last = wallet["sheet"], wallet["updates"][-1]
    # €1 grossed up for 2.9% + 25 cents: ceil(125 / 0.971) = 129.
    assert (sheet["amount"], sheet["currency"], sheet["mode"]) == (129, "eur", "subscription")
    assert last["amount"] == sheet["amount"] == wallet["now"]["amount"]
    assert "1.29" in total  # what the page showed when the reader tapped the wallet
    assert charged(live_app, stripe_client) == (129, "eur", "succeeded")


def test_a_total_changed_after_it_was_shown_is_refused_and_shown_anew(
    page: Page, live_server: str, live_app: Flask, stripe_client: stripe.StripeClient
) -> None:
    open_support(page, live_server, "ar")
    page.locator("#cover_fees").check()
    expect(page.locator("#total")).to_contain_text("1.34")  # $1 grossed up for 2.9% + 30 cents
    page.locator("#email").fill("reader@example.org")
    intents = len(stripe_client.v1.payment_intents.list(params={"limit": 100}).data)
    live_app.config["FEE_FIXED"] = {**live_app.config["FEE_FIXED"], "usd": 40}  # the fees change meanwhile
    pay_with_wallet(page, "")
    expect(page.locator("#form-error")).to_have_text(i18n.message(live_app, "quote_changed"))
    expect(page.locator("#total")).to_contain_text("1.45")  # the new reading: ceil(140 / 0.971)
    expect(page.locator("#email")).to_have_value("reader@example.org")  # nothing lost
    expect(page.locator("#cover_fees")).to_be_checked()
    expect(page.locator("#submit")).to_be_enabled()
    assert len(stripe_client.v1.payment_intents.list(params={"limit": 100}).data) == intents  # none made
    assert page.evaluate("window.__expressCheckout.failed") is True  # the sheet was told, and closed
