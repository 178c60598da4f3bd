"""Faults on the busiest day: a storm of events, and PostgreSQL going down in the middle of it.

Both run on a PostgreSQL server of this module's own (the outage stops it), so
they run the same in the SQLite and the PostgreSQL pass of the suite.  Small
here (a few hundred supporters); ``bench/fault_storm.py`` runs 1,000
supporters and 10,000 events.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask

from app.extensions import db
from app.services import webhook_queue
from tests.conftest import empty_tables, make_app
from tests.fault import storm
from tests.fault.postgres import DisposablePostgres

SUPPORTERS = 60


@pytest.fixture(scope="module")
def postgres() -> Iterator[DisposablePostgres]:
    with DisposablePostgres() as server:
        yield server


@pytest.fixture()
def app(postgres: DisposablePostgres, localstripe_url: str) -> Iterator[Flask]:
    app = make_app(postgres.url, localstripe_url)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    yield app
    empty_tables(app)
    with app.app_context():
        db.engine.dispose()


def test_a_storm_of_shuffled_and_duplicated_events_ends_in_stripes_state(app: Flask) -> None:
    stripe = storm.history(SUPPORTERS)
    app.extensions["stripe_gateway"] = stripe.gateway
    bodies = storm.deliveries(stripe, duplicated=0.3)
    assert len(bodies) >= 1.3 * SUPPORTERS * 6
    with storm.live_server(app) as url:
        delivery = storm.deliver(url, bodies, at_once=16)
    assert delivery.answers[200] == len(bodies)  # nothing failed, nothing had to be sent again
    assert storm.differences(app, stripe) == []


def test_postgresql_stopped_and_started_during_the_storm_loses_and_doubles_nothing(
    app: Flask, postgres: DisposablePostgres
) -> None:
    stripe = storm.history(SUPPORTERS, seed=3)
    app.extensions["stripe_gateway"] = stripe.gateway
    bodies = storm.deliveries(stripe, duplicated=0.3, seed=5)
    outage = threading.Event()
    down_at, up_at = len(bodies) // 4, len(bodies) // 2
    lock = threading.Lock()

    def during(index: int) -> None:
        with lock:
            if index == down_at and not outage.is_set():
                postgres.stop()
                outage.set()
            elif index == up_at and outage.is_set():
                postgres.start()
                outage.clear()

    with storm.live_server(app) as url:
        delivery = storm.deliver(url, bodies, at_once=16, during=during)
    # While it was down the endpoint said so with a 5xx (Stripe keeps those to send again)...
    assert sum(n for status, n in delivery.answers.items() if status >= 500) > 0
    assert all(status == 200 or status >= 500 for status in delivery.answers)
    assert delivery.rounds >= 2
    # ...and stored events that could not be applied then are applied by the beat sweep.
    with app.app_context():
        webhook_queue.apply_pending(limit=len(bodies))
        db.session.commit()
    assert storm.differences(app, stripe) == []
