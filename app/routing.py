"""The URL converters our routes use, and what no request may carry.

``<int:...>`` in a route is a row id: Werkzeug's converter takes any number of
digits, and a number past the id column's range (PostgreSQL's ``integer``,
SQLite's 64 bits) made the database refuse the query, a 500.  Ours matches only
numbers an id can be, so anything larger is the 404 of a row that does not exist.

No text we keep or look up may hold a NUL character (PostgreSQL's text refuses
it, a 500): a request with one in its path, query or form is a 400, in the
page's language (``g.lang`` is chosen before ``before_request`` runs).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter, Map

#: The largest id: our id columns are ``integer`` (32 bits, signed) on PostgreSQL.
MAX_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _has_nul(pairs: Any) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in pairs)


def refuse_nul() -> None:
    if request.url_rule is None:
        return  # no such page: its 404 follows
    view_args = [(k, v) for k, v in (request.view_args or {}).items() if isinstance(v, str)]
    if _has_nul(view_args) or _has_nul(request.args.items(multi=True)):
        abort(400)
    forms = ("application/x-www-form-urlencoded", "multipart/form-data")
    if request.mimetype in forms and _has_nul(request.form.items(multi=True)):
        abort(400)


def register(app: Flask) -> None:
    """Before any route is added: a route binds its converters when it is added."""
    app.url_map.converters["int"] = RowIdConverter
    app.before_request(refuse_nul)
