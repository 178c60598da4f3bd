"""The supporter's account: /ar/account and /en/account.

Sign in by emailed link, then the membership (amount, frequency, card,
cancel, resume), payment history with PDF receipts, a yearly statement, and
the supporter's data (download, erase).  Views parse, call one service
function, commit, and render or redirect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from app.account.messages import CHANGE_SUMMARIES, message
from app.errors import wants_json
from app.extensions import db
from app.i18n import format_day, format_money, language_prefix
from app.models import Membership, Payment, PaymentStatus, Supporter
from app.services import account as service
from app.services import amounts, audit, receipts_pdf
from app.services.donations import InvalidChoice
from app.services.errors import DomainError, PaymentDeclined, PaymentServiceUnavailable
from app.services.stripe_gateway import get_gateway

bp = Blueprint("account", __name__, url_prefix="/<lang>/account")

SESSION_KEY = "account"
SETUP_KEY = "account_card_setup"

CARD_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}
PAYMENT_STATUS = {
    PaymentStatus.SUCCEEDED: _l("Paid"),
    PaymentStatus.FAILED: _l("Failed"),
    PaymentStatus.REFUNDED: _l("Refunded"),
    PaymentStatus.DISPUTED: _l("Disputed"),
}
JS_TEXTS = {
    "working": _l("Saving your card…"),
    "no_stripe": _l("The card form could not load. Please check your connection and reload the page."),
}


# -- language, session ----------------------------------------------------------------------


language_prefix(bp)


def _other_locale_url(other: str) -> str:
    """The same account page in the other language (a POST's answer goes to the account home)."""
    if request.method == "GET" and request.endpoint and request.endpoint.startswith("account."):
        args: dict[str, Any] = {**request.args.to_dict(), **(request.view_args or {}), "lang": other}
        return url_for(request.endpoint, **args)
    return url_for("account.home", lang=other)


@bp.context_processor
def account_context() -> dict[str, Any]:
    # Shadows the support page's helper of the same name in base.html's header.
    return {
        "other_locale_url": _other_locale_url,
        "card_brand": lambda brand: CARD_BRANDS.get((brand or "").lower(), (brand or "").title()),
        "payment_status": lambda payment: str(PAYMENT_STATUS[payment.status]),
    }


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only with a live session; otherwise back to the sign-in form, saying why."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        data = session.get(SESSION_KEY)
        try:
            supporter = service.session_supporter(data)
        except service.AccountError as exc:
            session.pop(SESSION_KEY, None)
            session.pop(SETUP_KEY, None)
            if wants_json():
                return jsonify(error={"code": exc.code, "message": message(exc.code)}), 401
            if data is not None:
                flash(message(exc.code), "info")
            return redirect(url_for("account.sign_in"))
        session[SESSION_KEY] = service.touch(data or {})
        g.supporter = supporter
        return view(*args, **kwargs)

    return wrapper


def _supporter() -> Supporter:
    supporter: Supporter = g.supporter
    return supporter


def _unavailable(exc: DomainError, template: str = "account/problem.html", **context: Any):  # type: ignore[no-untyped-def]
    db.session.rollback()
    return render_template(template, error=message(exc.code), **context), 503


# -- sign in ------------------------------------------------------------------------------------


@bp.get("/sign-in")
def sign_in():  # type: ignore[no-untyped-def]
    if service.signed_in_supporter(session.get(SESSION_KEY)) is not None:
        return redirect(url_for("account.home"))
    return render_template("account/sign_in.html", email=request.args.get("email", ""), errors={})


@bp.post("/sign-in")
def request_link():  # type: ignore[no-untyped-def]
    email = request.form.get("email", "").strip()
    try:
        service.request_link(email, request.remote_addr, g.lang)
        db.session.commit()
    except InvalidChoice as exc:
        db.session.rollback()
        errors = {field: message(code) for field, code in exc.errors.items()}
        return render_template("account/sign_in.html", email=email, errors=errors), 400
    except service.AccountError as exc:
        db.session.commit()  # keep the attempt: it counts towards the limit
        return render_template("account/sign_in.html", email=email, errors={}, error=message(exc.code)), 429
    # The same answer whether or not the address is a supporter's.
    return render_template("account/link_sent.html", email=email)


@bp.get("/sign-in/<token>")
def link(token: str):  # type: ignore[no-untyped-def]
    """Opening the link only shows a button: mail scanners that fetch links do not spend it."""
    try:
        found = service.find_link(token)
    except service.AccountError as exc:
        return render_template("account/sign_in.html", email="", errors={}, error=message(exc.code)), 410
    return render_template("account/link.html", token=token, email=found.supporter.email)


@bp.post("/sign-in/<token>")
def use_link(token: str):  # type: ignore[no-untyped-def]
    try:
        found = service.use_link(token)
        db.session.commit()
    except service.AccountError as exc:
        db.session.rollback()
        return render_template("account/sign_in.html", email="", errors={}, error=message(exc.code)), 410
    session.pop(SETUP_KEY, None)
    session[SESSION_KEY] = service.session_data(found)
    return redirect(url_for("account.home", lang=g.lang))


@bp.post("/sign-out")
def sign_out():  # type: ignore[no-untyped-def]
    service.sign_out(session.get(SESSION_KEY))
    db.session.commit()
    session.pop(SESSION_KEY, None)
    session.pop(SETUP_KEY, None)
    flash(_("You are signed out."), "info")
    return redirect(url_for("account.sign_in"))


# -- the account page ------------------------------------------------------------------------------


@bp.get("")
@signed_in
def home():  # type: ignore[no-untyped-def]
    supporter = _supporter()
    current = service.current_memberships(supporter)
    ended = sorted((m for m in supporter.memberships if not m.is_member), key=lambda m: m.id, reverse=True)
    give_again = service.give_again_args(supporter)
    return render_template(
        "account/home.html",
        supporter=supporter,
        memberships=current,
        ended=ended[:1] if not current else [],
        payments=service.payments_of(supporter),
        years=service.statement_years(supporter),
        give_again_url=url_for("donate.support", **again) if (again := _query(give_again)) else None,
    )


def _query(args: dict[str, str] | None) -> dict[str, Any]:
    return dict(args or {})


# -- change amount or frequency --------------------------------------------------------------------


def _membership(membership_id: int) -> Membership:
    try:
        return service.own_membership(_supporter(), membership_id)
    except service.AccountError:
        abort(404)


def _fees() -> tuple[int, dict[str, int]]:
    config = current_app.config
    return config["FEE_PERCENT_BPS"], config["FEE_FIXED"]


def _change_values(membership: Membership) -> dict[str, str]:
    bps, fixed = _fees()
    gift = service.gift_of(membership, bps, fixed)
    values = {"frequency": membership.interval.value, **service.amount_args(gift, membership.currency)}
    if membership.covers_fees:
        values["cover_fees"] = "1"
    return values


def _render_change(membership: Membership, values: dict[str, str], errors: dict[str, str], status: int = 200):  # type: ignore[no-untyped-def]
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
            presets=[(service.amount_args(m, rule.code)["amount"], m) for m in rule.presets],
            limits=limits,
        ),
        status,
    )


