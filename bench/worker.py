"""The Celery worker the benchmarks run: the service's own (``workers/``), plus two knobs.

- ``BENCH_MAIL_QUEUE``: send the email tasks to this queue instead of the default
  one, so that a worker applying Stripe events (``-Q celery``) measures applying
  them, with their outbox rows written and their email tasks published, and
  ``bench/receipts.py`` measures sending apart.
- ``bench.insert_rows``: a task that only inserts one row per event
  (``bare_apply``), committing each, as a worker's run applying stored events
  commits each: the baseline of applying.

    celery -A bench.worker worker -Q celery --concurrency 2
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from app.extensions import db
from workers.celery_app import celery

__all__ = ["celery"]

if os.environ.get("BENCH_MAIL_QUEUE"):
    celery.conf.task_routes = {"workers.tasks.send_email": {"queue": os.environ["BENCH_MAIL_QUEUE"]}}

INSERT = sa.text("INSERT INTO bare_apply (stripe_event_id) VALUES (:stripe_event_id)")


@celery.task(name="bench.insert_rows", acks_late=True)
def insert_rows(stripe_event_ids: list[str]) -> None:
    for stripe_event_id in stripe_event_ids:
        db.session.execute(INSERT, {"stripe_event_id": stripe_event_id})
        db.session.commit()
