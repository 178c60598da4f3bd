"""Two processes creating the same new plan at once both go on with it (issue 13, defect 2)."""

from __future__ import annotations

import threading
from typing import Any

import stripe
from flask import Flask

from app.services.stripe_gateway import StripeGateway

WAIT = 20  # seconds: only a safety net if the other side never comes


class PausingAfterLookup(stripe.RequestsClient):
    """Holds this process after Stripe said "no such plan", until the other process created it."""

    def __init__(self) -> None:
        super().__init__()
        self.looked = threading.Event()
        self.go_on = threading.Event()

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, *, _usage: list[str] | None = None
    ) -> Any:
        answer = super().request(method, url, headers, post_data)
        if method == "get" and "/v1/plans/" in url and not self.looked.is_set():
            self.looked.set()
            assert self.go_on.wait(WAIT)
        return answer


def test_two_gateways_creating_the_same_plan_at_once_both_get_it(
    app: Flask, stripe_client: stripe.StripeClient
) -> None:
    slow_client = PausingAfterLookup()
    slow = StripeGateway.from_config(app.config, http_client=slow_client)
    fast = StripeGateway.from_config(app.config)
    found: dict[str, Any] = {}

    def slow_process() -> None:
        with app.app_context():
            try:
                found["slow"] = slow.ensure_plan(1700, "eur", "year")
            except Exception as exc:  # reported below, in the test's own thread
                found["slow"] = exc

    thread = threading.Thread(target=slow_process)
    thread.start()
    assert slow_client.looked.wait(WAIT)  # the slow one saw no plan ...
    with app.app_context():
        found["fast"] = fast.ensure_plan(1700, "eur", "year")  # ... the fast one creates it
    slow_client.go_on.set()  # ... and the slow one's create finds it there
    thread.join(WAIT)

    assert found == {"fast": "support-eur-1700-year", "slow": "support-eur-1700-year"}
    plan = stripe_client.v1.plans.retrieve("support-eur-1700-year")
    assert (plan.amount, plan.currency, plan.interval) == (1700, "eur", "year")
