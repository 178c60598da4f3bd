"""Signing in by an emailed link, and signing out."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app.account.messages import message
from app.account.views.access import SESSION_KEY, SETUP_KEY, end_session
from app.account.views.blueprint import bp
from app.extensions import db
from app.services.account import links
from app.services.errors import AccountError, InvalidChoice


@bp.get("/sign-in")
def sign_in() -> ResponseReturnValue:
    if links.signed_in_supporter(session.get(SESSION_KEY)) is not None:
        return redirect(url_for("account.home"))
    return render_template("account/sign_in.html", email=request.args.get("email", ""), errors={})


@bp.post("/sign-in")
def request_link() -> ResponseReturnValue:
    email = request.form.get("email", "").strip()
    try:
        asked = links.request_link(email, request.remote_addr, g.lang)
        db.session.commit()
    except InvalidChoice as exc:
        db.session.rollback()
        errors = {field: message(code) for field, code in exc.errors.items()}
        return render_template("account/sign_in.html", email=email, errors=errors), 400
    except AccountError as exc:
        db.session.commit()  # keep the attempt: it counts towards the limit
        return render_template("account/sign_in.html", email=email, errors={}, error=message(exc.code)), 429
    links.hand_over(asked)  # a worker looks the address up: the same answer, and time, for any
    return render_template("account/link_sent.html", email=email)


@bp.get("/sign-in/<token>")
def link(token: str) -> ResponseReturnValue:
    """Opening the link only shows a button: mail scanners that fetch links do not spend it."""
    try:
        found = links.find_link(token)
    except AccountError as exc:
        return render_template("account/sign_in.html", email="", errors={}, error=message(exc.code)), 410
    return render_template("account/link.html", token=token, email=found.supporter.email)


@bp.post("/sign-in/<token>")
def use_link(token: str) -> ResponseReturnValue:
    try:
        found = links.use_link(token)
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        return render_template("account/sign_in.html", email="", errors={}, error=message(exc.code)), 410
    session.pop(SETUP_KEY, None)
    session[SESSION_KEY] = links.session_data(found)
    return redirect(url_for("account.home", lang=g.lang))


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    links.sign_out(session.get(SESSION_KEY))
    db.session.commit()
    end_session()
    flash(_("You are signed out."), "info")
    return redirect(url_for("account.sign_in"))
