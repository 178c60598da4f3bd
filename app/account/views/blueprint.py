"""The account blueprint ("account", under /<lang>/account), and what all its pages share."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from app.account.messages import message
from app.extensions import db
from app.i18n import language_prefix, page_in
from app.models import PaymentStatus
from app.services.errors import DomainError

bp = Blueprint("account", __name__, url_prefix="/<lang>/account")
#: The query keys the account pages read, the only ones the other-language link keeps.
QUERY_KEYS = ("year", "email")

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
    PaymentStatus.PENDING: _l("On its way from your bank"),
    PaymentStatus.SUCCEEDED: _l("Paid"),
    PaymentStatus.FAILED: _l("Failed"),
    PaymentStatus.REFUNDED: _l("Refunded"),
    PaymentStatus.DISPUTED: _l("Disputed"),
}


language_prefix(bp)


def _other_locale_url(other: str) -> str:
    """The same account page in the other language (a POST's answer goes to the account home)."""
    return page_in(other, QUERY_KEYS, "account.home")


@bp.context_processor
def account_context() -> dict[str, Any]:
    # Shadows the support page's helper of the same name in base.html's header.
    return {
        "other_locale_url": _other_locale_url,
        "card_brand": lambda brand: CARD_BRANDS.get((brand or "").lower(), (brand or "").title()),
        "payment_status": lambda payment: str(PAYMENT_STATUS[payment.status]),
    }


def unavailable(
    exc: DomainError, template: str = "account/problem.html", **context: Any
) -> ResponseReturnValue:
    """Stripe could not be reached: nothing was changed, say so."""
    db.session.rollback()
    return render_template(template, error=message(exc.code), **context), 503


def missing_at_stripe() -> ResponseReturnValue:
    """Stripe no longer has the subscription or customer (deleted, or a demo's localstripe
    restarted): nothing was changed, say so on the account page."""
    db.session.rollback()
    flash(message("resource_missing"), "error")
    return redirect(url_for("account.home"))
