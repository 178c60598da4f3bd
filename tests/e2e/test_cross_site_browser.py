"""What Chromium itself sends: the support page sets no cookie, and a form on another site that
posts to ours is refused in the reader's language (``app/donate/same_origin.py``)."""

from __future__ import annotations

import flask_babel
import pytest
from flask import Flask
from playwright.sync_api import Browser, Route, expect

from app.extensions import db
from app.messages import message_for
from app.models import Reminder
from tests.conftest import screenshot_dir

pytestmark = pytest.mark.browser

FOREIGN = "http://evil.test/"


def test_the_page_sets_no_cookie_and_a_foreign_form_is_refused(
    browser: Browser, live_server: str, live_app: Flask
) -> None:
    context = browser.new_context(locale="ar")
    context.set_default_timeout(10_000)
    page = context.new_page()
    forged = f"""<!doctype html><form method="post" action="{live_server}/ar/support/remind">
      <input name="email" value="victim@example.org"><input name="when" value="week">
      <button id="go">go</button></form>"""

    def another_site(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=forged)

    try:
        page.goto(f"{live_server}/ar/support")
        expect(page.locator("#total")).to_have_attribute("aria-busy", "false")  # the quote came back
        assert context.cookies() == []  # a shared cache may keep this answer for everyone

        context.route(FOREIGN, another_site)
        page.goto(FOREIGN)
        with page.expect_navigation() as sent:
            page.locator("#go").click()
        response = sent.value
        assert response is not None and response.status == 403
        with live_app.test_request_context("/ar/support"), flask_babel.force_locale("ar"):
            refusal = message_for("cross_site")
        expect(page.locator("body")).to_contain_text(refusal)
        page.screenshot(path=str(screenshot_dir() / "cross-site-refused-ar.png"))
        with live_app.app_context():
            assert db.session.query(Reminder).count() == 0
    finally:
        context.close()
