"""The worker's Celery app, made from ``create_app()`` so tasks run in its app context."""

from __future__ import annotations

from app import create_app
from workers.schedule import BEAT_SCHEDULE

flask_app = create_app()
celery = flask_app.extensions["celery"]
celery.conf.beat_schedule = BEAT_SCHEDULE
celery.conf.include = ["workers.tasks"]
celery.set_default()
