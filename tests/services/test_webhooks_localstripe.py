"""The donation flow, then localstripe's own webhook deliveries for the same
objects (signed, a second late, in the 2017 shape, all at once and in any
order) to a live server: nothing doubles, and what Stripe did outside our page
appears here too.

A localstripe of its own, so its webhook registration never reaches other tests.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from app.extensions import db
from app.models import Membership, MembershipStatus, Payment, PaymentStatus, Supporter, WebhookEvent
from tests.blueprints.test_donation_flow import confirm, start
from tests.conftest import WEBHOOK_SECRET, count_rows, empty_tables, make_app
from tests.harness import CARDS, StripeJs, free_port, start_localstripe


@pytest.fixture(scope="module")
def own_localstripe() -> Iterator[str]:
    proc, url = start_localstripe()
    yield url
    proc.terminate()
    proc.wait(10)


class Counted:
    """The WSGI app, counting requests in flight (a request's session closes
    only as its call returns, after its commit is already visible)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.in_flight = 0

    def __call__(self, environ: Any, start_response: Any) -> Any:
        with self.lock:
            self.in_flight += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self.lock:
                self.in_flight -= 1

    def wait_idle(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture(scope="module")
def live_app(database_url: str, own_localstripe: str) -> Iterator[Flask]:
    app = make_app(database_url, own_localstripe)
    port = free_port()
    counted = Counted(app)
    app.extensions["test_in_flight"] = counted
    server = make_server("127.0.0.1", port, counted, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    body = json.dumps({"url": f"http://127.0.0.1:{port}/webhooks/stripe", "secret": WEBHOOK_SECRET}).encode()
    request = urllib.request.Request(f"{own_localstripe}/_config/webhooks/ours", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    yield app
    server.shutdown()
    thread.join(10)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture()
def app(live_app: Flask) -> Iterator[Flask]:
    yield live_app
    live_app.extensions["test_in_flight"].wait_idle()  # each test waited for its own deliveries
    empty_tables(live_app)


@pytest.fixture()
def stripe_js(own_localstripe: str) -> StripeJs:
    return StripeJs(own_localstripe)


@pytest.fixture()
def stripe_client(own_localstripe: str) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_suite", base_addresses={"api": own_localstripe})


def events(app: Flask) -> list[WebhookEvent]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.id)))
        db.session.expunge_all()
        return found


def wait_for(app: Flask, *types: str, timeout: float = 15.0) -> list[WebhookEvent]:
    """Until events of ``types`` have arrived and every stored event is applied."""
    deadline = time.monotonic() + timeout
    while True:
        found = events(app)
        arrived = {e.type for e in found}
        if set(types) <= arrived and all(e.processed_at for e in found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited for {types}; have {[(e.type, e.last_error) for e in found]}")
        time.sleep(0.1)


def wait_for_quiet(app: Flask, quiet: float = 0.6) -> None:
    """Until no delivery has arrived for ``quiet`` seconds.

    localstripe sends every event one second after it happened, all at once:
    once the last expected one is here, the rest of that batch is too.
    """
    seen = -1
    while (count := len(events(app))) != seen:
        seen = count
        time.sleep(quiet)


def one(app: Flask, model: type) -> Any:
    with app.app_context():
        row = db.session.scalars(sa.select(model)).one()
        db.session.expunge_all()
        return row


def test_a_membership_from_our_page_is_confirmed_not_doubled(
    app: Flask, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    client: FlaskClient = app.test_client()
    token, started = start(client, "ar", amount="5")
    setup = stripe_js.confirm_card_payment(started["client_secret"], CARDS["visa"])
    assert confirm(client, "ar", token, setup["id"]).status_code == 200
    payment = one(app, Payment)

    stored = wait_for(
        app, "customer.subscription.created", "invoice.payment_succeeded", "payment_intent.succeeded"
    )
    wait_for_quiet(app)
    stored = events(app)
    assert all(e.processed_at and not e.last_error for e in stored), [(e.type, e.last_error) for e in stored]
    assert all(e.payload["api_version"] == "2017-08-15" for e in stored)
    rows = count_rows(app)
    assert (rows["supporter"], rows["membership"], rows["payment"]) == (1, 1, 1)
    after = one(app, Payment)
    assert (after.id, after.stripe_invoice_id, after.receipt_number) == (
        payment.id,
        payment.stripe_invoice_id,
        payment.receipt_number,
    )
    assert (after.status, after.amount) == (PaymentStatus.SUCCEEDED, 500)
    membership = one(app, Membership)
    assert membership.status == MembershipStatus.ACTIVE and membership.amount == 500
    subscription = stripe_client.v1.subscriptions.retrieve(membership.stripe_subscription_id)
    assert (
        membership.current_period_end
        and int(membership.current_period_end.timestamp()) == (subscription["current_period_end"])
    )


def test_a_one_time_gift_from_our_page_is_confirmed_not_doubled(app: Flask, stripe_js: StripeJs) -> None:
    client: FlaskClient = app.test_client()
    token, started = start(client, "en", frequency="once", amount="10")
    intent = stripe_js.confirm_card_payment(started["client_secret"], CARDS["visa"])
    assert confirm(client, "en", token, intent["id"]).status_code == 200
    wait_for(app, "payment_intent.succeeded")
    wait_for_quiet(app)
    assert all(not e.last_error for e in events(app))
    payment = one(app, Payment)
    assert (payment.stripe_payment_intent_id, payment.amount, payment.membership_id) == (
        intent["id"],
        1000,
        None,
    )
    assert count_rows(app)["payment"] == 1


def test_a_membership_made_at_stripe_by_staff_appears_then_ends(
    app: Flask, stripe_client: stripe.StripeClient
) -> None:
    customer = stripe_client.v1.customers.create(
        params={"email": "Staff.Made@Example.org", "name": "Hala", "preferred_locales": ["en"]}
    )
    method = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    stripe_client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": method.id}}
    )
    plan_id = "staff-plan-eur-2000-year"
    stripe_client.v1.plans.create(
        params={
            "id": plan_id,
            "amount": 2000,
            "currency": "eur",
            "interval": "year",
            "product": {"name": "Yearly support"},
        }
    )
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"plan": plan_id}]}
    )
    assert subscription["status"] == "active"
    wait_for(app, "customer.subscription.created", "invoice.payment_succeeded")
    wait_for_quiet(app)
    supporter = one(app, Supporter)
    assert (supporter.email, supporter.name, supporter.locale) == ("staff.made@example.org", "Hala", "en")
    membership = one(app, Membership)
    assert (membership.status, membership.amount, membership.currency, membership.interval) == (
        MembershipStatus.ACTIVE,
        2000,
        "eur",
        "year",
    )
    payment = one(app, Payment)
    assert (payment.membership_id, payment.amount, payment.status) == (
        membership.id,
        2000,
        PaymentStatus.SUCCEEDED,
    )
    assert payment.stripe_charge_id and payment.stripe_payment_intent_id

    stripe_client.v1.subscriptions.cancel(subscription.id)
    wait_for(app, "customer.subscription.deleted")
    assert one(app, Membership).status == MembershipStatus.CANCELED
    assert all(not e.last_error for e in events(app))
