"""What a reader types as the amount, in the browser: the page shows the server's reading
(total and button), or the server's refusal and no total, and pays only a reading."""

from __future__ import annotations

import flask_babel
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

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
    expect(page.locator("#total")).to_contain_text("5.00")
    expect(page.locator("#submit")).to_contain_text("5")
    type_amount(page, "٠٫٥")  # half a dollar: below the minimum
    with live_app.test_request_context("/ar/support"), flask_babel.force_locale("ar"):
        below = message_for("amount_below_minimum", minimum="\u200f1\xa0US$\u200e")
    expect(page.locator("#amount-error")).to_have_text(below)
    expect(page.locator("#submit")).to_be_disabled()
