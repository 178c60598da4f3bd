"""Fixtures for the webhook tests: a reader at Stripe and a gateway that records its calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import stripe_events as se


@pytest.fixture()
def gateway(app: Flask) -> Iterator[se.FakeGateway]:
    fake = se.FakeGateway()
    app.extensions["stripe_gateway"] = fake
    yield fake


class World:
    """One reader at Stripe: a customer with a monthly subscription."""

    def __init__(
        self, client: FlaskClient, gateway: se.FakeGateway, locales: list[str] | None = None
    ) -> None:
        self.client = client
        self.gateway = gateway
        self.customer_id = se.new_id("cus")
        self.subscription_id = se.new_id("sub")
        gateway.customers[self.customer_id] = se.customer(
            self.customer_id, "Reader@Example.org", "Reader One", ["ar"] if locales is None else locales
        )

    def send(self, event_type: str, obj: dict[str, Any], created: int, **kw: Any) -> dict[str, Any]:
        response = se.post(self.client, se.event(event_type, obj, created=created, **kw))
        assert response.status_code == 200, response.get_data(as_text=True)
        body: dict[str, Any] = response.get_json()
        return body

    def subscription(self, **kw: Any) -> dict[str, Any]:
        return se.subscription(self.subscription_id, self.customer_id, **kw)

    def invoice(self, invoice_id: str, **kw: Any) -> dict[str, Any]:
        return se.invoice(invoice_id, self.customer_id, self.subscription_id, **kw)


@pytest.fixture()
def world(client: FlaskClient, gateway: se.FakeGateway) -> World:
    return World(client, gateway)
