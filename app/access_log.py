"""The web server's access log without the secrets some links carry in their path.

A sign-in link opens a supporter's account; an unsubscribe link and a
thank-you link are keys too.  Gunicorn logs each request's line, path,
referrer (the link's own page posts to itself) and any header or environ
value a format names: every one passes through ``redact``.  Gunicorn uses
this class by ``gunicorn.conf.py``.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

SECRET_PATHS = re.compile(r"(/account/sign-in/|/reminders/unsubscribe/|/support/thank-you/)[^/\s?#\"']+")


def redact(text: str) -> str:
    return SECRET_PATHS.sub(r"\1[redacted]", text)


class RedactingLogger(Logger):
    """Gunicorn's logger, with every value of an access-log line redacted."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
