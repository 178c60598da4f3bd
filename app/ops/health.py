"""``GET /healthz`` and ``GET /readyz``: what a load balancer asks every second.

``/healthz`` says the process answers: no database, no broker, nothing that a
dependency's outage could turn into a restart of every web process at once.
``/readyz`` says this process can serve: the database answers and its schema is
at the migrations' head (a process started before ``flask db upgrade`` ran, or a
database restored from an older dump, is not ready), and the broker accepts a
connection.  Each check answers within about two seconds (the broker's
``broker_connection_timeout``; the database's ``connect_timeout`` of the URL),
and the answer names what failed, never an address or a password.

Both are outside the language prefix, answer JSON, set no cookie, and are left
out of the access log (``app/access_log.py``) and of the request metrics'
latency (a load balancer's calls are not readers).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import redis
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, current_app, jsonify
from werkzeug.wrappers import Response

from app import config as settings
from app.extensions import db

bp = Blueprint("ops", __name__)


@cache
def migration_heads(directory: str) -> frozenset[str]:
    """The head revisions of the migrations shipped with this release (read once per process)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", directory)
    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


def database_problem(app: Flask) -> str | None:
    """None when the database answers and is at head; else what is wrong, in a few words."""
    try:
        with db.engine.connect() as conn:
            current = set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    except sa.exc.ProgrammingError:
        return "database: no migrations applied (run flask db upgrade)"
    except sa.exc.OperationalError as exc:
        if "alembic_version" in str(exc.orig):  # SQLite's "no such table"
            return "database: no migrations applied (run flask db upgrade)"
        return "database: unreachable"
    except sa.exc.SQLAlchemyError:
        return "database: unreachable"
    heads = migration_heads(str(settings.ROOT / "migrations"))
    if current != heads:
        return "database: migrations not at head (run flask db upgrade)"
    return None


def broker_problem(app: Flask) -> str | None:
    """None when the broker answers.  Redis: a ``PING`` on a pooled connection (a fraction of a
    millisecond); another broker: a new connection each time."""
    url = str(app.config["CELERY_BROKER_URL"])
    try:
        if url.startswith(("redis://", "rediss://")):
            client = app.extensions.get("readyz_redis")
            if client is None:
                client = app.extensions["readyz_redis"] = redis.Redis.from_url(
                    url, socket_timeout=2, socket_connect_timeout=2
                )
            client.ping()
            return None
        celery: Any = app.extensions["celery"]
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=2)
    except Exception:  # redis and kombu raise their transports' own errors
        return "broker: unreachable"
    return None


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify(status="ok"), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    problems = [p for p in (database_problem(app), broker_problem(app)) if p]
    if problems:
        return jsonify(status="unavailable", reasons=problems), 503
    return jsonify(status="ok"), 200
