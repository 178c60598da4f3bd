"""Error pages and JSON errors, in the reader's language, with nothing secret in them."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.messages import message_for

CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" or request.is_json


def error_response(code: str, status: int):  # type: ignore[no-untyped-def]
    message = message_for(code)
    if wants_json():
        return jsonify(error={"code": code, "message": message}), status
    return render_template("errors/error.html", message=message, status=status), status


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):  # type: ignore[no-untyped-def]
        return error_response("csrf", 400)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        status = exc.code or 500
        return error_response(CODES.get(status, "server_error" if status >= 500 else "bad_request"), status)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response("server_error", 500)
