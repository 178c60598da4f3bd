"""A pooled connection the PostgreSQL server has closed is replaced before a request uses it
(``app/database.py``), with no ``SELECT 1`` before every request."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from flask import Flask

from app.database import closed_by_server
from app.extensions import db


def test_an_idle_open_connection_is_kept(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only")
        with db.engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            assert not closed_by_server(conn.connection.dbapi_connection)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() == first  # the same one, reused


def test_a_connection_the_server_ended_is_replaced_before_use(app: Flask, database_url: str) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only")
        with db.engine.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        admin = sa.create_engine(database_url)
        with admin.begin() as other:  # as a restart or an administrator would
            assert other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        # pg_terminate_backend only signals: wait until the backend has gone (it has told the
        # client by then), as it has long before the next request after a restart.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with admin.connect() as other:
                gone = not other.execute(
                    sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                ).scalar()
            if gone:
                break
            time.sleep(0.01)
        admin.dispose()
        with db.engine.connect() as conn:  # no error: the pool saw it closed and opened another
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid
        assert app.test_client().get("/ar/support").status_code == 200