def change_summary(change: service.Change, currency: str) -> str:
    date = format_day(change.effective) if change.effective else _("your next payment")
    template = CHANGE_SUMMARIES[(change.before_interval.value, change.after.interval.value)]
    return str(template) % {
        "date": date,
        "after": format_money(change.after.total, currency),
        "before": format_money(change.before_amount, currency),
    }


@bp.get("/membership/<int:membership_id>/change")
@signed_in
def change(membership_id: int):  # type: ignore[no-untyped-def]
    membership = _membership(membership_id)
    if not membership.is_member or membership.cancel_at_period_end:
        flash(message("membership_ending" if membership.is_member else "membership_ended"), "error")
        return redirect(url_for("account.home"))
    return _render_change(membership, _change_values(membership), {})


@bp.post("/membership/<int:membership_id>/change")
@signed_in
def change_post(membership_id: int):  # type: ignore[no-untyped-def]
    membership = _membership(membership_id)
    values = {
        k: v
        for k in ("frequency", "amount", "custom_amount", "cover_fees")
        if (v := request.form.get(k, "").strip())
    }
    bps, fixed = _fees()
    try:
        terms = service.terms_from_form(request.form, membership, bps, fixed)
        preview = service.preview_change(membership, terms)
    except InvalidChoice as exc:
        return _render_change(membership, values, exc.errors, status=400)
    except service.AccountError as exc:
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
        done = service.change_membership(_supporter(), membership, terms, get_gateway())
        db.session.commit()
    except PaymentServiceUnavailable as exc:
        return _unavailable(exc)
    flash(_("Your membership is changed.") + " " + change_summary(done, membership.currency), "success")
    return redirect(url_for("account.home"))


