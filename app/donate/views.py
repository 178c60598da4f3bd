"""The support page: choose, pay with Stripe Elements, thank you.

Views parse input, call one service function and render; the commit is here.
The payment steps' JSON errors name no form field (``field=None``): the form's
own errors come as ``errors``, one per field.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from app.donate import page_cache, quote
from app.donate.same_origin import same_origin_or_token
from app.extensions import csrf, db
from app.i18n import (
    best_locale,
    format_day,
    format_money,
    language_prefix,
    page_in,
    query_of,
    with_query,
)
from app.messages import SUPPORT_DECLINE_CODES, message_for
from app.models import Payment
from app.services import amounts, donations, reminders
from app.services.errors import InvalidChoice
from app.services.stripe_objects import UTM_FIELDS

root_bp = Blueprint("root", __name__)
bp = Blueprint("donate", __name__, url_prefix="/<lang>")

PENDING_KEY = "donation"
#: What this browser typed for the gift it just made: the thank-you page shows only that.
THANKS_KEY = "thanked"
ATTEMPT_KEY = "attempt_id"
#: A field people never see (hidden by CSS and from screen readers); bots fill every field.
HONEYPOT = "website"
KEPT_ARGS = (
    "amount",
    "custom_amount",
    "currency",
    "frequency",
    "cover_fees",
    "campaign",
    *UTM_FIELDS,
)
#: An answer about one reader (what they typed, their gift): no shared or kept copy.
PRIVATE = {"Cache-Control": "no-store, private"}
#: Longer query strings (not from our links) are rendered every time, not kept.
MAX_CACHED_QUERY = 512


@root_bp.get("/")
def root() -> Response:
    path = url_for("donate.support", lang=best_locale())
    return redirect(with_query(path, query_of(KEPT_ARGS)), code=302)


language_prefix(bp)


#: A thank-you link shows the gift for a day (long enough to reload it; a kept or forwarded one ends).
THANKS_LINK_SECONDS = 24 * 3600


def _thanks_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="thank-you")


def _error_texts(errors: dict[str, str], currency: str) -> dict[str, str]:
    rule = amounts.CURRENCIES.get(currency, amounts.CURRENCIES[amounts.DEFAULT_CURRENCY])
    values = {
        "minimum": format_money(rule.minimum, rule.code, short=True),
        "maximum": format_money(rule.maximum, rule.code, short=True),
    }
    return {field: message_for(code, **values) for field, code in errors.items()}


def _choice(form: Any) -> donations.DonationChoice:
    return donations.choice_from_form(
        form,
        locale=g.lang,
        fee_percent_bps=current_app.config["FEE_PERCENT_BPS"],
        fee_fixed=current_app.config["FEE_FIXED"],
    )


def _render_support(
    values: dict[str, str], errors: dict[str, str] | None = None, status: int = 200, **extra: Any
) -> tuple[str, int, dict[str, str]]:
    """The page as one reader's answer (what they typed, errors): ``support`` sends the shared one."""
    currency = values.get("currency", "").lower()
    if currency not in amounts.CURRENCIES:
        currency = amounts.DEFAULT_CURRENCY
    frequency = values.get("frequency", "")
    if frequency not in amounts.FREQUENCIES:
        frequency = amounts.DEFAULT_FREQUENCY
    return (
        render_template(
            "donate/support.html",
            values=values,
            currency=currency,
            frequency=frequency,
            errors=_error_texts(errors or {}, currency),
            **_page_context(values, currency, frequency),
            **extra,
        ),
        status,
        PRIVATE,
    )


JS_TEXTS = {
    "working": _l("Processing your payment…"),
    "no_stripe": _l("The payment form could not load. Please check your connection and reload the page."),
    "loading": _l("The payment form is still loading. Please wait a moment, then press the button again."),
    "check_fields": _l("Please check the fields marked above."),
}


#: Stripe's Appearance API for the Payment Element: support.css's colours, corners and fonts
#: (the element is right to left under the Arabic page's ``dir="rtl"``, as Stripe documents).
APPEARANCE = {
    "theme": "stripe",
    "variables": {
        "colorPrimary": "#0b5cad",
        "colorText": "#1b1b1b",
        "colorDanger": "#b00020",
        "colorBackground": "#ffffff",
        "borderRadius": "6px",
        "fontFamily": 'system-ui, "Segoe UI", Roboto, "Noto Sans Arabic", Tahoma, "DejaVu Sans", sans-serif',
    },
}


