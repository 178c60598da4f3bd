"""Locks that keep a job to one process at a time across machines: migrations, and beat.

On PostgreSQL a session-level advisory lock: held by one connection, let go
when that connection ends, however its process ends (a crash, a kill, a lost
machine), so no lock is ever left behind.  On SQLite (the demo, one machine) a
``flock`` on a file beside the database, which the kernel lets go likewise.
A process that waits tries again every second, so a stop signal still stops it.
"""

from __future__ import annotations

import fcntl
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

logger = logging.getLogger(__name__)


def key_of(name: str) -> int:
    """A stable 32-bit key for ``pg_try_advisory_lock`` (the same in every process and release)."""
    return zlib.crc32(f"newsroom-support:{name}".encode())


MIGRATIONS = "migrations"
BEAT = "beat"


def _try(connection: Connection, name: str) -> bool:
    got = bool(connection.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key_of(name)}).scalar())
    connection.commit()  # a session lock outlives the transaction; no transaction is left open
    return got


def _wait(try_once: Callable[[], bool], name: str, every: float) -> None:
    said = False
    while not try_once():
        if not said:
            logger.info("waiting for the %s lock (another process holds it)", name)
            said = True
        time.sleep(every)


@contextmanager
def migration_lock(connection: Connection, every: float = 1.0) -> Iterator[None]:
    """Run the migrations while holding the lock: a second ``flask db upgrade`` waits, then finds them done."""
    if connection.dialect.name != "postgresql":
        yield  # SQLite serialises writers itself
        return
    _wait(lambda: _try(connection, MIGRATIONS), MIGRATIONS, every)
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key_of(MIGRATIONS)})
        connection.commit()


@dataclass
class Held:
    """A lock this process holds until it ends; ``still_held`` notices a lost database connection."""

    name: str
    connection: Connection | None = None
    file: IO[Any] | None = None

    def still_held(self) -> bool:
        if self.connection is None:
            return True  # a flock cannot be lost while the file is open
        try:
            self.connection.execute(sa.text("SELECT 1"))
            self.connection.commit()
        except sa.exc.DBAPIError:
            return False  # the server went away, and the lock with it
        return True

    def release(self) -> None:
        if self.connection is not None:
            # Closed for real, not handed back to the pool still holding the lock.
            self.connection.invalidate()
            self.connection.close()
        if self.file is not None:
            self.file.close()
        self.connection = self.file = None  # released once, however often asked


def try_hold(engine: Engine, name: str, folder: Path) -> Held | None:
    """The lock ``name`` for as long as this process lives (or until ``release``), or None if taken."""
    if engine.dialect.name == "postgresql":
        connection = engine.connect()
        if _try(connection, name):
            return Held(name, connection=connection)
        connection.close()
        return None
    folder.mkdir(parents=True, exist_ok=True)
    file = (folder / f"{name}.lock").open("a")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        return None
    return Held(name, file=file)


def hold(engine: Engine, name: str, folder: Path, every: float = 1.0) -> Held:
    """Wait until this process holds the lock ``name``."""
    found: list[Held] = []

    def try_once() -> bool:
        held = try_hold(engine, name, folder)
        found.extend([held] if held else [])
        return held is not None

    _wait(try_once, name, every)
    logger.info("holding the %s lock", name)
    return found[0]
