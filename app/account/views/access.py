"""Who may see the account pages: the session in the signed cookie, and the ``signed_in`` guard."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import flash, g, redirect, session, url_for

from app.account.messages import message
from app.errors import json_error, wants_json
from app.models import Supporter
from app.services.account import links
from app.services.errors import AccountError

SESSION_KEY = "account"
SETUP_KEY = "account_card_setup"


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only with a live session; otherwise back to the sign-in form, saying why."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        data = session.get(SESSION_KEY)
        try:
            supporter = links.session_supporter(data)
        except AccountError as exc:
            end_session()
            if wants_json():
                return json_error(exc.code, 401, message(exc.code))
            if data is not None:
                flash(message(exc.code), "info")
            return redirect(url_for("account.sign_in"))
        session[SESSION_KEY] = links.touch(data or {})
        g.supporter = supporter
        return view(*args, **kwargs)

    return wrapper


def current_supporter() -> Supporter:
    """The supporter whose session let this request in (``signed_in``)."""
    supporter: Supporter = g.supporter
    return supporter


def end_session() -> None:
    """The cookie forgets the session and any card form it had started."""
    session.pop(SESSION_KEY, None)
    session.pop(SETUP_KEY, None)
