"""The support page's forms: refused when sent from another site, with no token in the page.

The support page is the same for every reader, so that a reverse proxy or a CDN
may keep one copy for all (``views.support``): it carries no CSRF token and sets
no cookie.  A POST from it is judged by what the browser says of where it came
from, as Go's ``net/http.CrossOriginProtection`` does (and Rails' and Django's
Origin checks beside their tokens):

- ``Sec-Fetch-Site`` (Fetch Metadata, sent by every current browser): only
  ``same-origin`` (our page) or ``none`` (typed, a bookmark) pass;
  ``same-site`` and ``cross-site`` are refused;
- without it, ``Origin`` (sent with every POST by current browsers): its host
  must be the request's (``Host``, or behind the trusted proxies
  ``X-Forwarded-Host``, see ``PROXY_COUNT``); ``null`` or another host is refused;
- with neither (an old browser, or a program), the Flask-WTF token is required,
  as on every other form: support.js asks ``GET /<lang>/support/token`` for one
  when the reader starts paying and sends it as ``X-CSRFToken``.

A refusal says so in the reader's language (``cross_site``, 403); nothing was
recorded or charged.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from functools import wraps
from typing import TypeVar
from urllib.parse import urlsplit

from flask import request
from flask.typing import ResponseReturnValue

from app.errors import error_response
from app.extensions import csrf

SAME_ORIGIN_SITES = frozenset({"same-origin", "none"})
View = TypeVar("View", bound=Callable[..., ResponseReturnValue])


class Sender(enum.Enum):
    OURS = "ours"
    FOREIGN = "foreign"
    UNKNOWN = "unknown"


def sender() -> Sender:
    """Where the browser says this request comes from."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return Sender.OURS if site.strip().lower() in SAME_ORIGIN_SITES else Sender.FOREIGN
    origin = request.headers.get("Origin")
    if origin is None:
        return Sender.UNKNOWN
    try:
        host = urlsplit(origin.strip()).netloc
    except ValueError:  # an unclosed "[" in the host
        return Sender.FOREIGN
    # The host only, not the scheme: behind a proxy ending TLS the request itself is http.
    return Sender.OURS if host and host.lower() == request.host.lower() else Sender.FOREIGN


def same_origin_or_token(view: View) -> View:
    """The view runs for a POST from our own page, or, when the browser does not say, with a token."""

    @wraps(view)
    def checked(*args: object, **kwargs: object) -> ResponseReturnValue:
        seen = sender()
        if seen is Sender.FOREIGN:
            return error_response("cross_site", 403)
        if seen is Sender.UNKNOWN:
            csrf.protect()  # raises CSRFError (the "form has expired" answer) without a good token
        return view(*args, **kwargs)

    return csrf.exempt(checked)
