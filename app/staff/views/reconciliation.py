"""Reconciliation: Stripe's payouts for a period, and one payout checked line by line."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template

from app.services import reconciliation
from app.staff.auth import FINANCE, allow
from app.staff.blueprint import bp
from app.staff.periods import chosen_period, preset_labels


@bp.get("/reconciliation")
@allow(FINANCE)
def reconciliation_list() -> Any:
    period = chosen_period(default="last_12_months")
    return render_template(
        "staff/reconciliation.html",
        period=period,
        presets=preset_labels(),
        checks=reconciliation.payouts_between(period.start, period.end),
    )


@bp.get("/reconciliation/<int:payout_id>")
@allow(FINANCE)
def payout(payout_id: int) -> Any:
    check = reconciliation.payout_check(payout_id)
    if check is None:
        abort(404)
    return render_template("staff/payout.html", check=check)
