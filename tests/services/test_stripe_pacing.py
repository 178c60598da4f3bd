"""Pacing shared by every process of a deployment: one token bucket in Redis or in the database.

Each "process" here is a thread with its own gateway (or bucket) and its own
connection, as separate processes have.  The assertions read the bucket's own
accounting: every grant is stamped with the bucket's clock inside the atomic
step, so "no more than burst + rate x t calls in any t seconds" is checked
exactly, however slow the machine is (no timing races).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from app.models import StripePacing
from app.services import stripe_pacing
from app.services.stripe_gateway import StripeGateway
from app.services.stripe_pacing import DatabaseBucket, Pacer, ProcessBucket, RedisBucket

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
RATE, BURST = 40.0, 4.0


def assert_never_faster_than_the_bucket(grants: list[float], rate: float, burst: float) -> None:
    """No window [t_i, t_j] holds more than burst + rate x (t_j - t_i) grants (one of slack)."""
    grants = sorted(grants)
    for i, start in enumerate(grants):
        for j in range(i, len(grants)):
            assert j - i + 1 <= burst + rate * (grants[j] - start) + 1, (i, j, grants[j] - start)


class Recording:
    """A bucket that notes when (on the shared bucket's clock) it granted each token."""

    def __init__(self, bucket: stripe_pacing.Bucket, grants: list[float]) -> None:
        self.bucket, self.grants = bucket, grants

    def take(self) -> stripe_pacing.Take:
        take = self.bucket.take()
        if take.wait <= 0:
            self.grants.append(take.at)  # list.append is atomic across threads
        return take

    def hold(self, seconds: float) -> None:
        self.bucket.hold(seconds)


def run_processes(count: int, calls_each: int, call: Callable[[int], object]) -> None:
    """``count`` threads standing for processes, each making ``calls_each`` calls."""

    def process(index: int) -> None:
        for _ in range(calls_each):
            call(index)

    threads = [threading.Thread(target=process, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture()
def redis_key() -> Iterator[str]:
    key = f"stripe-pacing:test-{uuid.uuid4().hex}"
    yield key
    redis.Redis.from_url(REDIS_URL).delete(key)


class CountingStripe(BaseHTTPRequestHandler):
    """A customer for every GET; answers 429 to the first ``refusals`` requests."""

    seen: list[str] = []
    refusals = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with CountingStripe.lock:
            CountingStripe.seen.append(self.path)
            refuse = len(CountingStripe.seen) <= CountingStripe.refusals
        status, body = (
            (429, {"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many"}})
            if refuse
            else (200, {"id": "cus_paced", "object": "customer"})
        )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def stub_stripe() -> Iterator[str]:
    CountingStripe.seen, CountingStripe.refusals = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingStripe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def redis_gateway(api_base: str, key: str, grants: list[float] | None = None) -> StripeGateway:
    bucket = RedisBucket(REDIS_URL, key, RATE, BURST)  # its own connection, as a process has
    pacer = Pacer(bucket if grants is None else Recording(bucket, grants))
    return StripeGateway("sk_test_x", api_base=api_base, max_network_retries=0, pacer=pacer)


def test_two_gateways_sharing_a_redis_bucket_call_stripe_at_the_rate_of_one(
    app: Flask, stub_stripe: str, redis_key: str
) -> None:
    grants: list[float] = []
    gateways = [redis_gateway(stub_stripe, redis_key, grants) for _ in range(2)]

    def call(index: int) -> None:
        with app.app_context():
            gateways[index].retrieve_customer("cus_paced")

    run_processes(2, calls_each=20, call=call)
    assert len(CountingStripe.seen) == 40  # every call reached Stripe, each after one token
    state = RedisBucket(REDIS_URL, redis_key, RATE, BURST).state()
    assert state["taken"] == 40
    assert_never_faster_than_the_bucket(grants, RATE, BURST)
    # Alone, each gateway would have gone at RATE: together they took twice as long as one would.
    assert max(grants) - min(grants) >= (40 - BURST - 1) / RATE


def test_a_429_seen_by_one_gateway_holds_the_other(
    app: Flask, stub_stripe: str, redis_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_pacing, "RATE_LIMIT_BASE_DELAY", 0.6)
    CountingStripe.refusals = 1
    first, second = redis_gateway(stub_stripe, redis_key), redis_gateway(stub_stripe, redis_key)
    bucket = RedisBucket(REDIS_URL, redis_key, RATE, BURST)

    def first_call() -> None:
        with app.app_context():
            first.retrieve_customer("cus_paced")  # 429, held, then served

    thread = threading.Thread(target=first_call)
    thread.start()
    deadline = time.monotonic() + 10
    while not bucket.state().get("held_until") and time.monotonic() < deadline:
        time.sleep(0.005)  # waiting for a condition, not racing one
    held_until = bucket.state()["held_until"]
    assert held_until > 0

    # The other gateway's call: its token comes no sooner than the hold ends.
    granted = second.pacer.wait()
    assert granted is not None and granted >= held_until
    with app.app_context():
        second.retrieve_customer("cus_paced")
    thread.join()
    assert len(CountingStripe.seen) == 3


# -- in the database, where there is no Redis (SQLite here, PostgreSQL with TEST_DATABASE_URL) ------


@pytest.fixture()
def engines(app: Flask) -> Iterator[list[sa.Engine]]:
    """Two engines of their own, as two processes have (the app's session is not used)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    made = [sa.create_engine(url) for _ in range(2)]
    yield made
    with made[0].begin() as conn:
        conn.execute(sa.delete(StripePacing.__table__))
    for engine in made:
        engine.dispose()


def test_two_processes_sharing_a_database_bucket_call_at_the_rate_of_one(engines: list[sa.Engine]) -> None:
    key = stripe_pacing.bucket_key("sk_test_db")
    grants: list[float] = []
    pacers = [
        Pacer(Recording(DatabaseBucket(lambda e=engine: e, key, RATE, BURST), grants)) for engine in engines
    ]
    run_processes(2, calls_each=15, call=lambda index: pacers[index].wait())
    with engines[0].connect() as conn:
        taken = conn.scalar(sa.select(StripePacing.taken).where(StripePacing.bucket == key))
    assert taken == 30
    assert_never_faster_than_the_bucket(grants, RATE, BURST)
    assert max(grants) - min(grants) >= (30 - BURST - 1) / RATE


def test_a_hold_in_the_database_bucket_stops_the_other_process(engines: list[sa.Engine]) -> None:
    key = stripe_pacing.bucket_key("sk_test_held")
    one, other = (DatabaseBucket(lambda e=engine: e, key, RATE, BURST) for engine in engines)
    assert one.take().wait == 0
    one.hold(0.3)
    with engines[0].connect() as conn:
        held_until = conn.scalar(sa.select(StripePacing.held_until).where(StripePacing.bucket == key))
    assert held_until is not None
    granted = Pacer(other).wait()
    assert granted is not None and granted >= held_until


# -- choosing the bucket ---------------------------------------------------------------------------


def test_the_bucket_is_shared_where_the_deployment_can_share_it() -> None:
    sqlite = {"SQLALCHEMY_DATABASE_URI": "sqlite:///x.db", "CELERY_BROKER_URL": "sqla+sqlite:///b.db"}
    postgres = {**sqlite, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://db/x"}
    assert stripe_pacing.backend(sqlite) == "process"  # the demo: one process, SQLite
    assert stripe_pacing.backend(postgres) == "database"
    assert stripe_pacing.backend({**postgres, "CELERY_BROKER_URL": "redis://r:6379/0"}) == "redis"
    assert (
        stripe_pacing.redis_url({**postgres, "CELERY_BROKER_URL": "redis://r:6379/0"}) == "redis://r:6379/0"
    )
    assert stripe_pacing.backend({**postgres, "STRIPE_PACING": "process"}) == "process"
    with pytest.raises(ValueError):
        stripe_pacing.backend({"STRIPE_PACING": "memcached"})
    key = stripe_pacing.bucket_key("sk_live_secret123")
    assert "secret123" not in key and key == stripe_pacing.bucket_key("sk_live_secret123")
    assert key != stripe_pacing.bucket_key("sk_test_secret123")


def test_an_unreachable_redis_paces_in_the_process_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    pacer = stripe_pacing.pacer_from_config(
        {
            "STRIPE_MAX_REQUESTS_PER_SECOND": RATE,
            "STRIPE_PACING_URL": "redis://127.0.0.1:1/0",
            "STRIPE_SECRET_KEY": "k",
        }
    )
    with caplog.at_level(logging.WARNING, logger="app.services.stripe_pacing"):
        assert pacer.wait() is not None
    assert isinstance(pacer.fallback, ProcessBucket) and pacer.fallback.taken == 1
    assert "pacing in this process" in caplog.text and "redis://" not in caplog.text
