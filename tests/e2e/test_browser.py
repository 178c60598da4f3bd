"""The donation page in headless Chromium, against a live server and localstripe.

The card goes into localstripe's fake card element (plain inputs, no iframe),
exactly where Stripe's real one would take it; our server never sees it.
"""

from __future__ import annotations

import re
import time

import flask_babel
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.i18n import format_money
from app.messages import MESSAGES
from tests.conftest import count_rows
from tests.harness import CARDS

pytestmark = pytest.mark.browser

ARABIC = re.compile(r"[\u0600-\u06FF]")
LATIN = re.compile(r"[A-Za-z]")
ALLOWED_LATIN = {"US", "USD", "EUR", "TRY", "Stripe", "CVC"}
NAME = "ليلى"
EMAIL = "reader@example.org"


def arabic(app: Flask, text: str, **values: str) -> str:
    """``text`` as the Arabic catalog says it (what the page should show)."""
    with app.test_request_context("/ar/support"), flask_babel.force_locale("ar"):
        return str(flask_babel.gettext(text, **values))


def arabic_money(app: Flask, minor: int, currency: str = "usd") -> str:
    with app.test_request_context("/ar/support"), flask_babel.force_locale("ar"):
        return format_money(minor, currency, locale="ar")


def latin_words(text: str | None) -> set[str]:
    return set(re.findall(r"[A-Za-z]{2,}", text or "")) - ALLOWED_LATIN


def open_support(page: Page, base_url: str, lang: str) -> None:
    page.goto(f"{base_url}/{lang}/support")
    # Stripe.js loads async; the card element is mounted when its inputs exist.
    expect(page.locator("#payment-element input[placeholder=number]")).to_be_visible()
    expect(page.locator("#pay")).to_be_visible()


def fill_card(page: Page, number: str) -> None:
    card = page.locator("#payment-element")
    card.locator("input[placeholder=number]").fill(number)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("12345")


def fill_reader(page: Page, name: str = NAME) -> None:
    page.locator("#email").fill(EMAIL)
    page.locator("#name").fill(name)


def unfocus(page: Page) -> None:
    """No focus ring in the screenshots."""
    page.evaluate("document.activeElement && document.activeElement.blur()")


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    assert width <= viewport["width"], f"page is {width}px wide in a {viewport['width']}px viewport"


def expect_rtl(page: Page) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")


def click_through_3ds(page: Page, timeout: float = 20.0) -> int:
    """Complete every fake 3-D Secure prompt until the thank-you page; count them."""
    complete = page.get_by_role("button", name="Complete authentication")
    prompts = 0
    deadline = time.monotonic() + timeout
    while "/thank-you/" not in page.url:
        assert time.monotonic() < deadline, f"no thank-you page after {prompts} 3-D Secure prompt(s)"
        if complete.is_visible():
            complete.click()
            prompts += 1
        else:
            page.wait_for_timeout(50)
    page.wait_for_load_state()
    return prompts


def test_arabic_monthly_on_a_phone(mobile_page: Page, live_server: str, live_app: Flask) -> None:
    page = mobile_page
    open_support(page, live_server, "ar")
    expect_rtl(page)
    # One dollar a month is the default.
    expect(page.locator("input[name=frequency][value=month]")).to_be_checked()
    expect(page.locator("#presets input[data-minor='100']")).to_be_checked()
    expect(page.locator("#currency")).to_have_value("usd")
    expect(page.locator("#total")).to_contain_text("دولار واحد")  # in words, as on the chip
    # The total and the button are written by support.js: in Arabic too.
    for made_by_js in ("#total", "#submit"):
        text = page.locator(made_by_js).text_content()
        assert ARABIC.search(text or "") and not latin_words(text), f"{made_by_js}: {text!r}"
    fill_reader(page)
    unfocus(page)
    no_sideways_scroll(page)

    fill_card(page, CARDS["visa"])
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r"/ar/support/thank-you/"))

    expect_rtl(page)
    heading = arabic(live_app, "Thank you, %(name)s!", name=NAME)
    expect(page.locator("h1")).to_have_text(heading)
    assert ARABIC.search(heading.replace(NAME, "")), f"the thank-you heading is not in Arabic: {heading!r}"
    amount = arabic_money(live_app, 100)
    expect(page.locator("dl.summary bdi").first).to_have_text(amount)
    expect(page.locator(".lead")).to_contain_text(amount)
    no_sideways_scroll(page)  # (test_reach.py takes the screenshots)

    rows = count_rows(live_app)
    assert (rows["membership"], rows["payment"]) == (1, 1), rows