def _page_context(values: dict[str, str], currency: str, frequency: str) -> dict[str, Any]:
    config = current_app.config
    presets = {
        code: [(amounts.major_units(m, code, trim=True), m) for m in rule.presets]
        for code, rule in amounts.CURRENCIES.items()
    }
    # The total shown before any JavaScript runs: the chosen or first preset (an absurd
    # amount is shown as the first preset; support.js asks for the server's reading at once).
    try:
        chosen = {"amount": presets[currency][0][0], **values}
        shown = amounts.quote(chosen, config["FEE_PERCENT_BPS"], config["FEE_FIXED"])
    except InvalidChoice:
        preset = amounts.CURRENCIES[currency].presets[0]
        shown = amounts.Quote(preset, currency, frequency)
    locale = g.lang
    return {
        "currencies": list(amounts.CURRENCIES),
        "presets_for": presets.__getitem__,
        # The amount in its own <bdi>, as support.js writes it when the choice changes.
        "total_line": quote.total_line(shown),
        "button_label": quote.button_label(shown),
        "custom_amount_label": quote.CUSTOM_AMOUNT_LABELS[currency],
        "limits_hint": quote.limits_hint(currency),
        "js_config": {
            "publishableKey": config["STRIPE_PUBLISHABLE_KEY"],
            "locale": locale,
            "appearance": APPEARANCE,
            "quoteUrl": url_for("donate.quote_amount"),
            "startUrl": url_for("donate.start"),
            "confirmUrl": url_for("donate.confirm"),
            "tokenUrl": url_for("donate.form_token"),
            "currencies": {
                code: {
                    "presets": presets[code],
                    "labels": [format_money(m, code, short=True) for m in rule.presets],
                    # The typed amount's label and limits, changed with the currency.
                    "custom_label": str(quote.CUSTOM_AMOUNT_LABELS[code]),
                    "limits": str(quote.limits_hint(code)),
                }
                for code, rule in amounts.CURRENCIES.items()
            },
            "totals": {k: str(v % {"amount": "{amount}"}) for k, v in quote.TOTAL_LINES.items()},
            "buttons": {k: str(v % {"amount": "{amount}"}) for k, v in quote.BUTTON_LABELS.items()},
            "texts": {k: str(v) for k, v in JS_TEXTS.items()},
            "declines": {code: message_for(code) for code in SUPPORT_DECLINE_CODES},
        },
    }


@bp.get("/support")
def support() -> ResponseReturnValue:
    def render() -> str:
        values = {k: v for k in KEPT_ARGS if (v := request.args.get(k, "").strip())}
        return str(_render_support(values)[0])

    # The same bytes for every reader of the link: no token, no cookie (``same_origin``), so a
    # proxy in front may keep it.  The page follows from the path and our own query keys only.
    if len(request.query_string) > MAX_CACHED_QUERY:
        page = render()
    else:
        page = page_cache.cached_page(("support", g.lang, tuple(query_of(KEPT_ARGS))), render)
    return page, {"Cache-Control": page_cache.shared_cache_control()}


@bp.get("/support/token")
def form_token() -> ResponseReturnValue:
    """This reader's CSRF token, asked for by support.js when paying starts (``same_origin``)."""
    return jsonify(csrf_token=generate_csrf()), PRIVATE


@bp.get("/support/quote")
def quote_amount() -> ResponseReturnValue:
    """The server's reading of the amount fields: the page shows it, and pays only that."""
    config, fresh = current_app.config, {"Cache-Control": "no-store"}
    try:
        reading = amounts.quote(request.args, config["FEE_PERCENT_BPS"], config["FEE_FIXED"])
    except InvalidChoice as exc:
        currency = request.args.get("currency", "").lower()
        return jsonify(errors=_error_texts(exc.errors, currency)), 400, fresh
    return jsonify(quote.as_json(reading)), fresh


@bp.post("/support")
@same_origin_or_token
def support_without_js() -> ResponseReturnValue:
    """The form posted without JavaScript: check the choice, say paying needs JS."""
    values = {k: v for k in (*KEPT_ARGS, "email", "name") if (v := request.form.get(k, "").strip())}
    try:
        _choice(request.form)
    except InvalidChoice as exc:
        return _render_support(values, exc.errors, status=400)
    values["checked"] = "1"
    return _render_support(values)


@bp.get("/support/thank-you/<token>")
def thanks(token: str) -> ResponseReturnValue:
    try:
        payment_id = _thanks_signer().loads(token, max_age=THANKS_LINK_SECONDS)
    except BadSignature:  # forged, or expired (SignatureExpired is one)
        abort(404)
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        abort(404)
    # Never the supporter's stored name or address: whoever typed an email may not be them.
    typed = session.get(THANKS_KEY) or {}
    if typed.get("payment") != payment.id:
        typed = {}
    page = render_template(
        "donate/thanks.html",
        payment=payment,
        membership=payment.membership,
        reader_name=typed.get("name", ""),
        reader_email=typed.get("email", ""),
    )
    return page, PRIVATE  # one reader's gift


@bp.get("/support/confirming")
def confirming() -> ResponseReturnValue:
    """Stripe is still confirming the payment: nothing was declined, nothing to do but wait."""
    return render_template("donate/confirming.html")


@bp.app_template_global()
def other_locale_url(other: str) -> str:
    """The same page in the other language, keeping the reader's choices."""
    return page_in(other, KEPT_ARGS, "donate.support")


@bp.app_template_global()
def lang_name(code: str) -> str:
    return {"ar": "العربية", "en": "English"}[code]


@bp.post("/support/remind")
@same_origin_or_token
def remind() -> ResponseReturnValue:
    """ "Remind me later": one email in a week or a month, with the choices filled in."""
    values = {k: v for k in KEPT_ARGS if (v := request.form.get(k, "").strip())}
    values["remind_email"] = request.form.get("email", "").strip()
    try:
        remind_at = reminders.request_reminder(request.form, g.lang, request.remote_addr)
        db.session.commit()
    except InvalidChoice as exc:
        status = 429 if "too_many_reminders" in exc.errors.values() else 400
        return _render_support(values, exc.errors, status=status)
    return _render_support(values, reminded_on=format_day(remind_at))


@bp.route("/reminders/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(token: str) -> ResponseReturnValue:
    """One click (RFC 8058 POST from the mail client, or the button on this page)."""
    if request.method == "POST":
        found = reminders.unsubscribe(token)
        db.session.commit()
        if not found:
            abort(404)
        return render_template("donate/unsubscribe.html", done=True)
    return render_template("donate/unsubscribe.html", done=False, token=token)
