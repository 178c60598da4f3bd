"""The supporter's data: download it all as JSON, or erase it."""

from __future__ import annotations

import json

from flask import render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from app.account.messages import message
from app.account.views.access import current_supporter, end_session, signed_in
from app.account.views.blueprint import bp, unavailable
from app.extensions import db
from app.services import supporters
from app.services.account import privacy
from app.services.errors import PaymentServiceUnavailable
from app.services.stripe_gateway import get_gateway


@bp.get("/data.json")
@signed_in
def data() -> Response:
    exported = privacy.export_data(current_supporter())
    db.session.commit()
    response = Response(json.dumps(exported, ensure_ascii=False, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/erase")
@signed_in
def erase() -> ResponseReturnValue:
    supporter = current_supporter()
    return render_template(
        "account/erase.html",
        supporter=supporter,
        memberships=supporters.running_memberships(supporter),
        error=None,
    )


@bp.post("/erase")
@signed_in
def erase_post() -> ResponseReturnValue:
    supporter = current_supporter()
    if request.form.get("confirm") != "1":
        return (
            render_template(
                "account/erase.html",
                supporter=supporter,
                memberships=supporters.running_memberships(supporter),
                error=message("confirm_erase"),
            ),
            400,
        )
    email = supporter.email
    try:
        privacy.erase(supporter, get_gateway())
        db.session.commit()
    except PaymentServiceUnavailable as exc:
        return unavailable(exc)
    end_session()
    return render_template("account/erased.html", email=email)
