"""A gift in a browser whose requests nobody routes, as in the demo.

The other browser tests route every request through Playwright (to keep
anything from leaving 127.0.0.1), and Playwright's routing answers CORS
preflights itself: a fake Stripe.js request that a real browser would have
to ask permission for (localstripe's port is another origin than the page's)
passes there and fails in the demo.  Here the browser talks to the app and
to localstripe itself (Chromium is started with its background networking off,
and the page asks nothing of elsewhere: test_reach_reader checks it).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import MOBILE
from tests.e2e.test_browser import fill_card, open_support
from tests.harness import CARDS

pytestmark = pytest.mark.browser


def test_a_monthly_dollar_by_card_in_arabic_with_no_request_routing(
    browser: Browser, live_server: str
) -> None:
    context = browser.new_context(viewport=MOBILE, locale="ar", is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if "CORS" in message.text else None)
    try:
        open_support(page, live_server, "ar")
        page.locator("#email").fill("unrouted@example.org")
        fill_card(page, CARDS["visa"])
        page.locator("#submit").click()
        page.wait_for_url(re.compile(r"/ar/support/thank-you/"))
        expect(page.locator("h1")).to_be_visible()
    finally:
        context.close()
    assert not blocked, blocked
