"""The deployment, scaled out on one machine: two web instances, two workers and two beats.

Each process is started by the command line of its systemd unit in
``deploy/systemd/`` (the paths made local): the prepare unit's ``flask db
upgrade`` twice at once (two machines deploying), two separate gunicorn instances with the project's
``gunicorn.conf.py``, two Celery workers and two beats, on a PostgreSQL and a
Redis of this test's own, localstripe and a real SMTP server.  A renewal-day
storm of signed events (``tests/fault/storm.py``), shuffled and with
duplicates, goes to both web instances in turn.  Then: every membership and
payment equals Stripe's, every email of the outbox reached the SMTP server
exactly once (a receipt for each paid invoice), one beat holds the lock while
the other waits, and one scrape of ``/metrics`` adds up the counters of every
process (``PROMETHEUS_MULTIPROC_DIR``).  Last, PostgreSQL stops: ``/healthz``
still answers 200, ``/readyz`` 503 with the reason, ``/metrics`` still serves.

Stripe's side of the storm (its customers and subscriptions, fetched when an
event cannot decide) is served by localstripe (``POST /_config/objects``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import EmailLog, EmailStatus
from tests.conftest import WEBHOOK_SECRET, make_app
from tests.fault import storm
from tests.fault.postgres import DisposablePostgres
from tests.fault.test_outages import RedisServer
from tests.harness import free_port, start_localstripe
from tests.mail import SmtpServer
from tests.ops.test_health import samples
from tests.test_deploy import exec_start

ROOT = Path(__file__).resolve().parents[2]
SUPPORTERS = 16
TOKEN = "topology-metrics-token-0123456789abcdef"


def local(command: list[str], **replace: str) -> list[str]:
    """A unit's command line with the release's paths made this checkout's, and options replaced."""
    venv_bin = str(Path(sys.executable).parent)
    out = [part.replace("/opt/newsroom-support/.venv/bin", venv_bin) for part in command]
    for option, value in replace.items():
        flag = "--" + option.replace("_", "-")
        out = [f"{flag}={value}" if part.startswith(flag + "=") else part for part in out]
        if flag in out:
            out[out.index(flag) + 1] = value
    return out


class Processes:
    """Started processes, each writing to a log file of its own (never a pipe that could fill)."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.started.append((name, proc))
        return proc

    def oneshot(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        """A oneshot unit's command: the caller waits for its end."""
        with (self.folder / f"{name}.log").open("wb") as log:
            return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for _, proc in self.started:
            proc.terminate()
        for _, proc in self.started:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def wait_until(
    check: Callable[[], bool],
    what: str,
    processes: Processes,
    timeout: float = 60.0,
    report: Callable[[], object] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        dead = [name for name, proc in processes.started if proc.poll() is not None]
        assert not dead, f"{dead} ended while waiting for {what}:\n" + "\n".join(
            processes.log(n)[-2000:] for n in dead
        )
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {report()}")


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=10
        ) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except OSError:
        return 0, ""


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[DisposablePostgres, RedisServer, str]]:
    postgres = DisposablePostgres().create()
    redis_server = RedisServer().start()
    localstripe, url = start_localstripe()
    yield postgres, redis_server, url
    localstripe.terminate()
    localstripe.wait(10)
    redis_server.kill()
    postgres.destroy()


