"""A renewal the bank must confirm, finished in headless Chromium on a phone, in Arabic.

localstripe's fake Stripe.js shows 3-D Secure as a div with "Complete authentication";
the page then says at once that the payment is complete.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask
from playwright.sync_api import Page, expect

from app.extensions import db
from app.i18n import format_money
from app.models import Payment, PaymentStatus
from tests import i18n
from tests import stripe_events as se
from tests.account_helpers import fail_a_renewal, give, membership, sign_in_in_browser
from tests.conftest import screenshot_dir
from tests.harness import StripeJs

pytestmark = pytest.mark.browser


def test_arabic_member_confirms_a_renewal_with_the_bank_at_360px(
    mobile_page: Page,
    live_server: str,
    live_app: Flask,
    stripe_js: StripeJs,
    stripe_client: stripe.StripeClient,
) -> None:
    client = live_app.test_client()
    give(client, stripe_js, "ar")
    invoice_id = fail_a_renewal(live_app, stripe_client, membership(live_app), card="3ds")
    invoice = stripe_client.v1.invoices.retrieve(invoice_id).to_dict()
    invoice["billing_reason"] = "subscription_cycle"
    event = se.event("invoice.payment_action_required", invoice, api_version="2017-08-15")
    assert se.post(client, event).status_code == 200
    with live_app.app_context():
        payment_id = db.session.scalar(sa.select(Payment.id).where(Payment.stripe_invoice_id == invoice_id))

    page = mobile_page
    sign_in_in_browser(page, live_server, live_app, "ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")

    box = page.locator(f"#confirm-payment-{payment_id}")
    with live_app.test_request_context("/ar/account"):
        amount = format_money(100, "usd", "ar")
    expect(box).to_contain_text(amount)
    notice = i18n.translate(
        live_app,
        "Your bank asks you to confirm the payment of %(amount)s for your membership. Nothing has been charged yet.",
        amount=amount,
    )
    expect(box).to_contain_text(notice)
    button = box.get_by_role("button", name=i18n.translate(live_app, "Confirm the payment"))
    expect(button).to_be_visible()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"page is {width}px wide on a 360px phone"
    page.screenshot(path=screenshot_dir() / "account-confirm-payment-ar-360.png", full_page=True)

    button.click()
    page.get_by_role("button", name="Complete authentication").click()  # the bank's check
    page.wait_for_url(re.compile(r"/ar/account$"))
    done = i18n.translate(live_app, "Thank you: your payment of %(amount)s is complete.", amount=amount)
    expect(page.locator(".notices")).to_contain_text(done)
    expect(page.locator(f"#confirm-payment-{payment_id}")).to_have_count(0)
    expect(page.locator("#membership-status")).to_have_text(i18n.translate(live_app, "Active"))
    page.screenshot(path=screenshot_dir() / "account-confirm-payment-done-ar-360.png", full_page=True)
    with live_app.app_context():
        payment = db.session.get(Payment, payment_id)
        assert payment is not None and payment.status == PaymentStatus.SUCCEEDED
    assert stripe_client.v1.invoices.retrieve(invoice_id)["status"] == "paid"
