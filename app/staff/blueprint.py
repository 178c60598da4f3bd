"""The /staff blueprint: who may open each page, the language, the headers, the template helpers.

Its pages live in ``app/staff/views/``, one module per area; importing that
package attaches them here.  Who may open each view is declared with ``@allow``
and enforced in ``before_request`` (see ``app/staff/auth.py``).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from app.i18n import LOCALES, best_locale, page_in
from app.models import StaffRole
from app.staff import auth, formatting, text
from app.staff.auth import ADMIN, PENDING, PUBLIC, current_staff

bp = Blueprint("staff", __name__, url_prefix="/staff")
#: The query keys the staff pages read, the only ones the other-language link keeps.
QUERY_KEYS = ("q", "page", "preset", "from", "to", "next")


@bp.url_value_preprocessor
def choose_language(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Before any ``before_request`` (the app's too), so that every answer is in this language."""
    lang = request.args.get("lang")
    if lang in LOCALES:
        session[auth.LANG_KEY] = lang
    chosen = session.get(auth.LANG_KEY)
    g.lang = chosen if chosen in LOCALES else best_locale()


@bp.before_request
def check_access() -> Any:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return None  # no such page: 404 follows
    access = auth.access_of(view)
    if access is None:
        abort(403)  # a view that does not say who may open it is open to no one
    if access == PUBLIC:
        return None
    if access == PENDING:
        if auth.pending_user() is None:
            return redirect(url_for("staff.sign_in"))
        return None
    user = current_staff()
    if user is None:
        if g.get("staff_expired"):
            flash(str(text.ERRORS["session_expired"]), "error")
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("staff.sign_in", next=target))
    if not user.may(StaffRole(access)):
        abort(403)
    return None


@bp.after_request
def no_caching(response: Response) -> Response:
    # Supporters' data: never kept by a browser or proxy, never framed.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.errorhandler(403)
def forbidden(exc: Exception) -> tuple[str, int]:
    return render_template("staff/forbidden.html"), 403


def _other_language_url() -> str:
    other = "en" if best_locale() == "ar" else "ar"
    return page_in(other, QUERY_KEYS, "staff.dashboard")


@bp.context_processor
def staff_helpers() -> dict[str, Any]:
    return {
        "staff": g.get("staff_user"),
        "money": formatting.money,
        "number": formatting.number,
        "percent": formatting.percent,
        "when": formatting.when,
        "day": formatting.day,
        "month_name": formatting.month_name,
        "label": text.label,
        "text": text,
        "other_language_url": _other_language_url,
        "ROLE_ADMIN": ADMIN,
        "major": formatting.major,
    }
