"""The web server's access log without the secrets some links carry in their path.

A sign-in link opens a supporter's account; an unsubscribe link and a
thank-you link are keys too.  Gunicorn logs each request's line, path,
referrer (the link's own page posts to itself) and any header or environ
value a format names: every one passes through ``redact``.  Gunicorn uses
this class by ``gunicorn.conf.py``.

The load balancer's checks and Prometheus' scrapes (``QUIET_PATHS``), a line
every second from every balancer, are left out: they would bury the readers'.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

#: Paths a load balancer or a monitor calls every few seconds (``app/ops``).
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

SECRET_PATHS = re.compile(r"(/account/sign-in/|/reminders/unsubscribe/|/support/thank-you/)[^/\s?#\"']+")


def redact(text: str) -> str:
    return SECRET_PATHS.sub(r"\1[redacted]", text)


class RedactingLogger(Logger):
    """Gunicorn's logger, with every value of an access-log line redacted."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if environ.get("PATH_INFO") in QUIET_PATHS:
            return
        super().access(resp, req, environ, request_time)

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
