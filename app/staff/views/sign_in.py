"""Signing in to /staff: the password, then the second factor (or enrolling one), and out.

The helpers that answer a refused try, show an enrolment and show recovery codes
are shared with the account page (``app/staff/views/account.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from app.models import StaffUser
from app.services import audit, unit_of_work
from app.services.staff import accounts, two_factor
from app.services.staff import sign_in as staff_sign_in
from app.staff import auth, text
from app.staff.auth import FINANCE, PENDING, PUBLIC, allow, current_staff
from app.staff.blueprint import bp

#: A sign-in with a recovery code that leaves this many or fewer says so as a warning.
RECOVERY_LOW = 3


def client_ip() -> str | None:
    return request.remote_addr


def _safe_next(target: str | None) -> str:
    """A page of /staff on this host, or the dashboard; never a line break (a header cannot carry one)."""
    if target and target.isprintable():
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/staff") and "\\" not in target:
            return target
    return url_for("staff.dashboard")


def auth_error(exc: accounts.StaffAuthError) -> tuple[str, int]:
    """The message and HTTP status for a refused password or code."""
    window = max(1, round(staff_sign_in.lock_window().total_seconds() / 60))
    if exc.code == "locked":
        until = datetime.fromisoformat(exc.detail) if exc.detail else None
        minutes = max(1, int(((until - datetime.now(UTC)).total_seconds() + 59) // 60)) if until else window
        return text.wait_message("locked", minutes), 429
    if exc.code == "rate_limited":
        return text.wait_message("rate_limited", window), 429
    return str(text.ERRORS.get(exc.code, text.ERRORS["bad_credentials"])), 401


def enrolment(email: str, secret: str) -> dict[str, str]:
    """What the enrolment form shows for ``secret``: itself in groups of four, its address, and
    that address as a QR code (SVG drawn on our server)."""
    issuer = str(current_app.config.get("NEWSROOM_NAME", "Newsroom"))
    uri = two_factor.provisioning_uri(email, secret, issuer)
    return {
        "secret": secret,
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": uri,
        "qr_svg": Markup(two_factor.qr_svg(uri)),  # noqa: S704 (our own SVG, from segno: no input markup)
    }


def show_recovery_codes(codes: list[str], continue_url: str) -> Any:
    """The only time the codes are seen: this response (never cached, see ``no_caching``)."""
    g.staff_user = current_staff()
    return render_template("staff/recovery_codes.html", codes=codes, continue_url=continue_url)


@bp.route("/sign-in", methods=["GET", "POST"])
@allow(PUBLIC)
def sign_in() -> Any:
    if request.method == "GET" and current_staff() is not None:
        return redirect(url_for("staff.dashboard"))
    next_url = request.values.get("next", "")
    if request.method == "GET":
        return render_template("staff/sign_in.html", next_url=next_url, email="")
    email = request.form.get("email", "")
    try:
        user = staff_sign_in.check_password(email, request.form.get("password", ""), client_ip())
    except accounts.StaffAuthError as exc:
        unit_of_work.commit()  # the refused try counts
        message, status = auth_error(exc)
        return render_template("staff/sign_in.html", error=message, next_url=next_url, email=email), status
    if user.has_two_factor:
        auth.start_pending(user, next_url=next_url)
        unit_of_work.commit()
        return redirect(url_for("staff.sign_in_code"))
    if user.needs_two_factor:  # an admin without a second factor enrols now
        auth.start_pending(user, enrol_secret=two_factor.new_secret(), next_url=next_url)
        unit_of_work.commit()
        return redirect(url_for("staff.sign_in_enrol"))
    staff_sign_in.signed_in(user, client_ip())
    auth.start_session(user)
    unit_of_work.commit()
    return redirect(_safe_next(next_url))


def _finish_sign_in(user: StaffUser, recovery_codes: list[str] | None = None) -> Any:
    next_url = _safe_next((session.get(auth.PENDING_KEY) or {}).get("next"))
    staff_sign_in.signed_in(user, client_ip())
    auth.start_session(user)
    unit_of_work.commit()
    if recovery_codes:
        return show_recovery_codes(recovery_codes, next_url)
    return redirect(next_url)


@bp.route("/sign-in/code", methods=["GET", "POST"])
@allow(PENDING)
def sign_in_code() -> Any:
    user = auth.pending_user()
    assert user is not None  # before_request checked
    if request.method == "GET":
        return render_template("staff/sign_in_code.html")
    try:
        left = two_factor.check_code(user, request.form.get("code", ""), client_ip(), recovery=True)
    except accounts.StaffAuthError as exc:
        unit_of_work.commit()
        message, status = auth_error(exc)
        return render_template("staff/sign_in_code.html", error=message), status
    if left is not None:
        flash(text.recovery_codes_left(left), "error" if left <= RECOVERY_LOW else "info")
    return _finish_sign_in(user)


@bp.route("/sign-in/enrol", methods=["GET", "POST"])
@allow(PENDING)
def sign_in_enrol() -> Any:
    user = auth.pending_user()
    secret = auth.pending_secret()
    if user is None or not secret:
        return redirect(url_for("staff.sign_in"))
    shown = enrolment(user.email, secret)
    if request.method == "GET":
        return render_template("staff/enrol.html", enrolment=shown, action=url_for("staff.sign_in_enrol"))
    try:
        codes = two_factor.enable_two_factor(user, secret, request.form.get("code", ""), client_ip())
    except accounts.StaffAuthError as exc:
        unit_of_work.commit()
        message, status = auth_error(exc)
        return render_template(
            "staff/enrol.html", enrolment=shown, action=url_for("staff.sign_in_enrol"), error=message
        ), status
    return _finish_sign_in(user, recovery_codes=codes)


@bp.post("/sign-out")
@allow(FINANCE)
def sign_out() -> Any:
    user = current_staff()
    if user is not None:
        audit.record(user.actor, "staff.sign_out")
    auth.end_session()  # on the server: a copy of the cookie is signed out too
    unit_of_work.commit()
    flash(_("You are signed out."), "info")
    return redirect(url_for("staff.sign_in"))
