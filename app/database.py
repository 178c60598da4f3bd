"""Pooled PostgreSQL connections: one the server has closed is replaced before use, without a round trip.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` before each request's first
query: a round trip on every request, a tenth of the webhook endpoint's work
(``bench/webhooks.py``).  A connection the server closed (a restart, an
administrator, an idle timeout) has a readable socket: the server's last
message, or the end of the stream; an idle connection otherwise has nothing to
read (the service uses no ``LISTEN``).  Looking is a system call; the pool then
opens a new connection.  A connection cut without the server saying so (the
network) fails on its first query, and SQLAlchemy then empties the pool, as it
does for any disconnect.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError


def replace_closed_connections(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        return  # SQLite: a file, nothing to lose

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if closed_by_server(dbapi_connection):
            raise DisconnectionError("the server closed this connection")  # the pool opens another


def closed_by_server(connection: Any) -> bool:
    """Has the server closed this idle psycopg connection (something to read: a goodbye, or the end)?"""
    try:
        if connection.closed or connection.broken:
            return True
        readable, _, _ = select.select([connection.pgconn.socket], [], [], 0)
    except Exception:  # a connection we cannot even look at is not one to use
        return True
    return bool(readable)


def listen_once(target: Any, listeners: Iterable[tuple[str, Callable[..., Any]]]) -> None:
    """Attach each ``(event name, function)`` to ``target`` unless it is attached already.

    Listeners on a class (``Session``) hold for the whole process: a second
    app (tests build many) finds them attached and adds none.
    """
    for name, listener in listeners:
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)
