"""Supporters: finding one, their page (every view audited), and the admin's refund and cancel."""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.services import audit, staff_actions, unit_of_work
from app.services.amounts import LATIN_DIGITS, exponent
from app.services.errors import DomainError
from app.services.staff import directory
from app.services.stripe_gateway import get_gateway
from app.staff import text
from app.staff.auth import ADMIN, FINANCE, allow, current_staff
from app.staff.blueprint import bp
from app.staff.formatting import money


@bp.get("/supporters")
@allow(FINANCE)
def supporters() -> Any:
    query = request.args.get("q", "").strip()[:200]
    found = directory.search_supporters(query) if query else []
    return render_template("staff/supporters.html", query=query, found=found)


@bp.get("/supporters/<int:supporter_id>")
@allow(FINANCE)
def supporter(supporter_id: int) -> Any:
    person = directory.supporter(supporter_id)
    if person is None:
        abort(404)
    user = current_staff()
    assert user is not None
    audit.record(user.actor, "supporter.view", supporter_id=person.id)
    unit_of_work.commit()
    history = directory.supporter_history(person)
    return render_template(
        "staff/supporter.html",
        person=person,
        memberships=history.memberships,
        payments=history.payments,
        emails=history.emails,
        events=history.events,
        refundable=staff_actions.refundable,
        request_key=secrets.token_urlsafe(12),
        can_act=user.may(ADMIN),
    )


def _minor_units(value: str, currency: str) -> int | None:
    cleaned = value.strip().translate(LATIN_DIGITS).replace("\u066b", ".").replace(",", ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value() or not amount.is_finite():
        return None
    return int(scaled)


def _act_error(exc: DomainError) -> None:
    unit_of_work.rollback()
    code = exc.code if exc.code in text.ERRORS else "stripe_error"
    flash(str(text.ERRORS[code]), "error")


@bp.post("/payments/<int:payment_id>/refund")
@allow(ADMIN)
def refund(payment_id: int) -> Any:
    payment = directory.payment(payment_id)
    if payment is None:
        abort(404)
    back = redirect(url_for("staff.supporter", supporter_id=payment.supporter_id))
    amount = _minor_units(request.form.get("amount", ""), payment.currency)
    user = current_staff()
    assert user is not None
    try:
        if amount is None:
            raise staff_actions.ActionRefused("refund_amount")
        staff_actions.refund(
            payment.id, amount, user, get_gateway(), request.form.get("key", "") or secrets.token_urlsafe(12)
        )
        unit_of_work.commit()
    except DomainError as exc:
        _act_error(exc)
        return back
    flash(_("Refunded %(amount)s.", amount=money(amount, payment.currency)), "info")
    return back


@bp.post("/memberships/<int:membership_id>/cancel")
@allow(ADMIN)
def cancel(membership_id: int) -> Any:
    membership = directory.membership(membership_id)
    if membership is None:
        abort(404)
    back = redirect(url_for("staff.supporter", supporter_id=membership.supporter_id))
    at_period_end = request.form.get("when") == "period_end"
    user = current_staff()
    assert user is not None
    try:
        staff_actions.cancel(
            membership.id,
            user,
            get_gateway(),
            request.form.get("key", "") or secrets.token_urlsafe(12),
            at_period_end=at_period_end,
            comment=request.form.get("comment", ""),
        )
        unit_of_work.commit()
    except DomainError as exc:
        _act_error(exc)
        return back
    flash(
        _("The membership will end at the end of the period paid for.")
        if at_period_end
        else _("The membership is cancelled."),
        "info",
    )
    return back
