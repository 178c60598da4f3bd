"""Headers that keep every page to our origin and Stripe's, and private pages out of caches."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.test_config import REAL

#: Real-looking production settings (tests/test_config.py keeps the list production insists on).
PRODUCTION = {**REAL, "STRIPE_JS_URL": "https://js.stripe.com/v3/"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def test_support_page_allows_only_our_origin_and_stripe_js(client: FlaskClient, app: Flask) -> None:
    response = client.get("/ar/support")
    assert response.status_code == 200
    policy = directives(response.headers["Content-Security-Policy"])
    stripe_js_origin = app.config["STRIPE_JS_URL"].split("/js.stripe.com")[0]
    assert policy["script-src"] == ["'self'", stripe_js_origin]
    assert policy["style-src"] == ["'self'"]  # no inline style or script anywhere
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers  # not HTTPS in tests


def test_production_sends_hsts_secure_cookies_and_stripe_origins_only() -> None:
    app = create_app(PRODUCTION)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    with app.test_client().get("/static/support.css") as response:
        response.close()
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'", "https://js.stripe.com"]
    assert set(policy["frame-src"]) == {"'self'", "https://js.stripe.com", "https://hooks.stripe.com"}
    assert set(policy["connect-src"]) == {"'self'", "https://api.stripe.com", "https://js.stripe.com"}
    everything = response.headers["Content-Security-Policy"]
    assert "127.0.0.1" not in everything and "unsafe" not in everything


def test_account_pages_are_never_cached(client: FlaskClient) -> None:
    response = client.get("/ar/account/sign-in")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/ar/support").headers.get("Cache-Control") != "no-store"
