"""The support page for the reader the issue has in mind: on a phone, maybe on a slow or
metered link, maybe with a keyboard or a screen reader, maybe with JavaScript off.

- the whole donation with the keyboard alone, the focus always visible;
- the choice works without JavaScript, and the page says paying needs it;
- the page works before Stripe.js arrives, and asks for nothing but Stripe.js from
  anyone else before the reader pays (no web fonts either);
- a $1 monthly gift over a throttled 3G link, with its time to interactive printed;
- with ``ARABIC_DIGITS=1`` the totals support.js writes use Arabic-Indic digits too.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import flask_babel
import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, Request, Route, expect
from werkzeug.serving import make_server

from app.extensions import db
from app.models import Membership, Payment
from tests.conftest import empty_tables, make_app, screenshot_dir
from tests.e2e.reach import focus_ring, focused, tab_to
from tests.harness import CARDS, free_port

pytestmark = pytest.mark.browser

EMAIL = "keys@example.org"


def translate(app: Flask, lang: str, text: str) -> str:
    with app.test_request_context(f"/{lang}/support"), flask_babel.force_locale(lang):
        return str(flask_babel.gettext(text))


def membership_and_payment(app: Flask) -> tuple[Membership | None, Payment | None]:
    with app.app_context():
        membership = db.session.scalars(sa.select(Membership)).first()
        payment = db.session.scalars(sa.select(Payment)).first()
        for row in (membership, payment):
            if row is not None:
                db.session.expunge(row)
        return membership, payment


def expect_ring(page: Page) -> None:
    assert focus_ring(page), f"no visible focus on {focused(page)}"


def test_keyboard_alone_gives_yearly_in_arabic(mobile_page: Page, live_server: str, live_app: Flask) -> None:
    page = mobile_page
    page.goto(f"{live_server}/ar/support")
    # Stripe's Payment Element is a group named in the page's language.
    card = page.get_by_role("group", name=translate(live_app, "ar", "Payment details"))
    expect(card.locator("input").first).to_be_visible()
    keys = page.keyboard

    keys.press("Tab")  # the first stop skips to the content, and shows itself
    assert focused(page).startswith("a"), focused(page)
    expect(page.locator("a.skip")).to_be_in_viewport()
    expect_ring(page)
    keys.press("Enter")
    tab_to(page, "input[name=frequency]:checked")
    expect_ring(page)
    keys.press("ArrowDown")  # monthly -> yearly
    expect(page.locator("input[name=frequency][value=year]")).to_be_checked()
    tab_to(page, "input[name=amount]:checked")
    keys.press("ArrowDown")  # $1 -> $3
    keys.press("ArrowDown")  # $3 -> $5
    expect(page.locator("#presets input[data-minor='500']")).to_be_checked()
    expect(page.locator("#total")).to_contain_text("5 دولارات")
    tab_to(page, "#email")
    expect_ring(page)
    keys.type(EMAIL)
    tab_to(page, "#name")
    keys.type("ليلى")
    tab_to(page, "#payment-element input[placeholder=number]")
    keys.type(CARDS["visa"])
    for field, value in (("exp_month", "12"), ("exp_year", "34"), ("cvc", "123"), ("postal_code", "12345")):
        tab_to(page, f"#payment-element input[placeholder={field}]")
        keys.type(value)
    tab_to(page, "#submit")
    expect_ring(page)
    keys.press("Enter")
    page.wait_for_url(re.compile(r"/ar/support/thank-you/"))

    membership, payment = membership_and_payment(live_app)
    assert membership is not None and payment is not None
    assert (membership.interval, membership.amount, payment.amount) == ("year", 500, 500)


def test_the_choice_works_without_javascript(browser: Browser, live_server: str, live_app: Flask) -> None:
    context = browser.new_context(
        java_script_enabled=False, locale="ar", viewport={"width": 360, "height": 740}
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/ar/support")
        needs_js = translate(
            live_app,
            "ar",
            "Paying by card needs JavaScript. You can choose your gift without it; please turn JavaScript on to pay.",
        )
        noscript = page.locator("noscript p")  # (Playwright's text search skips <noscript>)
        expect(noscript).to_be_visible()
        expect(noscript).to_have_text(needs_js)
        expect(page.locator("#pay")).to_be_hidden()

        # A wrong amount: the error is announced and tied to its field.
        page.locator("label.choice:has(#amount-other)").click()
        page.fill("#custom_amount", "عشرة")
        page.locator("#submit").click()
        expect(page.locator("#error-summary")).to_have_attribute("role", "alert")
        amount = page.locator("#custom_amount")
        expect(amount).to_have_attribute("aria-invalid", "true")
        assert "amount-error" in (amount.get_attribute("aria-describedby") or "")
        expect(page.locator("#amount-error")).not_to_be_empty()

        # Once, $10: the page keeps the choice and says paying needs JavaScript.
        page.locator("#frequency-field label.choice:has(input[value=once])").click()
        page.locator("#presets label.choice:has(input[data-minor='1000'])").click()
        page.fill("#custom_amount", "")
        page.fill("#email", EMAIL)
        page.locator("#submit").click()
        ready = translate(
            live_app,
            "ar",
            "Your choice is ready. Paying by card needs JavaScript: please turn it on and press the button again.",
        )
        expect(page.locator("[role=status]").first).to_have_text(ready)
        expect(page.locator("#frequency-field input[value=once]")).to_be_checked()
        expect(page.locator("#presets input[data-minor='1000']")).to_be_checked()
        expect(page.locator("#total")).to_contain_text("10 دولارات")
        expect(page.locator("#email")).to_have_value(EMAIL)
        expect(noscript).to_have_text(needs_js)

        # "Remind me later" from the same page: a plain form POST, no token in the page, no cookie.
        page.fill("#remind-email", EMAIL)
        page.locator("#remind-form button[type=submit]").click()
        expect(page.locator(".remind [role=status]")).to_be_visible()
        page.screenshot(path=str(screenshot_dir() / "no-js-reminded-ar.png"), full_page=True)
        assert context.cookies() == []
    finally:
        context.close()
    assert membership_and_payment(live_app) == (None, None)


@pytest.fixture()
def requests_seen(page: Page) -> Iterator[list[Request]]:
    seen: list[Request] = []
    page.context.on("request", lambda request: seen.append(request))
    yield seen


def test_usable_before_stripe_js_and_nothing_else_from_elsewhere(
    page: Page, live_server: str, live_app: Flask, requests_seen: list[Request]
) -> None:
    held: list[Route] = []
    # Stripe.js waits until the test lets it go.
    page.route(re.compile(r"/js\.stripe\.com/"), lambda route: held.append(route))
    page.goto(f"{live_server}/en/support", wait_until="domcontentloaded")
    expect(page.locator("#total")).to_have_text("Total: $1.00 a month")
    assert held, "the page did not ask for Stripe.js"
    assert page.evaluate("typeof window.Stripe") == "undefined"

    # Choosing works already; pressing the button says the card form is on its way.
    page.locator("#frequency-field label.choice", has_text="Yearly").click()
    page.locator("#presets label.choice", has_text="$5").click()
    expect(page.locator("#total")).to_have_text("Total: $5.00 a year")
    expect(page.locator("#submit")).to_have_text("Give $5 a year")
    page.locator("#submit").click()
    loading = "The payment form is still loading. Please wait a moment, then press the button again."
    expect(page.locator("#form-error")).to_have_text(loading)

    for route in held:
        route.continue_()
    card = page.get_by_role("group", name="Payment details")
    expect(card.locator("input").first).to_be_visible()
    expect(page.locator("#form-error")).to_be_hidden()
    page.fill("#email", EMAIL)
    card.locator("input[placeholder=number]").fill(CARDS["visa"])
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("12345")

    # Before paying: our own origin, and Stripe.js; no font at all.
    ours = urlsplit(live_server).netloc
    stripe_js = live_app.config["STRIPE_JS_URL"]
    elsewhere = [
        r.url for r in requests_seen if urlsplit(r.url).netloc != ours and not r.url.startswith(stripe_js)
    ]
    assert not elsewhere, f"third-party requests before paying: {elsewhere}"
    assert [r.url for r in requests_seen if r.url.startswith(stripe_js)], "Stripe.js never loaded"
    assert not [r.url for r in requests_seen if r.resource_type == "font"]
    assert page.evaluate("document.fonts.size") == 0

    page.locator("#submit").click()
    page.wait_for_url(re.compile(r"/en/support/thank-you/"))
    membership, _payment = membership_and_payment(live_app)
    assert membership is not None and (membership.interval, membership.amount) == ("year", 500)


THREE_G: dict[str, Any] = {
    "offline": False,
    "latency": 400,  # ms, round trip
    "downloadThroughput": 400 * 1000 / 8,  # 400 kbit/s, in bytes per second
    "uploadThroughput": 400 * 1000 / 8,
}


def test_one_dollar_a_month_over_3g(
    mobile_page: Page, live_server: str, live_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    page = mobile_page
    page.context.set_default_timeout(60_000)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", THREE_G)

    started = time.monotonic()
    page.goto(f"{live_server}/ar/support", wait_until="domcontentloaded")
    expect(page.locator("#total")).to_be_visible(timeout=60_000)
    readable = time.monotonic() - started
    expect(page.locator("#payment-element input").first).to_be_visible(timeout=60_000)
    interactive = time.monotonic() - started
    timing = page.evaluate(
        "(() => { const t = performance.getEntriesByType('navigation')[0];"
        " return {dom: Math.round(t.domInteractive), loaded: Math.round(t.loadEventEnd)}; })()"
    )

    page.fill("#email", EMAIL)
    card = page.locator("#payment-element")
    card.locator("input[placeholder=number]").fill(CARDS["visa"])
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("12345")
    paying = time.monotonic()
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r"/ar/support/thank-you/"), timeout=60_000)
    paid = time.monotonic() - paying
    cdp.send(
        "Network.emulateNetworkConditions",
        {**THREE_G, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    with capsys.disabled():
        print(
            f"\n3G (400 ms RTT, 400 kbit/s): DOM interactive {timing['dom']} ms, choice usable {readable:.1f} s, "
            f"card form ready (time to interactive) {interactive:.1f} s, load event {timing['loaded']} ms; "
            f"paying took {paid:.1f} s"
        )
    membership, payment = membership_and_payment(live_app)
    assert membership is not None and payment is not None
    assert (membership.interval, payment.amount) == ("month", 100)


@pytest.fixture()
def arabic_digits_server(database_url: str, localstripe_url: str) -> Iterator[str]:
    """A live server with ``ARABIC_DIGITS=1``."""
    app = make_app(database_url, localstripe_url, ARABIC_DIGITS=True)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(10)
    empty_tables(app)


def test_arabic_digits_in_what_support_js_writes_too(mobile_page: Page, arabic_digits_server: str) -> None:
    page = mobile_page
    page.goto(f"{arabic_digits_server}/ar/support")
    expect(page.locator("#total")).to_contain_text("دولار واحد")  # written by the server, in words
    page.locator("#cover_fees").check()
    expect(page.locator("#total")).to_contain_text("١٫٣٤")  # written by support.js
    expect(page.locator("#submit")).to_contain_text("١٫٣٤")
    page.locator("label.choice:has(#amount-other)").click()
    page.locator("#custom_amount").press_sequentially("10")  # typed: Latin digits are read too
    expect(page.locator("#total")).to_contain_text("١٠٫٦١")
    expect(page.locator("#custom_amount")).to_have_value("10")  # what the reader typed stays as typed
