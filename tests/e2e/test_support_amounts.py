"""What a reader types as the amount, in the browser: the page shows the server's reading
(total and button), or the server's refusal and no total, and pays only a reading."""

from __future__ import annotations

import re

import flask_babel
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.donate import quote
from app.i18n import format_money
from app.messages import message_for
from tests.e2e.test_browser import open_support

pytestmark = pytest.mark.browser


def type_amount(page: Page, text: str) -> None:
    page.locator("label.choice:has(#amount-other)").click()
    page.locator("#custom_amount").fill(text)


def test_typed_amounts_in_english(page: Page, live_server: str) -> None:
    open_support(page, live_server, "en")
    page.locator("#frequency-field label.choice", has_text="Once").click()
    total, button = page.locator("#total"), page.locator("#submit")
    for typed, shown, label in (("$5", "$5.00", "Give $5"), ("5,50", "$5.50", "Give $5.50")):
        type_amount(page, typed)
        expect(total).to_have_text(f"Total: {shown}, once")
        expect(button).to_have_text(label)
        expect(button).to_be_enabled()
    type_amount(page, "five dollars")
    expect(page.locator("#amount-error")).to_have_text(
        "Please type the amount as a number, for example 5 or 7.50."
    )
    expect(total).to_be_hidden()  # never the last good total beside the error
    expect(button).to_be_disabled()
    type_amount(page, "7")
    expect(page.locator("#amount-error")).to_have_text("")
    expect(total).to_have_text("Total: $7.00, once")
    expect(button).to_be_enabled()


def test_arabic_indic_digits_and_a_refusal_in_arabic(
    mobile_page: Page, live_server: str, live_app: Flask
) -> None:
    page = mobile_page
    open_support(page, live_server, "ar")
    type_amount(page, "٥")
    expect(page.locator("#total")).to_contain_text("5 دولارات")
    expect(page.locator("#submit")).to_contain_text("5")
    type_amount(page, "٠٫٥")  # half a dollar: below the minimum
    with live_app.test_request_context("/ar/support"), flask_babel.force_locale("ar"):
        below = message_for("amount_below_minimum", minimum=format_money(100, "usd", short=True))
    expect(page.locator("#amount-error")).to_have_text(below)
    expect(page.locator("#submit")).to_be_disabled()


def sheet(page: Page) -> dict:
    """What the Express Checkout Element (the wallet sheet) was created with and told since."""
    return page.evaluate(
        "({created: window.__expressCheckout.created, updates: window.__expressCheckout.updates,"
        " now: window.__elements.options})"
    )


def test_the_wallet_sheet_follows_every_change_of_the_choice(
    mobile_page: Page, live_server: str, live_app: Flask
) -> None:
    page = mobile_page
    open_support(page, live_server, "ar")
    first = sheet(page)
    assert (first["created"]["mode"], first["created"]["amount"], first["created"]["currency"]) == (
        "subscription",
        100,
        "usd",
    )
    assert first["created"]["locale"] == "ar" and first["created"]["appearance"]["theme"] == "stripe"
    total = page.locator("#total")
    # Each change, the update the sheet must get, and the total the page then shows.
    steps = [
        (
            lambda: page.locator("#presets label.choice").nth(2).click(),
            {"mode": "subscription", "amount": 500},
        ),
        (lambda: page.locator("#currency").select_option("eur"), {"amount": 500, "currency": "eur"}),
        (lambda: page.locator("label.choice:has(input[value=once])").click(), {"mode": "payment"}),
        # €5 grossed up for 2.9% + 25 cents: ceil(525 / 0.971) = 541.
        (lambda: page.locator("#cover_fees").check(), {"amount": 541, "currency": "eur"}),
        (lambda: page.locator("label.choice:has(input[value=year])").click(), {"mode": "subscription"}),
    ]
    for n, (change, expected) in enumerate(steps, start=1):
        before = total.text_content()
        change()
        expect(total).not_to_have_text(before or "")  # the server's reading has come back
        expect(total).not_to_have_attribute("aria-busy", "true")
        updates = sheet(page)["updates"]
        assert len(updates) == n, (n, updates)
        assert updates[-1].items() >= expected.items(), (n, updates[-1])
        # The sheet's sum is the total the page shows, in the same currency.
        with live_app.test_request_context("/ar/support"), flask_babel.force_locale("ar"):
            shown = format_money(updates[-1]["amount"], updates[-1]["currency"], short=True)
        expect(total).to_contain_text(shown)
    # Euros: the Payment Element offers SEPA Direct Debit (an IBAN) beside the card.
    expect(page.locator("#payment-element input[placeholder=iban]")).to_be_visible()
    assert len(sheet(page)["updates"]) == len(steps)  # one update per change, none stale
    # The typed amount's label and limits follow the currency too.
    with live_app.test_request_context("/ar/support"), flask_babel.force_locale("ar"):
        label, minimum = str(quote.CUSTOM_AMOUNT_LABELS["eur"]), format_money(100, "eur", short=True)
    expect(page.locator("label[for=custom_amount]")).to_have_text(label)
    expect(page.locator("#amount-hint bdi").first).to_have_text(minimum)
    assert sheet(page)["now"]["currency"] == "eur" and sheet(page)["now"]["amount"] == 541


def test_the_payment_element_takes_a_four_digit_year_and_spaces(page: Page, live_server: str) -> None:
    open_support(page, live_server, "en")
    expect(page.locator("#payment-element input[placeholder=iban]")).to_have_count(0)  # dollars: cards
    page.locator("#email").fill("reader@example.org")
    element = page.locator("#payment-element")
    element.locator("input[placeholder=number]").fill("4242 4242 4242 4242")
    element.locator("input[placeholder=exp_month]").fill("12")
    element.locator("input[placeholder=exp_year]").fill("2034")
    element.locator("input[placeholder=cvc]").fill("123")
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r"/en/support/thank-you/"))
    expect(page.locator("h1")).to_have_text("Thank you!")
