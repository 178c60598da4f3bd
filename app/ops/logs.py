"""A request id on every log line, and log lines as JSON when ``LOG_FORMAT=json``.

The id is the proxy's ``X-Request-ID`` when it sends a sane one (nginx's
``$request_id``), else one made here; the answer carries it back.  Tasks
published while a request is handled carry it in their Celery headers, and the
worker's log lines of those tasks carry it too: a donation's page, its
confirmation and its receipt's mailing share one id.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask import Flask

#: What an id may look like (a proxy's or a client's): anything else is replaced.
SANE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
HEADER = "request_id"

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


class RequestIds:
    """WSGI middleware: choose the id, keep it for the logs, send it back; note when the request began."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], clock: Callable[[], float]) -> None:
        self.wsgi_app = wsgi_app
        self.clock = clock

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["support.started"] = self.clock()
        sent = environ.get("HTTP_X_REQUEST_ID", "")
        rid = sent if SANE_ID.fullmatch(sent) else new_id()
        environ["support.request_id"] = rid
        token = request_id.set(rid)

        def start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [*headers, ("X-Request-ID", rid)], *args)

        try:
            return self.wsgi_app(environ, start)
        finally:
            request_id.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id (and the error, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


_HANDLER_NAME = "support-json"


def configure(app: Flask) -> None:
    """``LOG_FORMAT=json``: the root logger writes JSON lines to stderr (once per process)."""
    if app.config.get("LOG_FORMAT") != "json":
        return
    root = logging.getLogger()
    if any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def connect_celery(app: Flask) -> None:
    """Tasks carry the id of the request that published them; the worker sets it while they run.

    A Celery worker sets up its own log handlers (after ``create_app``): with
    ``LOG_FORMAT=json`` they get the JSON lines and the request id too.
    """
    from celery import signals

    @signals.before_task_publish.connect(weak=False, dispatch_uid="support-request-id-carry")
    def _carry(headers: dict[str, Any] | None = None, **_: Any) -> None:
        rid = request_id.get()
        if rid and headers is not None:
            headers.setdefault(HEADER, rid)

    # Set before each task and left until the next (Celery logs a task's end after task_postrun).
    @signals.task_prerun.connect(weak=False, dispatch_uid="support-request-id-adopt")
    def _adopt(task: Any = None, **_: Any) -> None:
        rid = getattr(task.request, HEADER, None) if task is not None else None
        request_id.set(rid if isinstance(rid, str) and SANE_ID.fullmatch(rid) else None)

    if app.config.get("LOG_FORMAT") != "json":
        return

    @signals.after_setup_logger.connect(weak=False, dispatch_uid="support-json-worker-logs")
    @signals.after_setup_task_logger.connect(weak=False, dispatch_uid="support-json-task-logs")
    def _json(logger: logging.Logger | None = None, **_: Any) -> None:
        for handler in logger.handlers if logger is not None else ():
            handler.setFormatter(JsonFormatter())
            handler.addFilter(RequestIdFilter())
