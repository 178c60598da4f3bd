"""Errors to Sentry when ``SENTRY_DSN`` is set (``pip install 'newsroom-support[sentry]'``).

Nothing personal is sent: no request bodies, cookies, headers' values or user
addresses (``send_default_pii=False``, ``max_request_body_size="never"``).
"""

from __future__ import annotations

from flask import Flask

from app.config import ConfigError

_started: list[str] = []  # the DSN this process reports to (Sentry's client is one per process)


def init_sentry(app: Flask) -> None:
    dsn = app.config.get("SENTRY_DSN") or ""
    if not dsn or dsn in _started:
        return
    try:
        import sentry_sdk
    except ImportError as exc:
        raise ConfigError(
            "SENTRY_DSN is set but sentry-sdk is not installed: pip install sentry-sdk"
        ) from exc
    sentry_sdk.init(
        dsn=dsn,
        environment=app.config["APP_ENV"],
        send_default_pii=False,
        max_request_body_size="never",
        traces_sample_rate=0.0,
    )
    _started.append(dsn)