# -- cancel and resume ---------------------------------------------------------------------------------


@bp.get("/membership/<int:membership_id>/cancel")
@signed_in
def cancel(membership_id: int):  # type: ignore[no-untyped-def]
    membership = _membership(membership_id)
    if not membership.is_member or membership.cancel_at_period_end:
        return redirect(url_for("account.home"))
    return render_template("account/cancel.html", membership=membership)


@bp.post("/membership/<int:membership_id>/cancel")
@signed_in
def cancel_post(membership_id: int):  # type: ignore[no-untyped-def]
    membership = _membership(membership_id)
    try:
        service.cancel_membership(_supporter(), membership, request.form.get("reason"), get_gateway())
        db.session.commit()
    except PaymentServiceUnavailable as exc:
        return _unavailable(exc)
    except service.AccountError as exc:
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
def resume(membership_id: int):  # type: ignore[no-untyped-def]
    membership = _membership(membership_id)
    try:
        service.resume_membership(_supporter(), membership, get_gateway())
        db.session.commit()
    except PaymentServiceUnavailable as exc:
        return _unavailable(exc)
    except service.AccountError as exc:
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


# -- a new card ---------------------------------------------------------------------------------------------

DECLINE_CODES = (
    "card_declined",
    "generic_decline",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "incorrect_number",
    "invalid_expiry_year",
    "invalid_expiry_month",
    "processing_error",
    "authentication_failed",
    "setup_intent_authentication_failure",
    "payment_error",
)


@bp.get("/card")
@signed_in
def card():  # type: ignore[no-untyped-def]
    supporter = _supporter()
    config = current_app.config
    js_config = {
        "publishableKey": config["STRIPE_PUBLISHABLE_KEY"],
        "locale": g.lang,
        "startUrl": url_for("account.card_start"),
        "confirmUrl": url_for("account.card_confirm"),
        "texts": {k: str(v) for k, v in JS_TEXTS.items()},
        "declines": {code: message(code) for code in DECLINE_CODES},
    }
    past_due = [m for m in service.current_memberships(supporter) if m.status == "past_due"]
    return render_template("account/card.html", supporter=supporter, js_config=js_config, past_due=past_due)


def _json_error(code: str, status: int):  # type: ignore[no-untyped-def]
    return jsonify(error={"code": code, "message": message(code)}), status


@bp.post("/card/start")
@signed_in
def card_start():  # type: ignore[no-untyped-def]
    supporter = _supporter()
    try:
        intent = service.start_card_update(supporter, get_gateway())
    except service.AccountError as exc:
        return _json_error(exc.code, 409)
    except PaymentServiceUnavailable as exc:
        return _json_error(exc.code, 503)
    session[SETUP_KEY] = intent.id
    return jsonify(
        client_secret=intent.client_secret,
        billing={"email": supporter.email, **({"name": supporter.name} if supporter.name else {})},
    )


