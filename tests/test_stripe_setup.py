"""``flask --app app stripe setup`` against localstripe's ``/v1/webhook_endpoints``
(devtools/localstripe_server.py), and the README's list of the events it enables.

A localstripe of this module's own, emptied before each test: its endpoints
deliver events, which must not reach other modules.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from click.testing import Result
from flask import Flask
from werkzeug.serving import make_server

from app import config
from app.extensions import db
from app.models import WebhookEvent
from app.services import stripe_setup, webhooks
from tests.harness import empty_localstripe, free_port, own_localstripe_url  # noqa: F401 (fixtures: a localstripe of this module's own, emptied before each test)

URL = "https://support.newsroom.example/webhooks/stripe"
SECRET = re.compile(r"whsec_\w+")


def enabled() -> list[str]:
    """What an endpoint of 2024-06-20 is asked for: every handled type that exists there."""
    return sorted(set(webhooks.HANDLERS) - {"invoice_payment.paid"})


def setup(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["stripe", "setup", *args])


def at_url(stripe_client: stripe.StripeClient, url: str = URL) -> list[Any]:
    return [e for e in stripe_client.v1.webhook_endpoints.list(params={"limit": 100}).data if e.url == url]


def test_setup_creates_our_endpoint_prints_its_secret_once_and_a_second_run_changes_nothing(
    app: Flask, stripe_client: stripe.StripeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = setup(app, "--url", URL)
    assert first.exit_code == 0, first.output
    [endpoint] = at_url(stripe_client)
    assert endpoint.api_version == config.STRIPE_API_VERSION == "2024-06-20"
    assert endpoint.enabled_events == enabled()
    assert endpoint.status == "enabled"
    [secret] = SECRET.findall(first.stdout)  # printed once, with what to do with it
    assert "STRIPE_WEBHOOK_SECRET" in first.stdout and endpoint.id in first.stdout

    again = setup(app, "--url", URL)
    assert again.exit_code == 0, again.output
    assert "up to date" in again.stdout and "STRIPE_WEBHOOK_SECRET stays" in again.stdout
    assert not SECRET.search(again.output)  # Stripe shows it once, and so do we
    assert [e.id for e in at_url(stripe_client)] == [endpoint.id]
    assert secret not in caplog.text  # never in a log


def test_setup_brings_a_changed_endpoint_back_to_the_handled_events_and_enables_it(
    app: Flask, stripe_client: stripe.StripeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert setup(app, "--url", URL).exit_code == 0
    [endpoint] = at_url(stripe_client)
    # Someone edits it in the dashboard: an event dropped, one we ignore added, delivery off.
    stripe_client.v1.webhook_endpoints.update(
        endpoint.id,
        params={
            "enabled_events": [*sorted(set(enabled()) - {"invoice.paid"}), "charge.succeeded"],
            "disabled": True,
        },
    )
    # And a release handles a new type: the next run enables it, nobody edits a list.
    monkeypatch.setitem(webhooks.HANDLERS, "invoice.finalized", webhooks.HANDLERS["invoice.paid"])

    result = setup(app, "--url", URL)
    assert result.exit_code == 0, result.output
    assert "updated" in result.stdout
    assert "enabled: invoice.finalized invoice.paid" in result.stdout
    assert "no longer sent: charge.succeeded" in result.stdout
    assert "enabled again" in result.stdout
    assert not SECRET.search(result.output)
    [after] = at_url(stripe_client)
    assert after.id == endpoint.id and after.status == "enabled"
    assert after.enabled_events == enabled()


def test_a_handled_type_newer_than_our_version_is_not_asked_for(
    app: Flask, stripe_client: stripe.StripeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # invoice_payment.paid links a payment to its invoice from 2025-03-31.basil on; at
    # 2024-06-20 the invoice carries its payment intent and charge, and the type is undeclared.
    monkeypatch.setitem(webhooks.HANDLERS, "invoice_payment.paid", webhooks.HANDLERS["invoice.paid"])
    result = setup(app, "--url", URL)
    assert result.exit_code == 0, result.output
    [endpoint] = at_url(stripe_client)
    assert "invoice_payment.paid" not in endpoint.enabled_events
    assert endpoint.enabled_events == enabled()
    assert "not asked for (newer than 2024-06-20, not needed there): invoice_payment.paid" in result.stdout
    assert "invoice_payment.paid" in stripe_setup.handled_events("2025-03-31.basil")


def test_an_endpoint_in_another_api_version_is_replaced_only_on_recreate(
    app: Flask, stripe_client: stripe.StripeClient
) -> None:
    # A new account's endpoint, made in the dashboard: the newest version, all events.
    old = stripe_client.v1.webhook_endpoints.create(
        params={"url": URL, "enabled_events": ["*"], "api_version": "2026-10-28.endive"}
    )
    refused = setup(app, "--url", URL)
    assert refused.exit_code == 1
    assert old.id in refused.output and "2026-10-28.endive" in refused.output
    assert "cannot change" in refused.output and "--recreate" in refused.output
    assert [e.id for e in at_url(stripe_client)] == [old.id]  # left as it was

    result = setup(app, "--url", URL, "--recreate")
    assert result.exit_code == 0, result.output
    [new] = at_url(stripe_client)
    assert new.id != old.id and new.api_version == "2024-06-20"
    assert new.enabled_events == enabled()
    assert len(SECRET.findall(result.stdout)) == 1 and f"deleted {old.id}" in result.stdout
    assert setup(app, "--url", URL, "--recreate").exit_code == 0  # nothing left to replace
    assert [e.id for e in at_url(stripe_client)] == [new.id]


def test_setup_leaves_other_urls_alone_and_defaults_to_the_base_url(
    app: Flask, stripe_client: stripe.StripeClient
) -> None:
    other = stripe_client.v1.webhook_endpoints.create(
        params={"url": "https://crm.example/hook", "enabled_events": ["charge.succeeded"]}
    )
    app.config["BASE_URL"] = "https://support.newsroom.example/"
    assert setup(app).exit_code == 0
    assert len(at_url(stripe_client)) == 1
    kept = stripe_client.v1.webhook_endpoints.retrieve(other.id)
    assert kept.enabled_events == ["charge.succeeded"] and kept.api_version is None
    assert setup(app, "--url", "ftp://x").exit_code == 2


@pytest.fixture()
def live_url(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/stripe"
    server.shutdown()
    thread.join(10)


def stored_types(app: Flask) -> list[str]:
    with app.app_context():
        types = list(db.session.scalars(sa.select(WebhookEvent.type)))
        db.session.remove()
        return types


def test_localstripe_delivers_to_the_endpoint_signed_with_the_printed_secret(
    app: Flask, live_url: str, stripe_client: stripe.StripeClient
) -> None:
    result = setup(app, "--url", live_url)
    assert result.exit_code == 0, result.output
    [secret] = SECRET.findall(result.stdout)
    app.config["STRIPE_WEBHOOK_SECRET"] = secret  # what the operator does with it
    customer = stripe_client.v1.customers.create(params={"email": "reem@example.org"})
    stripe_client.v1.customers.update(customer.id, params={"name": "ريم"})

    deadline = time.monotonic() + 30  # localstripe sends about a second later
    while "customer.updated" not in stored_types(app) and time.monotonic() < deadline:
        time.sleep(0.05)
    types = stored_types(app)
    assert "customer.updated" in types  # verified with the secret, so stored
    assert set(types) <= set(webhooks.HANDLERS)  # customer.created is not enabled


def test_the_readme_lists_exactly_the_events_setup_enables() -> None:
    readme = (config.ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("`.venv/bin/flask --app app stripe setup` enables them", 1)[1]
    listed = section.split("```", 2)[1].split()
    assert len(listed) == len(set(listed))
    assert set(listed) == set(stripe_setup.handled_events(config.STRIPE_API_VERSION)), (
        "the README's event list must be webhooks.HANDLERS (add or remove the type there)"
    )
    after = section.split("```", 2)[2].strip().split("\n\n", 1)[0]
    for newer in stripe_setup.not_in_version(config.STRIPE_API_VERSION):
        assert f"`{newer}`" in after, "say in the README why a handled type is not enabled"
