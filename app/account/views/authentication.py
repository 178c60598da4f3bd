"""A renewal the member's bank must confirm (3-D Secure): the account page's button, with Stripe.js."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, jsonify, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.account.messages import message
from app.account.views.access import current_supporter, signed_in
from app.account.views.blueprint import bp
from app.errors import json_error
from app.extensions import db
from app.i18n import format_money
from app.messages import SUPPORT_DECLINE_CODES
from app.services.account import authentication
from app.services.errors import AccountError, NotFound, PaymentDeclined, PaymentServiceUnavailable
from app.services.stripe_gateway import get_gateway

JS_TEXTS = {
    "working": _l("Asking your bank…"),
    "no_stripe": _l("The payment form could not load. Please check your connection and reload the page."),
}

#: How each refusal answers the browser (the reader's words come from ``message``).
STATUSES = ((AccountError, 409), (NotFound, 409), (PaymentDeclined, 402), (PaymentServiceUnavailable, 503))


def _refused(exc: Exception) -> ResponseReturnValue:
    db.session.rollback()
    status = next(s for kind, s in STATUSES if isinstance(exc, kind))
    code = getattr(exc, "code", "payment_error")
    return json_error(code, status, message("resource_missing" if isinstance(exc, NotFound) else code))


def confirm_config() -> dict[str, Any]:
    """What ``account_confirm.js`` needs: Stripe's key, the reader's language, the words."""
    return {
        "publishableKey": current_app.config["STRIPE_PUBLISHABLE_KEY"],
        "locale": g.lang,
        "texts": {k: str(v) for k, v in JS_TEXTS.items()},
        "declines": {code: message(code) for code in SUPPORT_DECLINE_CODES},
    }


@bp.post("/payment/<int:payment_id>/confirm/start")
@signed_in
def confirm_payment_start(payment_id: int) -> ResponseReturnValue:
    try:
        confirmation = authentication.start(current_supporter(), payment_id, get_gateway())
        db.session.commit()
    except (AccountError, NotFound, PaymentServiceUnavailable) as exc:
        return _refused(exc)
    if confirmation is None:  # paid meanwhile (Stripe retried, or another tab)
        flash(_("Thank you: this payment is complete."), "success")
        return jsonify(redirect=url_for("account.home"))
    return jsonify(client_secret=confirmation.client_secret, payment_method=confirmation.payment_method)


@bp.post("/payment/<int:payment_id>/confirm/done")
@signed_in
def confirm_payment_done(payment_id: int) -> ResponseReturnValue:
    try:
        payment, paid = authentication.finish(current_supporter(), payment_id, get_gateway())
        db.session.commit()
    except (AccountError, NotFound, PaymentDeclined, PaymentServiceUnavailable) as exc:
        return _refused(exc)
    amount = format_money(payment.amount, payment.currency)
    if paid:
        flash(_("Thank you: your payment of %(amount)s is complete.", amount=amount), "success")
    else:
        flash(
            _(
                "Thank you: your bank confirmed the payment of %(amount)s. It shows here in a few minutes.",
                amount=amount,
            ),
            "success",
        )
    return jsonify(redirect=url_for("account.home"))
