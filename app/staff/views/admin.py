"""For admins: the staff accounts (create, role, disable, unlock, reset two-factor) and the audit log."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.models import StaffRole
from app.services import unit_of_work
from app.services.staff import accounts, directory
from app.services.staff import sign_in as staff_sign_in
from app.staff import text
from app.staff.auth import ADMIN, allow, current_staff
from app.staff.blueprint import bp
from app.staff.views.sign_in import client_ip

AUDIT_PAGE = 100


@bp.get("/users")
@allow(ADMIN)
def users() -> Any:
    people = directory.staff_users()
    locked = {p.id: staff_sign_in.locked_until(p.email) for p in people}
    return render_template("staff/users.html", people=people, locked=locked, roles=list(StaffRole))


@bp.post("/users")
@allow(ADMIN)
def create_user() -> Any:
    user = current_staff()
    assert user is not None
    try:
        role = StaffRole(request.form.get("role", ""))
    except ValueError:
        abort(400)
    try:
        created = accounts.create_staff(
            request.form.get("email", ""),
            role,
            request.form.get("password", ""),
            request.form.get("name", ""),
            actor=user.actor,
        )
    except accounts.StaffAuthError as exc:
        unit_of_work.rollback()
        flash(str(text.ERRORS[exc.code]), "error")
        return redirect(url_for("staff.users"))
    unit_of_work.commit()
    flash(_("Account created for %(email)s.", email=created.email), "info")
    return redirect(url_for("staff.users"))


@bp.post("/users/<int:user_id>")
@allow(ADMIN)
def update_user(user_id: int) -> Any:
    me = current_staff()
    assert me is not None
    person = directory.staff_user(user_id)
    if person is None:
        abort(404)
    action = request.form.get("action")
    if person.id == me.id and action in ("role", "disable", "reset_two_factor"):
        flash(_("You cannot change your own role or access here; ask another admin."), "error")
        return redirect(url_for("staff.users"))
    if action == "role":
        try:
            accounts.set_role(person, StaffRole(request.form.get("role", "")), me.actor)
        except ValueError:
            abort(400)
    elif action == "disable":
        accounts.set_disabled(person, True, me.actor)
    elif action == "enable":
        accounts.set_disabled(person, False, me.actor)
    elif action == "reset_two_factor":
        accounts.reset_two_factor(person, me.actor)
    elif action == "unlock":
        staff_sign_in.unlock(person.email, me.actor, client_ip())
    else:
        abort(400)
    unit_of_work.commit()
    flash(_("Saved."), "info")
    return redirect(url_for("staff.users"))


@bp.get("/audit")
@allow(ADMIN)
def audit_log() -> Any:
    page = max(1, request.args.get("page", 1, type=int) or 1)
    found = directory.audit_page(page, AUDIT_PAGE)
    return render_template(
        "staff/audit.html", entries=found.entries, names=found.names, page=page, more=found.more
    )
