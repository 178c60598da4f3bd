"""Pooled PostgreSQL connections: one the server has closed is replaced before use, without a round trip.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` before each request's first
query: a round trip on every request, a tenth of the webhook endpoint's work
(``bench/webhooks.py``).  A connection the server closed (a restart, an
administrator, an idle timeout) has a readable socket: the server's last
message, or the end of the stream; an idle connection otherwise has nothing to
read (the service uses no ``LISTEN``).  Looking is a system call; the pool then
opens a new connection.

Looking can come too early: ``pg_terminate_backend`` (or a shutdown) only
signals the backend, which closes the socket a moment later.  So the first
statement on a connection just taken from the pool is run once more on a new
connection if it fails as a disconnect: nothing has been sent on that
connection before it, so nothing is repeated.  A later statement's disconnect
is the caller's error, as always (SQLAlchemy then empties the pool).
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
        record.info[_UNUSED] = True

    @event.listens_for(engine, "do_execute")
    def _first_statement(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        return retry_first_statement(cursor, statement, parameters, context)


_UNUSED = "unused_since_checkout"


def retry_first_statement(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """Run the first statement since checkout; on a disconnect, reconnect and run it again, once.

    Returns ``False`` for any other statement: the dialect runs it as usual.
    """
    fairy = context.root_connection.connection
    record = fairy._connection_record
    if record is None or not record.info.pop(_UNUSED, False):
        return False
    dialect = context.dialect
    try:
        dialect.do_execute(cursor, statement, parameters, context)
        return True
    except dialect.loaded_dbapi.Error as exc:
        if not dialect.is_disconnect(exc, fairy.dbapi_connection, cursor):
            raise
        record.invalidate(exc)  # closes the dead one; the same record connects again
        fairy.dbapi_connection = record.get_connection()
    context.cursor = context.create_cursor()
    dialect.do_execute(context.cursor, statement, parameters, context)
    return True


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
