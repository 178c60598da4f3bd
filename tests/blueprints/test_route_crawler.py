"""Every route of the app, found from its URL map: only the reader's public pages answer a stranger.

A route added later is crawled too; if it is meant to be public it must be
named in ``PUBLIC`` below, which makes the decision visible in review.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.routing import Rule

from tests.conftest import empty_tables, make_app

#: Endpoints a reader with no account may open (each checks its own token or signature).
PUBLIC = {
    "root.root",
    "static",
    "favicon",  # the icon browsers ask for on every page
    "donate.support",
    "donate.support_without_js",
    "donate.start",
    "donate.confirm",
    "donate.quote_amount",  # the server's reading of the amount fields: nobody's data
    "donate.form_token",  # this browser's own CSRF token, asked for when paying starts
    "donate.returned",  # Stripe.js comes back here; it finishes only this browser's own gift
    "donate.remind",
    "donate.thanks",
    "donate.confirming",  # static words: "we are confirming your payment"
    "donate.unsubscribe",
    "account.sign_in",
    "account.request_link",
    "account.link",
    "account.use_link",
    "webhooks.stripe_event",
    "staff.sign_in",
    "ops.healthz",  # {"status": "ok"}
    "ops.readyz",  # which dependency is down, in a few words: no address, no data of anyone
    "metrics.metrics",  # its token or network (METRICS_TOKEN, METRICS_ALLOW); 404 when neither is set
}
SIGN_IN = {"account": "/ar/account/sign-in", "staff": "/staff/sign-in"}


@pytest.fixture()
def app(database_url: str, localstripe_url: str) -> Iterator[Flask]:
    # CSRF off, so that a POST reaches the access check instead of stopping at the token.
    app = make_app(database_url, localstripe_url, WTF_CSRF_ENABLED=False)
    yield app
    empty_tables(app)


def routes(app: Flask) -> Iterator[tuple[Rule, str]]:
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


def concrete(rule: Rule) -> str:
    path = rule.rule.replace("<lang>", "ar")
    return re.sub(r"<(?:int:)?[^>]+>", "1", path)


def test_every_private_route_sends_a_stranger_to_sign_in(app: Flask) -> None:
    client = app.test_client()
    crawled = 0
    for rule, method in routes(app):
        if rule.endpoint in PUBLIC:
            continue
        area = rule.endpoint.split(".")[0]
        assert area in SIGN_IN, f"{rule.rule} is neither public nor behind a sign-in"
        response = client.open(concrete(rule), method=method, data={})
        crawled += 1
        assert response.status_code in (302, 303), (method, rule.rule, response.status_code)
        assert response.headers["Location"].startswith(SIGN_IN[area]), (method, rule.rule)
        assert response.headers.get("Content-Type", "").startswith("text/html")
        assert b"@" not in response.data  # no address, no data of anyone
    assert crawled >= 30, "the private pages went missing"


def test_public_routes_are_all_still_there(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints >= PUBLIC, PUBLIC - endpoints
