"""Response headers that keep pages to our origin and Stripe's.

The Content-Security-Policy lets a page load scripts, frames and connections
from our own origin and from Stripe.js only (``STRIPE_JS_URL``'s origin, plus
``STRIPE_API_BASE``'s when an offline Stripe such as localstripe stands in:
its Stripe.js calls it from the browser).  No inline script runs anywhere; the
only inline styles allowed are on the demo mailbox, which shows emails as they
are sent (emails need inline CSS).  Pages about a person (the account and staff
pages) are never cached.  HSTS is sent in production only, where the service is
served over HTTPS.  The Stripe SDK's loggers never go below INFO, whatever the
root level: at DEBUG they write request and response bodies (emails, names).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.routing import check_host

#: Stripe.js opens frames on these (3-D Secure, Elements) and talks to the API.
STRIPE_FRAMES = ("https://js.stripe.com", "https://hooks.stripe.com")
STRIPE_CONNECT = ("https://api.stripe.com",)
PRIVATE_BLUEPRINTS = frozenset({"account", "staff", "demo"})
HSTS = "max-age=63072000; includeSubDomains"


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(app: Flask, *, inline_styles: bool = False) -> str:
    stripe = [o for o in (_origin(app.config.get("STRIPE_JS_URL") or ""),) if o]
    offline = [o for o in (_origin(app.config.get("STRIPE_API_BASE") or ""),) if o]
    scripts = ["'self'", *stripe]
    frames = ["'self'", *STRIPE_FRAMES, *stripe, *offline]
    connect = ["'self'", *STRIPE_CONNECT, *stripe, *offline]
    styles = ["'self'", "'unsafe-inline'"] if inline_styles else ["'self'"]
    directives = {
        "default-src": ["'self'"],
        "script-src": scripts,
        "style-src": styles,
        "img-src": ["'self'", "data:", *stripe],
        "font-src": ["'self'"],
        "frame-src": frames,
        "connect-src": connect,
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(dict.fromkeys(values))}" for name, values in directives.items())


def quiet_sdk_loggers() -> None:
    """The Stripe SDK logs request and response bodies (emails, names) at DEBUG: never below INFO."""
    logger = logging.getLogger("stripe")
    if logger.level < logging.INFO:  # NOTSET too: it would follow a DEBUG root
        logger.setLevel(logging.INFO)


def register(app: Flask) -> None:
    quiet_sdk_loggers()
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    app.wsgi_app = check_host(app.wsgi_app)  # type: ignore[method-assign]
    if proxies:
        # The reader's address (for the card-testing limits) is the one the proxies saw.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    production = app.config["APP_ENV"] == "production"
    # Built once: (name, lowercase name, value), for pages and for the demo mailbox.
    defaults = {
        inline_styles: tuple(
            (name, name.lower(), value)
            for name, value in (
                ("Content-Security-Policy", content_security_policy(app, inline_styles=inline_styles)),
                ("X-Content-Type-Options", "nosniff"),
                ("X-Frame-Options", "DENY"),
                ("Referrer-Policy", "strict-origin-when-cross-origin"),
                *((("Strict-Transport-Security", HSTS),) if production else ()),
            )
        )
        for inline_styles in (False, True)
    }

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        headers = response.headers
        blueprint = request.blueprint or ""
        # A header the view set itself stays; one look at the names, not one per header.
        present = {name.lower() for name in headers.keys()}  # noqa: SIM118 (Headers iterates pairs)
        headers.extend(
            [(name, value) for name, low, value in defaults[blueprint == "demo"] if low not in present]
        )
        if blueprint in PRIVATE_BLUEPRINTS:
            headers["Cache-Control"] = "no-store"
        return response
