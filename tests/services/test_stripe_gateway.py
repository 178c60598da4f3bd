"""The gateway paces its calls and backs off when Stripe answers 429 (a real HTTP server)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask

from app.services import stripe_pacing
from app.services.errors import PaymentServiceUnavailable
from app.services.stripe_gateway import StripeGateway
from app.services.stripe_pacing import Pacer, ProcessBucket


class RateLimitedStripe(BaseHTTPRequestHandler):
    """Answers 429 to the first ``refusals`` requests, then a customer."""

    refusals = 2
    seen: list[float] = []

    def do_GET(self) -> None:
        RateLimitedStripe.seen.append(time.monotonic())
        if len(RateLimitedStripe.seen) <= RateLimitedStripe.refusals:
            status, body = (
                429,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "rate_limit",
                        "message": "Too many requests",
                    }
                },
            )
        else:
            status, body = 200, {"id": "cus_paced", "object": "customer", "email": "a@example.org"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def fake_stripe() -> Iterator[str]:
    RateLimitedStripe.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), RateLimitedStripe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_429_is_retried_with_growing_waits(
    app: Flask, fake_stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_pacing, "RATE_LIMIT_BASE_DELAY", 0.1)
    RateLimitedStripe.refusals = 2
    gateway = StripeGateway(
        "sk_test_x", api_base=fake_stripe, max_requests_per_second=0, max_network_retries=0
    )
    with app.app_context():
        customer = gateway.retrieve_customer("cus_paced")
    assert customer["id"] == "cus_paced"
    assert len(RateLimitedStripe.seen) == 3
    first_wait = RateLimitedStripe.seen[1] - RateLimitedStripe.seen[0]
    second_wait = RateLimitedStripe.seen[2] - RateLimitedStripe.seen[1]
    assert first_wait >= 0.05 and second_wait >= 0.1


def test_rate_limit_that_does_not_end_is_reported_as_unavailable(
    app: Flask, fake_stripe: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_pacing, "RATE_LIMIT_BASE_DELAY", 0.01)
    RateLimitedStripe.refusals = 100
    gateway = StripeGateway(
        "sk_test_x", api_base=fake_stripe, max_requests_per_second=0, max_network_retries=0
    )
    with app.app_context(), pytest.raises(PaymentServiceUnavailable):
        gateway.retrieve_customer("cus_paced")
    assert len(RateLimitedStripe.seen) == stripe_pacing.RATE_LIMIT_TRIES


def test_pacer_spaces_calls_across_threads() -> None:
    pacer = Pacer(ProcessBucket(20.0, burst=1))  # one call every 50 ms
    started: list[float] = []
    lock = threading.Lock()

    def call() -> None:
        pacer.wait()
        with lock:
            started.append(time.monotonic())

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    started.sort()
    assert started[-1] - started[0] >= 0.24  # 5 gaps of 50 ms
