"""The account page: running memberships, payments, statements, and a way to give again."""

from __future__ import annotations

from typing import Any

from flask import render_template, url_for
from flask.typing import ResponseReturnValue

from app.account.views.access import current_supporter, signed_in
from app.account.views.authentication import confirm_config
from app.account.views.blueprint import bp
from app.extensions import db
from app.services import supporters
from app.services.account import authentication, cards, records
from app.services.stripe_gateway import get_gateway


@bp.get("")
@signed_in
def home() -> ResponseReturnValue:
    supporter = current_supporter()
    cards.learn_card(supporter, get_gateway())  # a member who joined elsewhere: asked once
    db.session.commit()
    current = supporters.running_memberships(supporter)
    ended = sorted((m for m in supporter.memberships if not m.is_member), key=lambda m: m.id, reverse=True)
    give_again = records.give_again_args(supporter)
    return render_template(
        "account/home.html",
        supporter=supporter,
        memberships=current,
        ended=ended[:1] if not current else [],
        payments=records.payments_of(supporter),
        years=records.statement_years(supporter),
        give_again_url=url_for("donate.support", **again) if (again := _query(give_again)) else None,
        waiting=authentication.waiting_payments(supporter),
        confirm_config=confirm_config(),
    )


def _query(args: dict[str, str] | None) -> dict[str, Any]:
    return dict(args or {})
