"""One holder at a time for beat's lock (and the migrations'), let go when its holder ends.

On PostgreSQL an advisory lock on a connection; on SQLite a file lock.  Each
pass of the suite checks its own kind.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from app.ops import locks


def test_a_second_beat_cannot_take_the_lock_until_the_first_lets_go(
    database_url: str, tmp_path: Path
) -> None:
    first_engine, second_engine = sa.create_engine(database_url), sa.create_engine(database_url)
    first = locks.try_hold(first_engine, "test-beat", tmp_path)
    assert first is not None and first.still_held()
    assert locks.try_hold(second_engine, "test-beat", tmp_path) is None
    other_job = locks.try_hold(second_engine, "another-job", tmp_path)
    assert other_job is not None
    other_job.release()
    first.release()  # as when the first beat's process ends
    first.release()  # beat closes its scheduler more than once on the way out
    second = locks.try_hold(second_engine, "test-beat", tmp_path)
    assert second is not None
    second.release()
    first_engine.dispose()
    second_engine.dispose()


def test_a_waiting_holder_gets_the_lock_once_it_is_let_go(database_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(database_url)
    first = locks.try_hold(engine, "test-wait", tmp_path)
    assert first is not None
    got: list[locks.Held] = []
    waiter = threading.Thread(
        target=lambda: got.append(locks.hold(engine, "test-wait", tmp_path, every=0.02))
    )
    waiter.start()
    first.release()
    waiter.join(30)
    assert got and got[0].still_held()
    got[0].release()
    engine.dispose()


def test_a_lock_lost_with_its_connection_is_noticed(database_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(database_url)
    held = locks.try_hold(engine, "test-lost", tmp_path)
    assert held is not None
    if engine.dialect.name == "postgresql":
        assert held.connection is not None
        pid = held.connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        held.connection.commit()
        with engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert not held.still_held()
        again = locks.try_hold(engine, "test-lost", tmp_path)  # the server let it go with the connection
        assert again is not None
        again.release()
    else:
        assert held.still_held()  # a file lock lasts while its file is open
    held.release()
    engine.dispose()
