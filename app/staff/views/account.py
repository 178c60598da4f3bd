"""One's own account: the password, and two-factor sign-in on, off, and new recovery codes."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from app.services import unit_of_work
from app.services.staff import accounts, two_factor
from app.services.staff import sign_in as staff_sign_in
from app.staff import auth, text
from app.staff.auth import FINANCE, allow, current_staff
from app.staff.blueprint import bp
from app.staff.views.sign_in import auth_error, client_ip, enrolment, show_recovery_codes

ENROL_KEY = "staff_enrol_secret"


@bp.get("/account")
@allow(FINANCE)
def account() -> Any:
    user = current_staff()
    assert user is not None
    shown = None
    if not user.has_two_factor:
        shown = enrolment(user.email, auth.enrolment_secret(ENROL_KEY))
    return render_template(
        "staff/account.html",
        enrolment=shown,
        recovery_left=two_factor.recovery_codes_left(user) if user.has_two_factor else None,
    )


@bp.post("/account/password")
@allow(FINANCE)
def change_password() -> Any:
    user = current_staff()
    assert user is not None
    form = request.form
    try:
        staff_sign_in.change_password(
            user,
            form.get("current_password", ""),
            form.get("new_password", ""),
            form.get("confirm_password", ""),
            client_ip(),
        )
    except accounts.StaffAuthError as exc:
        unit_of_work.commit()  # a wrong current password counts towards the lockout
        flash(auth_error(exc)[0], "error")
        return redirect(url_for("staff.account"))
    auth.start_session(user)  # this browser goes on in a new session; every other one ended
    unit_of_work.commit()
    flash(_("Your password is changed. Other sessions are signed out."), "info")
    return redirect(url_for("staff.account"))


@bp.post("/account/two-factor")
@allow(FINANCE)
def enable_two_factor() -> Any:
    user = current_staff()
    assert user is not None
    secret = auth.stored_enrolment_secret(ENROL_KEY)
    if user.has_two_factor or not secret:
        return redirect(url_for("staff.account"))
    try:
        codes = two_factor.enable_two_factor(user, secret, request.form.get("code", ""), client_ip())
    except accounts.StaffAuthError as exc:
        unit_of_work.commit()
        flash(auth_error(exc)[0], "error")
        return redirect(url_for("staff.account"))
    auth.start_session(user)
    unit_of_work.commit()
    session.pop(ENROL_KEY, None)
    flash(_("Two-factor sign-in is on. You will be asked for a code at every sign-in."), "info")
    return show_recovery_codes(codes, url_for("staff.account"))


@bp.post("/account/recovery-codes")
@allow(FINANCE)
def regenerate_recovery_codes() -> Any:
    """Ten new recovery codes for the old, with a current code from the app."""
    user = current_staff()
    assert user is not None
    try:
        codes = two_factor.regenerate_recovery_codes(user, request.form.get("code", ""), client_ip())
    except accounts.StaffAuthError as exc:
        unit_of_work.commit()
        flash(auth_error(exc)[0], "error")
        return redirect(url_for("staff.account"))
    unit_of_work.commit()
    flash(_("New recovery codes are made; the old ones no longer work."), "info")
    return show_recovery_codes(codes, url_for("staff.account"))


@bp.post("/account/two-factor/off")
@allow(FINANCE)
def disable_two_factor() -> Any:
    user = current_staff()
    assert user is not None
    try:
        two_factor.disable_two_factor(user, request.form.get("code", ""), client_ip())
    except accounts.StaffAuthError as exc:
        unit_of_work.commit()
        flash(
            auth_error(exc)[0] if exc.code != "two_factor_required" else str(text.ERRORS[exc.code]), "error"
        )
        return redirect(url_for("staff.account"))
    auth.start_session(user)
    unit_of_work.commit()
    flash(_("Two-factor sign-in is off."), "info")
    return redirect(url_for("staff.account"))
