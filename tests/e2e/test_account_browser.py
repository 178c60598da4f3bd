"""The account in headless Chromium on a phone, in Arabic: sign in by link, new card, cancel."""

from __future__ import annotations

import re

import flask_babel
import pytest
import sqlalchemy as sa
import stripe
from flask import Flask
from playwright.sync_api import Page, expect

from app.account.messages import message
from app.extensions import db
from app.i18n import format_money
from app.models import Membership, Supporter
from tests import i18n
from tests.account_helpers import EMAIL, give, latest_link, sign_in_in_browser
from tests.harness import CARDS, StripeJs

pytestmark = pytest.mark.browser

NEW_CARD = "4000056655665556"


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"page is {width}px wide on a 360px phone"


def expect_rtl(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")


def test_arabic_member_signs_in_updates_the_card_and_cancels(
    mobile_page: Page,
    live_server: str,
    live_app: Flask,
    stripe_js: StripeJs,
    stripe_client: stripe.StripeClient,
) -> None:
    give(live_app.test_client(), stripe_js, "ar")
    page = mobile_page

    page.goto(f"{live_server}/ar/account")
    page.wait_for_url(re.compile(r"/ar/account/sign-in$"))
    expect_rtl(page)
    page.locator("#email").fill(EMAIL)
    page.locator("#sign-in-form button[type=submit]").click()
    expect(page.locator("#link-sent")).to_contain_text(EMAIL)

    page.goto(live_server + latest_link(live_app, EMAIL, "ar"))  # the link from the email
    page.locator("#sign-in-button").click()
    page.wait_for_url(re.compile(r"/ar/account$"))
    expect_rtl(page)
    expect(page.locator("#membership-status")).to_have_text(i18n.translate(live_app, "Active"))
    with live_app.test_request_context("/ar/account"):
        expect(page.locator("#membership-amount")).to_have_text(format_money(100, "usd", "ar"))
    expect(page.locator("#membership-frequency")).to_have_text(i18n.translate(live_app, "Monthly"))
    expect(page.locator("#membership-card")).to_contain_text("4242")
    expect(page.locator("#payments li")).to_have_count(1)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    no_sideways_scroll(page)

    # A new card, through Stripe's Payment Element in setup mode (here localstripe's stand-in).
    page.locator("#update-card").click()
    page.wait_for_url(re.compile(r"/ar/account/card$"))
    card = page.locator("#card-element")
    expect(card.locator("input[placeholder=number]")).to_be_visible()
    made = page.evaluate("window.__elements.options")
    assert (made["mode"], made["paymentMethodTypes"], made["locale"]) == ("setup", ["card"], "ar")
    expect(card.locator("input[placeholder=iban]")).to_have_count(0)  # a card, not a bank account
    page.locator("#submit").click()  # nothing typed: Stripe's fields say so, nothing is asked of Stripe
    expect(page.locator("#submit")).to_be_enabled()
    expect(page.locator("#form-error")).to_be_hidden()
    card.locator("input[placeholder=number]").fill(NEW_CARD)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("12345")
    no_sideways_scroll(page)
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r"/ar/account$"))
    saved = i18n.translate(
        live_app, "Your new card is saved: %(brand)s ending in %(last4)s.", brand="Visa", last4="5556"
    )
    expect(page.locator(".notices")).to_contain_text(saved)
    expect(page.locator("#membership-card")).to_contain_text("5556")

    # Cancel, with a reason in Arabic.
    page.locator("#cancel").click()
    page.wait_for_url(re.compile(r"/cancel$"))
    expect_rtl(page)
    page.locator("#reason").fill("الميزانية ضيقة هذا العام")
    page.locator("#confirm-cancel").click()
    page.wait_for_url(re.compile(r"/ar/account$"))
    expect(page.locator("#resume")).to_be_visible()
    expect(page.locator("#membership-status")).to_have_class(re.compile(r"\bending\b"))
    no_sideways_scroll(page)

    with live_app.app_context():
        membership = db.session.scalars(sa.select(Membership)).one()
        supporter = db.session.scalars(sa.select(Supporter)).one()
        assert membership.cancel_at_period_end and membership.is_member
        assert membership.cancellation_reason == "الميزانية ضيقة هذا العام"
        assert supporter.card_last4 == "5556"
        subscription_id, customer_id = membership.stripe_subscription_id, supporter.stripe_customer_id
    subscription = stripe_client.v1.subscriptions.retrieve(subscription_id)
    assert subscription["cancel_at_period_end"] is True
    default = stripe_client.v1.customers.retrieve(customer_id)["invoice_settings"]["default_payment_method"]
    assert subscription["default_payment_method"] == default
    assert stripe_client.v1.payment_methods.retrieve(default)["card"]["last4"] == "5556"


def test_a_declined_card_then_one_3d_secure_prompt_on_the_card_page(
    page: Page, live_server: str, live_app: Flask, stripe_js: StripeJs
) -> None:
    give(live_app.test_client(), stripe_js, "en")
    sign_in_in_browser(page, live_server, live_app, "en")
    page.goto(f"{live_server}/en/account/card")
    card = page.locator("#card-element")

    def type_card(number: str) -> None:
        card.locator("input[placeholder=number]").fill(number)
        card.locator("input[placeholder=exp_month]").fill("12")
        card.locator("input[placeholder=exp_year]").fill("2034")
        card.locator("input[placeholder=cvc]").fill("123")
        page.locator("#submit").click()

    type_card(CARDS["declined"])
    with live_app.test_request_context("/en/account/card"), flask_babel.force_locale("en"):
        declined = message("card_declined")
    expect(page.locator("#form-error")).to_have_text(declined)
    expect(page.locator("#submit")).to_be_enabled()  # the reader may try another card
    type_card(CARDS["3ds"])
    page.get_by_role("button", name="Complete authentication").click()  # the bank asks once
    page.wait_for_url(re.compile(r"/en/account$"))  # a second prompt would have kept us there
    expect(page.locator("#membership-card")).to_contain_text("3155")
