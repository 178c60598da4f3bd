"""The worker's Celery app, made from ``create_app()`` so tasks run in its app context."""

from __future__ import annotations

import os

from celery.signals import worker_process_shutdown

from app import create_app
from workers.schedule import BEAT_SCHEDULE

flask_app = create_app()
celery = flask_app.extensions["celery"]
celery.conf.beat_schedule = BEAT_SCHEDULE
celery.conf.include = ["workers.tasks"]
celery.conf.beat_scheduler = "workers.beat:LockedScheduler"  # one beat at a time
celery.set_default()


@worker_process_shutdown.connect(weak=False)
def _forget_metrics_of_ended_process(pid: int | None = None, **_: object) -> None:
    """A pool process that ends: its files in PROMETHEUS_MULTIPROC_DIR stop counting as live."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
