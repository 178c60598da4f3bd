"""What the service counts, for Prometheus: ``GET /metrics``.

Counters live in each process (web and worker alike).  Under gunicorn, and
for Celery's pool processes, ``PROMETHEUS_MULTIPROC_DIR`` names a folder they
all write to (``prometheus_client``'s multiprocess mode; ``gunicorn.conf.py``
marks a dead gunicorn worker's files, the worker's signals a pool process's),
so that one scrape of any web process adds up every process of the machine
that shares the folder.  Without it (the demo, the tests) a process serves its
own.  The folder must be emptied before the processes start
(``deploy/newsroom-support-prepare.service`` does it).

What the database knows (events waiting and the age of the oldest, emails
waiting or failed) is read when scraped, by indexed queries only; a database
that does not answer gives ``support_database_up 0`` and the rest still.

Access: ``METRICS_TOKEN`` (sent as ``Authorization: Bearer ...``) or
``METRICS_ALLOW`` (networks, as CIDRs, checked against the peer that
connected, never a forwarded address); with neither set, 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.extensions import db
from app.models import EmailLog, EmailStatus, WebhookEvent
from app.models.types import utcnow

bp = Blueprint("metrics", __name__)

REQUESTS = Counter(
    "support_http_requests",
    "Requests answered, by endpoint, method and status",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "support_http_request_duration_seconds",
    "Time to answer a request, by endpoint (load-balancer checks left out)",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBHOOKS_RECEIVED = Counter(
    "support_webhook_events_received", "Stripe events delivered to us, by result", ["result"]
)
WEBHOOKS_APPLIED = Counter(
    "support_webhook_events_applied", "Tries to apply a stored Stripe event, by outcome", ["outcome"]
)
EMAILS = Counter("support_emails", "Emails from the outbox, by what became of a try", ["result"])
STRIPE_CALLS = Counter("support_stripe_calls", "Calls to the Stripe API (each try counted)")
STRIPE_RATE_LIMITED = Counter("support_stripe_rate_limited", "Calls Stripe answered 429 (too many requests)")
CARD_TESTERS = Counter(
    "support_card_testers_refused", "Payment attempts refused as card testing, by limit", ["limit"]
)

T = TypeVar("T")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def counts_outcome(counter: Counter) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Count each return value of the decorated function under ``outcome``."""

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> T:
            result = fn(*args, **kwargs)
            counter.labels(str(result)).inc()
            return result

        return counted

    return decorate


class DatabaseGauges(Collector):
    """Read at scrape time: what waits in the tables (each an indexed count)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("support_database_up", "1 if the database answered this scrape")
        try:
            gauges = self._read()
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from gauges

    def _read(self) -> list[GaugeMetricFamily]:
        unapplied = WebhookEvent.processed_at.is_(None)
        waiting, failing, oldest = db.session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(WebhookEvent.last_error.is_not(None)),
                sa.func.min(WebhookEvent.received_at),
            ).where(unapplied)
        ).one()
        by_status = dict(
            db.session.execute(
                sa.select(EmailLog.status, sa.func.count())
                .where(EmailLog.status.in_([EmailStatus.PENDING, EmailStatus.FAILED]))
                .group_by(EmailLog.status)
            ).all()
        )
        db.session.rollback()
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        return [
            _gauge("support_webhook_events_unapplied", "Stored Stripe events not applied yet", waiting),
            _gauge("support_webhook_events_failing", "Unapplied events whose last try failed", failing),
            _gauge(
                "support_webhook_oldest_unapplied_age_seconds",
                "Age of the oldest stored event not applied yet (0 when none)",
                max(age, 0.0),
            ),
            _gauge(
                "support_emails_pending",
                "Emails in the outbox not sent yet",
                by_status.get(EmailStatus.PENDING, 0),
            ),
            _gauge(
                "support_emails_failed",
                "Emails given up on after every try",
                by_status.get(EmailStatus.FAILED, 0),
            ),
        ]


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text)
    family.add_metric([], float(value))
    return family


def exposition(app: Flask) -> bytes:
    """Every process's counters (or this one's) and the database's gauges, in Prometheus' text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    tables = CollectorRegistry(auto_describe=False)
    tables.register(DatabaseGauges(app))
    return generate_latest(processes) + generate_latest(tables)


def _networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


def allowed(app: Flask) -> bool:
    """The bearer token matches, or the connecting peer is in one of the allowed networks."""
    token = app.config.get("METRICS_TOKEN") or ""
    networks = _networks(app.config.get("METRICS_ALLOW") or "")
    if not token and not networks:
        abort(404)  # metrics are off
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    # The peer itself, never an X-Forwarded-For (ProxyFix keeps the original address).
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR") or request.remote_addr
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return False
    return any(address in network for network in networks)


@bp.get("/metrics")
def metrics() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not allowed(app):
        abort(403)
    return Response(exposition(app), content_type=CONTENT_TYPE_LATEST)


def observe(app: Flask, quiet_paths: frozenset[str]) -> None:
    """Count every answer and time it (the checks of ``quiet_paths`` are counted, not timed)."""

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"  # a label per odd method would grow
        REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        started = request.environ.get("support.started")
        if started is not None and request.path not in quiet_paths:
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response
