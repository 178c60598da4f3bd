"""The baselines the benchmarks measure beside the service, served the same way (gunicorn).

- ``page_app()``: a bare Flask app that renders one Jinja template page, as long as
  the support page (``BARE_PAGE_BYTES``), with no session, CSRF, Babel or
  database.  The support page's ceiling on this machine.
- ``insert_app()``: a bare Flask app that stores each POSTed body in one row of
  ``DATABASE_URL`` and answers 200, nothing else (no signature, no parsing, no
  duplicate check): ``POST /insert-event`` into the service's own
  ``webhook_event`` table (its indexes included; a random event id, type
  ``bench.bare``, marked processed so that no worker picks it up), and
  ``POST /insert`` into ``bare_event``, a table with a key and a ``json``
  column only.  The webhook endpoint's ceilings.

    gunicorn -w 2 'bench.baselines:page_app()'
    DATABASE_URL=postgresql+psycopg://... gunicorn -w 5 'bench.baselines:insert_app()'
"""

from __future__ import annotations

import os
import uuid

import sqlalchemy as sa
from flask import Flask, Response, render_template, request
from jinja2 import DictLoader

PAGE = """<!doctype html>
<html lang="{{ lang }}" dir="rtl">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<main>
<h1>{{ title }}</h1>
{% for n in range(paragraphs) %}<p>Paragraph {{ n }} of a plain page, the same length as the support page.</p>
{% endfor %}
</main>
</body>
</html>
"""
#: The rendered length of one paragraph line above (with a two-digit number).
PARAGRAPH_BYTES = 76

METADATA = sa.MetaData()
TABLE = sa.Table(
    "bare_event",
    METADATA,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("payload", sa.JSON, nullable=False),
)
#: Written by ``bench.worker``'s ``insert_row`` task: the baseline of applying an event.
APPLY_TABLE = sa.Table(
    "bare_apply",
    METADATA,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("stripe_event_id", sa.String(255), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("clock_timestamp()")),
)


INSERT = sa.text("INSERT INTO bare_event (payload) VALUES (CAST(:payload AS json))")
#: The type of the rows ``/insert-event`` writes into ``webhook_event``.
BARE_TYPE = "bench.bare"
INSERT_EVENT = sa.text(
    "INSERT INTO webhook_event (stripe_event_id, type, livemode, created, payload, received_at,"
    " processed_at, attempts)"
    " VALUES (:id, 'bench.bare', false, now(), CAST(:payload AS json), now(), now(), 0)"
)


def page_app() -> Flask:
    app = Flask(__name__)
    app.jinja_loader = DictLoader({"page.html": PAGE})
    paragraphs = max(int(os.environ.get("BARE_PAGE_BYTES", "13000")) // PARAGRAPH_BYTES, 1)

    @app.get("/page")
    def page() -> str:
        return render_template("page.html", lang="ar", title="Bare page", paragraphs=paragraphs)

    return app


def create_tables(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    METADATA.create_all(engine)
    engine.dispose()


def insert_app() -> Flask:
    app = Flask(__name__)
    engine = sa.create_engine(os.environ["DATABASE_URL"], pool_pre_ping=False)

    @app.get("/")
    def ready() -> str:
        return "ready"

    @app.post("/insert")
    def insert() -> Response:
        body = request.get_data(cache=False)
        with engine.begin() as conn:
            conn.execute(INSERT, {"payload": body.decode()})
        return Response('{"received": true}', status=200, mimetype="application/json")

    @app.post("/insert-event")
    def insert_event() -> Response:
        body = request.get_data(cache=False)
        with engine.begin() as conn:
            conn.execute(INSERT_EVENT, {"id": f"evt_bare_{uuid.uuid4().hex}", "payload": body.decode()})
        return Response('{"received": true}', status=200, mimetype="application/json")

    return app
