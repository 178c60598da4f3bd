"""Running it: health and readiness checks, metrics, request ids and JSON logs, Sentry."""

from __future__ import annotations

import time

from flask import Flask


def register(app: Flask) -> None:
    from app.access_log import QUIET_PATHS
    from app.ops import errors, logs, metrics
    from app.ops.health import bp as health_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(metrics.bp)
    metrics.observe(app, QUIET_PATHS)
    logs.configure(app)
    logs.connect_celery(app)
    app.wsgi_app = logs.RequestIds(app.wsgi_app, time.perf_counter)  # type: ignore[method-assign]
    errors.init_sentry(app)
