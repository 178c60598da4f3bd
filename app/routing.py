"""The URL converters our routes use, and what no request may carry.

``<int:...>`` in a route is a row id: Werkzeug's converter takes any number of
digits, and a number past the id column's range (PostgreSQL's ``integer``,
SQLite's 64 bits) made the database refuse the query, a 500.  Ours matches only
numbers an id can be, so anything larger is the 404 of a row that does not exist.

No text we keep or look up may hold a NUL character (PostgreSQL's text refuses
it, a 500): a request with one in its path, query or form is a 400, in the
page's language (``g.lang`` is chosen before ``before_request`` runs).

Nor a ``Host`` (or, behind the trusted proxy, ``X-Forwarded-Host``) that cannot
be a host name: Werkzeug could not even route it, and the error page's links
then failed too.  Such a request is routed as if to ``localhost`` (every link we
build is relative, so nothing of the host reaches a page) and answered 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter, Map

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOST = re.compile(rf"(?:(?:{_LABEL}\.)*{_LABEL}\.?|\[[0-9A-Fa-f:.]{{2,45}}\])(?::[0-9]{{1,5}})?")
BAD_HOST = "newsroom.bad_host"

#: The largest id: our id columns are ``integer`` (32 bits, signed) on PostgreSQL.
MAX_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _has_nul(pairs: Any) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in pairs)


def check_host(wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Inside ``ProxyFix`` (it has set the forwarded host): a host that is no name is marked."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if host is not None and (len(host) > 260 or not HOST.fullmatch(host)):
            environ = {**environ, "HTTP_HOST": "localhost", BAD_HOST: True}
        return wsgi_app(environ, start_response)

    return app


def refuse_nul() -> None:
    if request.environ.get(BAD_HOST):
        abort(400)
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
