"""Changing a membership: its amount or frequency (with a review step), cancel, resume."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from markupsafe import Markup

from app.account.messages import CHANGE_SUMMARIES, message
from app.account.views.access import current_supporter, signed_in
from app.account.views.blueprint import bp, missing_at_stripe, unavailable
from app.extensions import db
from app.i18n import bdi, format_day, format_money
from app.models import Membership
from app.services import amounts
from app.services.account import changes, records
from app.services.errors import AccountError, InvalidChoice, NotFound, PaymentServiceUnavailable
from app.services.stripe_gateway import get_gateway


def _membership(membership_id: int) -> Membership:
    try:
        return records.own_membership(current_supporter(), membership_id)
    except AccountError:
        abort(404)


def _fees() -> tuple[int, dict[str, int]]:
    config = current_app.config
    return config["FEE_PERCENT_BPS"], config["FEE_FIXED"]


def _change_values(membership: Membership) -> dict[str, str]:
    bps, fixed = _fees()
    gift = changes.gift_of(membership, bps, fixed)
    values = {"frequency": membership.interval.value, **records.amount_args(gift, membership.currency)}
    if membership.covers_fees:
        values["cover_fees"] = "1"
    return values


def _render_change(
    membership: Membership, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> ResponseReturnValue:
    rule = amounts.CURRENCIES[membership.currency]
    limits = {
        "minimum": format_money(rule.minimum, rule.code, short=True),
        "maximum": format_money(rule.maximum, rule.code, short=True),
    }
    return (
        render_template(
            "account/change.html",
            membership=membership,
            values=values,
            errors={field: message(code, **limits) for field, code in errors.items()},
            presets=[(records.amount_args(m, rule.code)["amount"], m) for m in rule.presets],
            limits=limits,
        ),
        status,
    )


def change_summary(change: changes.Change, currency: str) -> Markup:
    """The change in a sentence, its amounts each in its own ``<bdi>``."""
    date = format_day(change.effective) if change.effective else _("your next payment")
    template = CHANGE_SUMMARIES[(change.before_interval.value, change.after.interval.value)]
    return Markup.escape(template) % {
        "date": date,
        "after": bdi(format_money(change.after.total, currency)),
        "before": bdi(format_money(change.before_amount, currency)),
    }


def changed_notice(change: changes.Change, currency: str) -> Markup:
    return Markup("%s %s") % (_("Your membership is changed."), change_summary(change, currency))


def _posted_values() -> dict[str, str]:
    """The change form's fields as posted, to show them again."""
    return {
        k: v
        for k in ("frequency", "amount", "custom_amount", "cover_fees")
        if (v := request.form.get(k, "").strip())
    }


@bp.get("/membership/<int:membership_id>/change")
@signed_in
def change(membership_id: int) -> ResponseReturnValue:
    membership = _membership(membership_id)
    if not membership.is_member or membership.cancel_at_period_end:
        flash(message("membership_ending" if membership.is_member else "membership_ended"), "error")
        return redirect(url_for("account.home"))
    return _render_change(membership, _change_values(membership), {})


@bp.post("/membership/<int:membership_id>/change")
@signed_in
def change_post(membership_id: int) -> ResponseReturnValue:
    membership = _membership(membership_id)
    values = _posted_values()
    bps, fixed = _fees()
    try:
        terms = changes.terms_from_form(request.form, membership, bps, fixed)
        preview = changes.preview_change(membership, terms)
    except InvalidChoice as exc:
        return _render_change(membership, values, exc.errors, status=400)
    except AccountError as exc:
        flash(message(exc.code), "error")
        return redirect(url_for("account.home"))
    if request.form.get("confirm") != "1":
        return render_template(
            "account/review.html",
            membership=membership,
            values=values,
            summary=change_summary(preview, membership.currency),
            terms=terms,
        )
    try:
        done = changes.change_membership(current_supporter(), membership, terms, get_gateway())
        db.session.commit()
    except PaymentServiceUnavailable as exc:
        return unavailable(exc)
    except NotFound:
        return missing_at_stripe()
    flash(changed_notice(done, membership.currency), "success")
    return redirect(url_for("account.home"))


# -- cancel and resume -----------------------------------------------------------------------


@bp.get("/membership/<int:membership_id>/cancel")
@signed_in
def cancel(membership_id: int) -> ResponseReturnValue:
    membership = _membership(membership_id)
    if not membership.is_member or membership.cancel_at_period_end:
        return redirect(url_for("account.home"))
    return render_template("account/cancel.html", membership=membership)


@bp.post("/membership/<int:membership_id>/cancel")
@signed_in
def cancel_post(membership_id: int) -> ResponseReturnValue:
    membership = _membership(membership_id)
    try:
        changes.cancel_membership(current_supporter(), membership, request.form.get("reason"), get_gateway())
        db.session.commit()
    except PaymentServiceUnavailable as exc:
        return unavailable(exc)
    except NotFound:
        return missing_at_stripe()
    except AccountError as exc:
        flash(message(exc.code), "error")
        return redirect(url_for("account.home"))
    if membership.current_period_end:
        flash(
            _(
                "Your membership is cancelled. It stays active until %(date)s, and nothing more will be charged. You can resume it until then.",
                date=format_day(membership.current_period_end),
            ),
            "success",
        )
    else:
        flash(_("Your membership is cancelled. Nothing more will be charged."), "success")
    return redirect(url_for("account.home"))


@bp.post("/membership/<int:membership_id>/resume")
@signed_in
def resume(membership_id: int) -> ResponseReturnValue:
    membership = _membership(membership_id)
    try:
        changes.resume_membership(current_supporter(), membership, get_gateway())
        db.session.commit()
    except PaymentServiceUnavailable as exc:
        return unavailable(exc)
    except NotFound:
        return missing_at_stripe()
    except AccountError as exc:
        flash(message(exc.code), "error")
        return redirect(url_for("account.home"))
    flash(
        _(
            "Your membership continues. The next payment is on %(date)s.",
            date=format_day(membership.current_period_end),
        )
        if membership.current_period_end
        else _("Your membership continues."),
        "success",
    )
    return redirect(url_for("account.home"))
