"""Flask's signed-cookie sessions, with the signing serializer built once per app and key.

Flask builds a new ``URLSafeTimedSerializer`` twice on every request (to open
the session and to save it), and building one serializes an empty dict to
learn whether it writes text.  On the support page, the page served most,
that was a tenth of the request (``bench/support_page.py``).  The cookie, its
signature and its keys (``SECRET_KEY``, then ``SECRET_KEY_FALLBACKS``) are
Flask's own; a changed key builds a new serializer.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CookieSessions(SecureCookieSessionInterface):
    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys: Any = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = app.extensions.get("session_serializer")
        if built is None or built[0] != keys:
            built = app.extensions["session_serializer"] = (keys, super().get_signing_serializer(app))
        serializer: URLSafeTimedSerializer | None = built[1]
        return serializer
