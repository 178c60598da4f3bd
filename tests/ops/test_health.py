"""``/healthz``, ``/readyz`` and ``/metrics`` as a load balancer and Prometheus see them, in and out of outages.

A database that does not answer is one at a port where nothing listens (as
after a crash: the connection is refused); ``tests/ops/test_topology.py`` sees
the same with a real server stopped.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from app import config as settings
from app.ops.health import migration_heads
from tests.harness import free_port
from tests.ops.conftest import MakeApp

TOKEN = "metrics-token-for-the-test-suite-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture()
def down_app(new_app: MakeApp) -> Flask:
    """An app whose database refuses connections (its password must never be shown)."""
    url = f"postgresql+psycopg://support:hunter2-secret@127.0.0.1:{free_port()}/support?connect_timeout=2"
    return new_app(url, METRICS_TOKEN=TOKEN)


def test_everything_answers_so_the_process_is_live_and_ready(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert (ready.status_code, ready.get_json()) == (200, {"status": "ok"})
    assert "Set-Cookie" not in ready.headers


def test_with_the_database_down_the_process_is_live_not_ready_and_still_measured(down_app: Flask) -> None:
    client = down_app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "unavailable", "reasons": ["database: unreachable"]}
    assert "hunter2" not in ready.get_data(as_text=True) and "127.0.0.1" not in ready.get_data(as_text=True)

    scraped = client.get("/metrics", headers=BEARER)
    assert scraped.status_code == 200 and scraped.content_type.startswith("text/plain")
    found = samples(scraped.get_data(as_text=True))
    assert found[("support_database_up", ())] == 0
    assert (
        found[
            (
                "support_http_requests_total",
                (("endpoint", "ops.readyz"), ("method", "GET"), ("status", "503")),
            )
        ]
        >= 1
    )


def test_a_schema_behind_the_migrations_is_not_ready(tmp_path: Path, new_app: MakeApp) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    client = new_app(f"sqlite:///{empty}").test_client()
    assert client.get("/readyz").get_json()["reasons"] == [
        "database: no migrations applied (run flask db upgrade)"
    ]

    with sqlite3.connect(empty) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('0001')")
    assert "0001" not in migration_heads(str(settings.ROOT / "migrations"))
    assert client.get("/readyz").get_json()["reasons"] == [
        "database: migrations not at head (run flask db upgrade)"
    ]


def test_a_broker_that_does_not_answer_is_not_ready(new_app: MakeApp) -> None:
    app = new_app(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    ready = app.test_client().get("/readyz")
    assert (ready.status_code, ready.get_json()["reasons"]) == (503, ["broker: unreachable"])


def test_metrics_are_off_without_a_token_or_a_network(app: Flask) -> None:
    assert app.test_client().get("/metrics").status_code == 404


def test_metrics_need_the_token(new_app: MakeApp) -> None:
    client = new_app(METRICS_TOKEN=TOKEN).test_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 403
    assert client.get("/metrics", headers=BEARER).status_code == 200


def test_metrics_by_network_trust_the_peer_not_a_forwarded_address(new_app: MakeApp) -> None:
    app = new_app(METRICS_ALLOW="10.0.0.0/8, 127.0.0.1/32", PROXY_COUNT=1)
    inside = app.test_client()
    inside.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert inside.get("/metrics").status_code == 200
    outside = app.test_client()
    outside.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert outside.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 403
