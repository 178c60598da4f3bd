"""Beat, safe to start twice: the scheduler holds a lock (``app/ops/locks.py``) before it schedules.

A second beat (a second machine, a restart that overlapped) waits for the
lock and takes over when the first ends.  If the database connection that
holds the lock is lost, the lock is gone too: this beat then stops, and
systemd starts it again to wait its turn.  Between the loss and the next tick
two beats may both send a sweep; every periodic task is idempotent.
"""

from __future__ import annotations

from typing import Any

from celery.beat import PersistentScheduler

from app.config import VAR
from app.extensions import db
from app.ops import locks


class LockedScheduler(PersistentScheduler):
    held: locks.Held | None = None

    def setup_schedule(self) -> None:
        from workers.celery_app import flask_app

        with flask_app.app_context():
            self.held = locks.hold(db.engine, locks.BEAT, VAR)
        super().setup_schedule()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.held is not None and not self.held.still_held():
            raise SystemExit("beat lost its lock (the database connection ended); restart to wait for it")
        return float(super().tick(*args, **kwargs))

    def close(self) -> None:
        super().close()
        if self.held is not None:
            self.held.release()
