"""The gateway's requests, checked against what Stripe's SDKs declare (issue 13).

Every request of the whole suite is checked at the end of the session against
the pinned version (``tests/conftest.py``); here the checker itself is tried,
and every gateway method is called once so that the difference to the
current release (what the newest API version would refuse) is on record.
Regenerate the declarations with ``python -m devtools.stripe_params``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import pytest
from flask import Flask

from app.services.errors import DomainError
from app.services.stripe_gateway import StripeGateway
from tests import stripe_requests
from tests.harness import CARDS, StripeJs
from tests.stripe_requests import Recorded, RecordingHTTPClient, declarations, problems

PINNED = declarations()["pinned"]
CURRENT = declarations()["current"]

#: What the current release (stripe 16.1.0, 2026-10-28.endive) refuses in the gateway's requests.
#: Moving ``STRIPE_API_VERSION`` forward means changing these requests first (issue 13, defect 5).
REFUSED_AT_CURRENT = [
    "GET /v1/subscriptions/{subscription_exposed_id}: expand latest_invoice.payment_intent:"
    " Invoice has no expandable 'payment_intent'",
    "POST /v1/invoices/{invoice}/pay: expand payment_intent: Invoice has no expandable 'payment_intent'",
    # stripe 16 declares ``allowed_payment_method_types`` instead (and Stripe refuses the old name).
    "POST /v1/setup_intents: payment_method_types[0]: 'payment_method_types' is not a declared parameter",
    "POST /v1/subscriptions: expand latest_invoice.payment_intent:"
    " Invoice has no expandable 'payment_intent'",
]


def _recorded(method: str, path: str, *params: tuple[str, str]) -> Recorded:
    return Recorded(method, path, params, PINNED)


def test_the_declarations_are_for_the_pinned_and_the_current_release(app: Flask) -> None:
    assert PINNED == app.config["STRIPE_API_VERSION"] == "2024-06-20"
    assert declarations()["versions"][PINNED]["sdk"] == "10.12.0"
    assert CURRENT == "2026-10-28.endive"


def test_an_undeclared_parameter_a_nested_key_and_an_expand_path_are_each_found() -> None:
    good = _recorded(
        "POST",
        "/v1/subscriptions",
        ("customer", "cus_1"),
        ("items[0][plan]", "plan_1"),
        ("metadata[campaign]", "gaza"),
        ("expand[0]", "latest_invoice.payment_intent"),
    )
    assert problems([good], PINNED) == []
    bad = _recorded(
        "POST",
        "/v1/subscriptions",
        ("pay_immediately", "true"),
        ("items[0][plann]", "plan_1"),
        ("customer[id]", "cus_1"),
        ("expand[0]", "latest_invoice.charge.nothing"),
    )
    assert problems([bad], PINNED) == [
        "POST /v1/subscriptions: customer[id]: 'id' is not a declared key",
        "POST /v1/subscriptions: expand latest_invoice.charge.nothing: Charge has no expandable 'nothing'",
        "POST /v1/subscriptions: items[0][plann]: 'plann' is not a declared parameter",
        "POST /v1/subscriptions: pay_immediately: 'pay_immediately' is not a declared parameter",
    ]
    lists = _recorded("GET", "/v1/charges", ("expand[0]", "data.refunds"), ("expand[1]", "refunds"))
    assert problems([lists], PINNED) == [
        "GET /v1/charges: expand refunds: a list's expand paths start with data."
    ]
    assert problems([_recorded("POST", "/v1/checkout/sessions")], PINNED) == [
        "POST /v1/checkout/sessions: no such request"
    ]


def _call_every_gateway_method(gateway: StripeGateway, stripe_js: StripeJs) -> None:
    """One of each request the gateway can make, with the parameters it sends in production."""
    customer = gateway.create_customer(
        "reader@example.org", "Laila", "ar", {"source": "t"}, idempotency_key="c1"
    )
    gateway.retrieve_customer(customer.id)
    gateway.update_customer(customer.id, name="", email="")
    setup = gateway.create_setup_intent(customer.id, {"frequency": "month"}, idempotency_key="s1")
    gateway.retrieve_setup_intent(setup.id)
    method = stripe_js.confirm_card_setup(setup.client_secret, CARDS["visa"])["payment_method"]
    gateway.make_default_payment_method(customer.id, method)
    gateway.list_cards(customer.id)
    plan = gateway.ensure_plan(500, "usd", "month")
    subscription = gateway.create_subscription(customer.id, plan, {"gift": "500"}, idempotency_key="sub1")
    # Created incomplete: its first payment is the browser's to confirm (the Payment Element).
    stripe_js.confirm_card_payment(
        subscription["latest_invoice"]["payment_intent"]["client_secret"], CARDS["visa"]
    )
    subscription = gateway.retrieve_subscription(subscription.id)
    item = subscription["items"]["data"][0]["id"]
    yearly = gateway.ensure_plan(5000, "usd", "year")
    gateway.change_subscription_plan(
        subscription.id, item, yearly, {"gift": "5000"}, trial_end=int(time.time()) + 86400
    )
    gateway.set_cancel_at_period_end(subscription.id, True, "too much", idempotency_key="cancel1")
    gateway.set_cancel_at_period_end(subscription.id, False)
    gateway.set_subscription_payment_method(subscription.id, method)
    gateway.list_open_invoices(customer.id)
    intent = gateway.create_payment_intent(
        customer.id, 300, "usd", {"frequency": "once"}, idempotency_key="p1"
    )
    gateway.retrieve_payment_intent(intent.id)
    charge = subscription["latest_invoice"]["payment_intent"]["latest_charge"]
    gateway.refund(100, "refund1", charge_id=charge if isinstance(charge, str) else charge["id"])
    for page in (
        gateway.list_customers,
        gateway.list_subscriptions,
        gateway.list_invoices,
        gateway.list_charges,
    ):
        next(StripeGateway.pages(page))
    # localstripe has no payouts, events list or open invoice here: the request is what is checked.
    attempts: list[Callable[[], Any]] = [
        lambda: gateway.payout_balance_transactions("po_none"),
        lambda: gateway.list_events(created_gte=0),
        lambda: gateway.pay_invoice("in_none"),
    ]
    for attempt in attempts:
        with suppress(DomainError):
            attempt()
    gateway.cancel_subscription(subscription.id, idempotency_key="end1")
    gateway.detach_payment_method(method)


@pytest.fixture()
def every_request(app: Flask, localstripe_url: str, stripe_js: StripeJs) -> list[Recorded]:
    notebook: list[Recorded] = []
    gateway = StripeGateway.from_config(app.config, http_client=RecordingHTTPClient(notebook))
    with app.app_context():
        _call_every_gateway_method(gateway, stripe_js)
    return notebook


def test_every_gateway_request_is_declared_at_the_pinned_version(every_request: list[Recorded]) -> None:
    assert stripe_requests.api_versions(every_request) == {PINNED}
    assert problems(every_request, PINNED) == []


def test_what_the_current_api_version_would_refuse_in_the_gateways_requests(
    every_request: list[Recorded],
) -> None:
    assert problems(every_request, CURRENT) == REFUSED_AT_CURRENT
