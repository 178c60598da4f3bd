"""What ``/metrics`` tells an operator: requests, Stripe's events, emails, Stripe calls, card testers.

Counters belong to the process (every app of the test session adds to them),
so each test reads them before and after what it does.
"""

from __future__ import annotations

import time

from flask import Flask
from flask.testing import FlaskClient

from tests import stripe_events as se
from tests.blueprints.test_card_testing import client_from, start
from tests.ops.conftest import MakeApp
from tests.ops.test_health import BEARER, TOKEN, samples

Key = tuple[str, tuple[tuple[str, str], ...]]


def scrape(client: FlaskClient) -> dict[Key, float]:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    return samples(response.get_data(as_text=True))


def grew(before: dict[Key, float], after: dict[Key, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_stripe_events_are_counted_as_stored_duplicated_and_applied(app: Flask) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    client = app.test_client()
    before = scrape(client)
    customer = se.customer("cus_metrics", "metrics@example.org", "Metrics", ["en"])
    event = se.event("customer.updated", customer, event_id="evt_metrics_1")
    assert se.post(client, event).status_code == 200
    assert se.post(client, event).status_code == 200
    after = scrape(client)
    assert grew(before, after, "support_webhook_events_received_total", result="stored") == 1
    assert grew(before, after, "support_webhook_events_received_total", result="duplicate") == 1
    applied = sum(
        grew(before, after, "support_webhook_events_applied_total", outcome=o) for o in ("applied", "ignored")
    )
    assert applied == 1
    assert after[("support_webhook_events_unapplied", ())] == 0
    assert (
        grew(
            before,
            after,
            "support_http_requests_total",
            endpoint="webhooks.stripe_event",
            method="POST",
            status="200",
        )
        == 2
    )


def test_an_event_left_unapplied_shows_its_age(new_app: MakeApp) -> None:
    app = new_app(apply_webhooks_at_once=False, METRICS_TOKEN=TOKEN)
    client = app.test_client()
    customer = se.customer("cus_waiting", "waiting@example.org", "Waiting", ["ar"])
    assert se.post(client, se.event("customer.updated", customer, event_id="evt_waiting")).status_code == 200
    first = scrape(client)
    assert first[("support_webhook_events_unapplied", ())] == 1
    deadline = time.monotonic() + 10
    while (age := scrape(client)[("support_webhook_oldest_unapplied_age_seconds", ())]) <= 0:
        assert time.monotonic() < deadline, "the age never grew"
        time.sleep(0.05)
    assert 0 < age < 60


def test_a_card_tester_refused_is_counted_by_its_limit(app: Flask) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    before = scrape(app.test_client())
    client, token = client_from(app, "203.0.113.30")
    assert start(client, token, "bot@honeypot.example", website="http://spam.example").status_code == 429
    after = scrape(app.test_client())
    assert grew(before, after, "support_card_testers_refused_total", limit="honeypot") == 1
    assert after[("support_database_up", ())] == 1


def test_calls_to_stripe_are_counted(app: Flask) -> None:
    app.config["METRICS_TOKEN"] = TOKEN
    before = scrape(app.test_client())
    client, token = client_from(app, "203.0.113.31")
    assert start(client, token, "reader@example.org").status_code == 200
    after = scrape(app.test_client())
    assert grew(before, after, "support_stripe_calls_total") >= 1
    assert grew(before, after, "support_stripe_rate_limited_total") == 0
