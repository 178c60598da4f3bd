"""A live server and headless Chromium for the browser tests.

The app runs in a thread of this process (so tests can look at its database),
the page loads localstripe's fake Stripe.js, and nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    Route,
    ViewportSize,
    sync_playwright,
)
from werkzeug.serving import make_server

from tests.conftest import empty_tables, make_app
from tests.harness import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
MOBILE: ViewportSize = {"width": 360, "height": 740}


@pytest.fixture()
def live_app(database_url: str, localstripe_url: str) -> Iterator[Flask]:
    """The app the live server runs; tests use it for the database and the catalogs."""
    app = make_app(database_url, localstripe_url)
    yield app
    empty_tables(app)


@pytest.fixture()
def live_server(live_app: Flask) -> Iterator[str]:
    """The app served over HTTP on 127.0.0.1; yields its base URL."""
    port = free_port()
    server = make_server("127.0.0.1", port, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium. "
            "Install it with `make browser` (as root), or `apt-get install chromium`.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageErrors:
    """JavaScript errors and broken resources; a test fails if any happened.

    Answers to POSTs (a 402 for a declined card, say) are the flow's business,
    and so is the support page's quote refusing an amount (a 400 the page shows),
    so only another failed GET (page, script, stylesheet) counts.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []

    def console(self, message: ConsoleMessage) -> None:
        # Chromium logs every 4xx/5xx as "Failed to load resource"; `response` judges those.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text}")

    def response(self, response: Response) -> None:
        refused_amount = "/support/quote?" in response.url and response.status == 400
        if response.request.method == "GET" and response.status >= 400 and not refused_amount:
            self.errors.append(f"GET {response.url}: HTTP {response.status}")

    def exception(self, error: Any) -> None:
        self.errors.append(f"uncaught: {error}")


def _local_only(route: Route) -> None:
    if route.request.url.startswith(("http://127.0.0.1:", "data:", "blob:")):
        route.continue_()
    else:
        route.abort()


def _new_page(browser: Browser, viewport: ViewportSize, locale: str) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        viewport=viewport,
        locale=locale,
        device_scale_factor=1,
        is_mobile=viewport["width"] < 600,
        has_touch=viewport["width"] < 600,
    )
    context.set_default_timeout(10_000)
    context.route("**/*", _local_only)
    page = context.new_page()
    errors = PageErrors()
    page.on("console", errors.console)
    page.on("pageerror", errors.exception)
    page.on("response", errors.response)
    yield page
    context.close()
    assert not errors.errors, "JavaScript errors in the page:\n" + "\n".join(errors.errors)


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    """A fresh desktop-sized page (1280 px wide)."""
    yield from _new_page(browser, DESKTOP, "en-US")


@pytest.fixture()
def mobile_page(browser: Browser) -> Iterator[Page]:
    """A fresh phone-sized page (360 px wide)."""
    yield from _new_page(browser, MOBILE, "ar")
