"""Celery bound to the Flask app.  Creating it opens no connection.

The web app uses it only to publish tasks by name (``send_task``), so it
never imports the worker's modules; ``workers/`` defines the tasks.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.import_name, task_cls=FlaskTask)
    celery_app.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # A publish that cannot reach the broker gives up fast: the row stays
        # in the outbox and the beat sweep sends it when the broker is back.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        broker_connection_timeout=2,
        timezone="UTC",
    )
    app.extensions["celery"] = celery_app
    return celery_app
