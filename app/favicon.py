"""``/favicon.ico``: every browser asks for it on every page; a 404 there filled the logs.

A tiny SVG (browsers take one at that address by its type), cached for a day, with no link
in the pages: nothing is added to what a reader downloads unless the browser asks itself.
"""

from __future__ import annotations

from flask import Flask, Response

ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#0b5cad"/>'
    '<path d="M4 4h8v2H4zm0 3h8v2H4zm0 3h5v2H4z" fill="#fff"/></svg>'
)


def favicon() -> Response:
    response = Response(ICON, mimetype="image/svg+xml")
    response.cache_control.public = True
    response.cache_control.max_age = 86_400
    return response


def register_favicon(app: Flask) -> None:
    app.add_url_rule("/favicon.ico", "favicon", favicon, methods=["GET"])