def seed_stripe(url: str, stripe: storm.Stripe) -> None:
    objects = {
        "customers": list(stripe.gateway.customers.values()),
        "subscriptions": list(stripe.final.values()),
    }
    request = urllib.request.Request(
        f"{url}/_config/objects",
        data=json.dumps(objects).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["objects"] == 2 * SUPPORTERS


def test_two_web_instances_two_workers_and_two_beats_end_in_stripes_state(
    servers: tuple[DisposablePostgres, RedisServer, str], tmp_path: Path
) -> None:
    postgres, redis_server, localstripe_url = servers
    stripe = storm.history(SUPPORTERS, seed=19)
    seed_stripe(localstripe_url, stripe)
    smtp = SmtpServer().start()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": postgres.url,
        "CELERY_BROKER_URL": redis_server.url,
        "STRIPE_API_BASE": localstripe_url,
        "STRIPE_SECRET_KEY": "sk_test_suite",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_MAX_REQUESTS_PER_SECOND": "100",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "WEB_CONCURRENCY": "1",  # two cores: one gunicorn worker per instance
    }
    env.pop("TEST_DATABASE_URL", None)
    processes = Processes(tmp_path, env)
    try:
        # Two machines' prepare units at once: the advisory lock lets one migrate, the other waits
        # and finds nothing to do.  Nothing connects at startup, so everything starts meanwhile:
        # /readyz answers 200 only once the schema is at head.
        migrations = [processes.oneshot(f"migrate{n}", local(exec_start("prepare")[-1])) for n in range(2)]
        ports = [free_port(), free_port()]
        for n, port in enumerate(ports):
            processes.start(f"web{n}", local(exec_start("web")[0], bind=f"127.0.0.1:{port}"))
        for n in range(2):
            worker = local(exec_start("worker")[0], concurrency="1", hostname=f"worker{n}@%h")
            processes.start(f"worker{n}", worker)
            processes.start(f"beat{n}", local(exec_start("beat")[0], schedule=str(tmp_path / f"beat{n}")))
        for n, migrate in enumerate(migrations):
            assert migrate.wait(120) == 0, processes.log(f"migrate{n}")
        assert sorted("Running upgrade" in processes.log(f"migrate{n}") for n in range(2)) == [False, True]
        for port in ports:
            wait_until(
                lambda port=port: get(f"http://127.0.0.1:{port}/readyz")[0] == 200, "readyz", processes
            )

        bodies = storm.deliveries(stripe, duplicated=0.3, seed=23)
        urls = [f"http://127.0.0.1:{port}/webhooks/stripe" for port in ports]
        delivery = storm.deliver(urls, bodies, at_once=8)
        assert delivery.answers[200] == len(bodies)

        def scrape() -> dict[Any, float]:
            status, text = get(f"http://127.0.0.1:{ports[0]}/metrics", {"Authorization": f"Bearer {TOKEN}"})
            assert status == 200, text
            return samples(text)

        last: list[dict[Any, float]] = []

        def settled() -> bool:
            found = scrape()
            last[:] = [found]
            return (
                found[("support_webhook_events_unapplied", ())] == 0
                and found[("support_emails_pending", ())] == 0
                and found[("support_database_up", ())] == 1
            )

        wait_until(settled, "every event applied and every email sent", processes, report=lambda: last)
        app = make_app(postgres.url, localstripe_url)
        assert storm.differences(app, stripe) == []
        assert_each_email_went_out_once(app, smtp)
        assert_one_beat_holds_the_lock(processes)
        assert_metrics_add_up_every_process(scrape(), stripe, bodies, smtp)
        with app.app_context():
            db.engine.dispose()

        # PostgreSQL stops: each instance is still live, not ready, and still measured.
        postgres.stop()
        for port in ports:
            base = f"http://127.0.0.1:{port}"
            assert get(base + "/healthz") == (200, '{"status":"ok"}\n')
            status, text = get(base + "/readyz")
            assert (status, json.loads(text)["reasons"]) == (503, ["database: unreachable"])
            assert scrape()[("support_database_up", ())] == 0
    finally:
        processes.stop()
        smtp.stop()


def assert_each_email_went_out_once(app: Flask, smtp: SmtpServer) -> None:
    with app.app_context():
        rows = db.session.execute(sa.select(EmailLog.status, EmailLog.message_id)).all()
    assert rows and {status for status, _ in rows} == {EmailStatus.SENT}
    received = Counter(str(message["Message-ID"]).strip() for message in smtp.inbox.messages)
    assert received == Counter(message_id for _, message_id in rows)  # each once, none lost, none extra


def assert_one_beat_holds_the_lock(processes: Processes) -> None:
    def roles() -> list[str]:
        return sorted(
            "holds"
            if "holding the beat lock" in processes.log(n)
            else "waits"
            if "waiting for the beat" in processes.log(n)
            else "?"
            for n in ("beat0", "beat1")
        )

    wait_until(lambda: roles() == ["holds", "waits"], "one beat holding, one waiting", processes, timeout=20)


def assert_metrics_add_up_every_process(
    found: dict[Any, float], stripe: storm.Stripe, bodies: list[bytes], smtp: SmtpServer
) -> None:
    def total(name: str, **labels: str) -> float:
        return found.get((name, tuple(sorted(labels.items()))), 0.0)

    unique = len({e["id"] for e in stripe.events})
    # Both web instances' counts, in one scrape of one of them:
    assert total("support_webhook_events_received_total", result="stored") == unique
    assert total("support_webhook_events_received_total", result="duplicate") == len(bodies) - unique
    # ... and both workers':
    assert total("support_emails_total", result="sent") == len(smtp.inbox.messages)
    applied = sum(total("support_webhook_events_applied_total", outcome=o) for o in ("applied", "ignored"))
    assert applied == unique
