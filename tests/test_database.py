"""A pooled connection the PostgreSQL server has closed is replaced before a request uses it
(``app/database.py``), with no ``SELECT 1`` before every request."""

from __future__ import annotations

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
        admin.dispose()
        # No waiting for the backend to go: the check on checkout may still find the socket open
        # (the server only signalled it), and then the first statement's failure replaces it.
        with db.engine.connect() as conn:  # no error: the pool replaced it
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid
        assert app.test_client().get("/ar/support").status_code == 200


def test_a_connection_whose_end_the_check_missed_is_replaced_on_its_first_statement(
    app: Flask, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the checkout check loses: the server has not closed the socket yet when it looks."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only")
        with db.engine.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        admin = sa.create_engine(database_url)
        with admin.begin() as other:
            assert other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        with admin.connect() as other:  # gone for sure, yet the check below is made to miss it
            while other.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
            ).scalar():
                other.rollback()
        admin.dispose()
        monkeypatch.setattr("app.database.closed_by_server", lambda connection: False)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid
        with app.test_request_context():
            assert db.session.execute(sa.text("SELECT 1")).scalar() == 1  # the pool is sound afterwards