@bp.post("/card/confirm")
@signed_in
def card_confirm():  # type: ignore[no-untyped-def]
    setup_id = request.form.get("setup_intent_id", "")
    if not setup_id or setup_id != session.get(SETUP_KEY):
        return _json_error("customer_mismatch", 409)
    supporter = _supporter()
    try:
        outcome = service.finish_card_update(supporter, setup_id, get_gateway())
        db.session.commit()
    except service.AccountError as exc:
        db.session.rollback()
        return _json_error(exc.code, 409)
    except PaymentDeclined as exc:
        db.session.rollback()
        return _json_error(exc.code, 402)
    except PaymentServiceUnavailable as exc:
        db.session.rollback()
        return _json_error(exc.code, 503)
    session.pop(SETUP_KEY, None)
    if outcome.card:
        flash(
            _(
                "Your new card is saved: %(brand)s ending in %(last4)s.",
                brand=CARD_BRANDS.get(outcome.card["brand"], outcome.card["brand"]),
                last4=outcome.card["last4"],
            ),
            "success",
        )
    for payment, paid, code in outcome.retried:
        amount = format_money(payment.amount, payment.currency) if payment else ""
        if paid:
            flash(
                _(
                    "The payment that had failed (%(amount)s) went through with your new card. Thank you!",
                    amount=amount,
                ),
                "success",
            )
        else:
            flash(
                _("The payment that had failed (%(amount)s) was declined again:", amount=amount)
                + " "
                + message(code or "card_declined"),
                "error",
            )
    return jsonify(redirect=url_for("account.home"))


# -- receipts and statements ------------------------------------------------------------------------------------


def _pdf(body: bytes, filename: str) -> Response:
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/payments/<int:payment_id>/receipt.pdf")
@signed_in
def receipt(payment_id: int) -> Response:
    supporter = _supporter()
    try:
        payment: Payment = service.own_payment(supporter, payment_id)
    except service.AccountError:
        abort(404)
    body = receipts_pdf.receipt_pdf(payment, g.lang)
    audit.record(
        service.actor(supporter), "receipt.download", supporter_id=supporter.id, payment_id=payment.id
    )
    db.session.commit()
    return _pdf(body, receipts_pdf.receipt_filename(payment))


@bp.get("/statement")
@signed_in
def statement() -> Response:
    supporter = _supporter()
    year = request.args.get("year", type=int)
    if year is None or year not in service.statement_years(supporter):
        abort(404)
    body = receipts_pdf.statement_pdf(supporter, year, g.lang)
    audit.record(service.actor(supporter), "statement.download", supporter_id=supporter.id, year=year)
    db.session.commit()
    return _pdf(body, receipts_pdf.statement_filename(year))


# -- my data -------------------------------------------------------------------------------------------------------


@bp.get("/data.json")
@signed_in
def data() -> Response:
    exported = service.export_data(_supporter())
    db.session.commit()
    response = Response(json.dumps(exported, ensure_ascii=False, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="my-data.json"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/erase")
@signed_in
def erase():  # type: ignore[no-untyped-def]
    supporter = _supporter()
    return render_template(
        "account/erase.html",
        supporter=supporter,
        memberships=service.current_memberships(supporter),
        error=None,
    )


@bp.post("/erase")
@signed_in
def erase_post():  # type: ignore[no-untyped-def]
    supporter = _supporter()
    if request.form.get("confirm") != "1":
        return (
            render_template(
                "account/erase.html",
                supporter=supporter,
                memberships=service.current_memberships(supporter),
                error=message("confirm_erase"),
            ),
            400,
        )
    email = supporter.email
    try:
        service.erase(supporter, get_gateway())
        db.session.commit()
    except PaymentServiceUnavailable as exc:
        return _unavailable(exc)
    session.pop(SESSION_KEY, None)
    session.pop(SETUP_KEY, None)
    return render_template("account/erased.html", email=email)