def test_english_once_ten_dollars(page: Page, live_server: str, live_app: Flask) -> None:
    open_support(page, live_server, "en")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    page.locator("#frequency-field label.choice", has_text="Once").click()
    expect(page.locator("input[name=frequency][value=once]")).to_be_checked()
    page.locator("#presets label.choice", has_text="$10").click()
    expect(page.locator("#presets input[data-minor='1000']")).to_be_checked()
    expect(page.locator("#total")).to_have_text("Total: $10.00, once")
    expect(page.locator("#submit")).to_have_text("Give $10")
    fill_reader(page, name="")

    fill_card(page, CARDS["visa"])
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r"/en/support/thank-you/"))

    expect(page.locator("h1")).to_have_text("Thank you!")
    expect(page.locator("main")).to_contain_text("$10.00")
    rows = count_rows(live_app)
    assert (rows["membership"], rows["payment"]) == (0, 1), rows


def test_arabic_monthly_with_3d_secure(mobile_page: Page, live_server: str, live_app: Flask) -> None:
    page = mobile_page
    open_support(page, live_server, "ar")
    fill_reader(page)
    fill_card(page, CARDS["3ds"])
    page.locator("#submit").click()

    prompts = click_through_3ds(page)
    assert prompts == 1, f"the 3-D Secure card asked {prompts} times (once is what Stripe does)"
    expect_rtl(page)
    heading = arabic(live_app, "Thank you, %(name)s!", name=NAME)
    expect(page.locator("h1")).to_have_text(heading)
    assert ARABIC.search(heading.replace(NAME, "")), f"the thank-you heading is not in Arabic: {heading!r}"
    rows = count_rows(live_app)
    assert (rows["membership"], rows["payment"]) == (1, 1), rows


def test_declined_card_in_arabic(mobile_page: Page, live_server: str, live_app: Flask) -> None:
    page = mobile_page
    open_support(page, live_server, "ar")
    submit = page.locator("#submit")
    label = submit.text_content()
    fill_reader(page)
    fill_card(page, CARDS["declined"])
    submit.click()

    with live_app.test_request_context("/ar/support"), flask_babel.force_locale("ar"):
        declined = str(MESSAGES["card_declined"])
    error = page.locator("#form-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(declined)
    assert ARABIC.search(declined), f"card_declined is not translated: {declined!r}"
    assert not LATIN.search(declined), f"Latin letters in the Arabic message: {declined!r}"
    rows = count_rows(live_app)
    assert (rows["payment"], rows["membership"]) == (0, 0), rows

    # The reader can try again with another card, from the same page.
    expect(submit).to_be_enabled()
    expect(submit).to_have_text(label or "")
    fill_card(page, CARDS["visa"])
    submit.click()
    page.wait_for_url(re.compile(r"/ar/support/thank-you/"))
    rows = count_rows(live_app)
    assert (rows["membership"], rows["payment"]) == (1, 1), rows


def test_total_follows_the_choices(mobile_page: Page, live_server: str) -> None:
    page = mobile_page
    open_support(page, live_server, "ar")
    total = page.locator("#total")
    before = total.text_content()
    assert before and "دولار واحد" in before, before  # a whole total in words, as on the chip

    page.locator("#cover_fees").check()
    # $1 a month grossed up for 2.9% + 30¢: ceil(130 / 0.971) = 134.
    expect(total).not_to_have_text(before)
    expect(total).to_contain_text("1.34")
    expect(page.locator("#submit")).to_contain_text("1.34")

    page.locator("label.choice:has(#amount-other)").click()
    expect(page.locator("#amount-other")).to_be_checked()
    page.locator("#custom_amount").press_sequentially("١٠")
    # $10 with the fees covered: ceil(1030 / 0.971) = 1061.
    expect(total).to_contain_text("10.61")
    page.locator("#cover_fees").uncheck()
    expect(total).to_contain_text("10 دولارات")
    expect(page.locator("#submit")).to_contain_text("10 دولارات")
    for made_by_js in ("#total", "#submit"):
        text = page.locator(made_by_js).text_content()
        assert ARABIC.search(text or "") and not latin_words(text), f"{made_by_js}: {text!r}"
    expect(page.locator("#lang-switch")).to_have_attribute("href", re.compile(r"custom_amount="))
