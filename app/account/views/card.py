"""A new card: the form (Stripe Elements), its SetupIntent, and saving the confirmed card."""

from __future__ import annotations

from flask import current_app, flash, g, jsonify, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.account.messages import message
from app.account.views.access import SETUP_KEY, current_supporter, signed_in
from app.account.views.blueprint import bp
from app.donate.views import APPEARANCE
from app.errors import json_error
from app.extensions import db
from app.i18n import card_brand, format_money
from app.messages import CARD_UPDATE_DECLINE_CODES
from app.services import supporters
from app.services.account import changes
from app.services.errors import AccountError, NotFound, PaymentDeclined, PaymentServiceUnavailable
from app.services.payments import AWAITS_AUTHENTICATION
from app.services.stripe_gateway import get_gateway

JS_TEXTS = {
    "working": _l("Saving your card…"),
    "no_stripe": _l("The card form could not load. Please check your connection and reload the page."),
}


@bp.get("/card")
@signed_in
def card() -> ResponseReturnValue:
    supporter = current_supporter()
    config = current_app.config
    js_config = {
        "publishableKey": config["STRIPE_PUBLISHABLE_KEY"],
        "locale": g.lang,
        "appearance": APPEARANCE,  # the support page's: one look for Stripe's fields
        "startUrl": url_for("account.card_start"),
        "confirmUrl": url_for("account.card_confirm"),
        "returnUrl": url_for("account.card", _external=True),
        "texts": {k: str(v) for k, v in JS_TEXTS.items()},
        "declines": {code: message(code) for code in CARD_UPDATE_DECLINE_CODES},
    }
    past_due = [m for m in supporters.running_memberships(supporter) if m.status == "past_due"]
    return render_template("account/card.html", supporter=supporter, js_config=js_config, past_due=past_due)


@bp.post("/card/start")
@signed_in
def card_start() -> ResponseReturnValue:
    supporter = current_supporter()
    try:
        intent = changes.start_card_update(supporter, get_gateway())
    except AccountError as exc:
        return json_error(exc.code, 409, message(exc.code))
    except PaymentServiceUnavailable as exc:
        return json_error(exc.code, 503, message(exc.code))
    except NotFound as exc:
        return json_error(exc.code, 409, message("resource_missing"))
    session[SETUP_KEY] = intent.id
    return jsonify(
        client_secret=intent.client_secret,
        billing={"email": supporter.email, **({"name": supporter.name} if supporter.name else {})},
    )


@bp.post("/card/confirm")
@signed_in
def card_confirm() -> ResponseReturnValue:
    setup_id = request.form.get("setup_intent_id", "")
    if not setup_id or setup_id != session.get(SETUP_KEY):
        return json_error("customer_mismatch", 409, message("customer_mismatch"))
    supporter = current_supporter()
    try:
        outcome = changes.finish_card_update(supporter, setup_id, get_gateway())
        db.session.commit()
    except AccountError as exc:
        db.session.rollback()
        return json_error(exc.code, 409, message(exc.code))
    except PaymentDeclined as exc:
        db.session.rollback()
        return json_error(exc.code, 402, message(exc.code))
    except PaymentServiceUnavailable as exc:
        db.session.rollback()
        return json_error(exc.code, 503, message(exc.code))
    except NotFound as exc:
        db.session.rollback()
        return json_error(exc.code, 409, message("resource_missing"))
    session.pop(SETUP_KEY, None)
    _say_what_happened(outcome)
    return jsonify(redirect=url_for("account.home"))


def _say_what_happened(outcome: changes.CardUpdate) -> None:
    """The account page then says which card is saved, and how the failed payments went."""
    if outcome.card:
        flash(
            _(
                "Your new card is saved: %(brand)s ending in %(last4)s.",
                brand=card_brand(outcome.card["brand"]),
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
        elif code == AWAITS_AUTHENTICATION:
            flash(
                _(
                    "Your bank asks you to confirm the payment that had failed (%(amount)s). Please press “Confirm the payment” below.",
                    amount=amount,
                ),
                "info",
            )
        else:
            flash(
                _("The payment that had failed (%(amount)s) was declined again:", amount=amount)
                + " "
                + message(code or "card_declined"),
                "error",
            )
