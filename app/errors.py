"""Error pages and JSON errors, in the reader's language, with nothing secret in them."""

from __future__ import annotations

from flask import Flask, Response, g, jsonify, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.messages import message_for

CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" or request.is_json


def json_error(
    code: str, status: int, message: str | None = None, **extra: str | None
) -> tuple[Response, int]:
    """The JSON answer to a request that failed: ``{"error": {"code": ..., "message": ...}}``.

    ``message`` is what ``code`` says to the reader (``message_for``'s words unless the
    blueprint has its own); ``extra`` adds keys, such as the support page's ``field``.
    """
    text = message_for(code) if message is None else message
    return jsonify(error={"code": code, "message": text, **extra}), status


def _page_language() -> None:
    """An address that matched no page (so no language was chosen from it): the language of
    its ``/<lang>/`` prefix, or under /staff the one the staff chose."""
    from app.i18n import LOCALES
    from app.staff.auth import LANG_KEY

    if "lang" in g:
        return
    prefix = request.path.split("/")[1]
    if prefix in LOCALES:
        g.lang = prefix
    elif prefix == "staff" and session.get(LANG_KEY) in LOCALES:
        g.lang = session[LANG_KEY]


def error_response(code: str, status: int) -> ResponseReturnValue:
    _page_language()
    message = message_for(code)
    if wants_json():
        return json_error(code, status, message)
    return render_template("errors/error.html", message=message, status=status), status


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        return error_response("csrf", 400)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        return error_response(CODES.get(status, "server_error" if status >= 500 else "bad_request"), status)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> ResponseReturnValue:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("server_error", 500)
