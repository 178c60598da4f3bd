"""The support page's payment steps (Stripe's Payment Element flow), on the donate blueprint.

``start``: the server's reading of the choice -> a Stripe customer and the payment intent
the browser confirms (a one-time gift's, or the first invoice's of a subscription created
incomplete).  The browser confirms it with ``stripe.confirmPayment``; Stripe.js then goes
to ``returned`` (the ``return_url``), which asks Stripe how it went and finishes on the
thank-you page.  A decline in the browser is reported to ``confirm``, which records it
(the attempt limits count it) and answers the reader's words.
"""

from __future__ import annotations

from flask import jsonify, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from app.donate import quote
from app.donate.same_origin import same_origin_or_token
from app.donate.views import (
    ATTEMPT_KEY,
    HONEYPOT,
    PENDING_KEY,
    THANKS_KEY,
    _choice,
    _error_texts,
    _render_support,
    _thanks_signer,
    bp,
)
from app.errors import json_error
from app.extensions import db
from app.messages import message_for
from app.models import AttemptOutcome
from app.services import amounts, attempts, donations
from app.services.errors import DomainError, InvalidChoice, PaymentDeclined, PaymentServiceUnavailable
from app.services.stripe_gateway import get_gateway

#: The bank's challenge was left unanswered: for the reader, an authentication that failed.
UNFINISHED = "payment_intent_authentication_failure"


@bp.post("/support/start")
@same_origin_or_token
def start() -> ResponseReturnValue:
    try:
        choice = _choice(request.form)
    except InvalidChoice as exc:
        currency = request.form.get("currency", "").lower()
        return jsonify(errors=_error_texts(exc.errors, currency)), 400
    if not quote.was_shown(choice, request.form):  # the reader saw another total: pay none
        return json_error("quote_changed", 409, field=None)
    if _being_confirmed(choice):
        return jsonify(redirect=url_for("donate.confirming"))
    try:
        attempt = attempts.admit(_visitor(), choice.email, trapped=bool(request.form.get(HONEYPOT)))
    except attempts.TooManyAttempts as exc:
        db.session.commit()  # the refusal counts towards the next judgement and the alert
        return json_error(exc.code, 429, field=None)
    db.session.commit()
    session[ATTEMPT_KEY] = attempt.id
    method = request.form.get("payment_method", "")
    try:
        started = donations.start_attempt(
            choice, attempt.id, get_gateway(), _customer_to_reuse(choice), method
        )
    except PaymentServiceUnavailable as exc:
        return json_error(exc.code, 503, field=None)
    except (PaymentDeclined, attempts.TooManyAttempts) as exc:
        db.session.commit()  # the declined (or, for its card, refused) attempt counts
        return json_error(exc.code, 402 if isinstance(exc, PaymentDeclined) else 429, field=None)
    db.session.commit()
    session[PENDING_KEY] = started.pending.to_session()
    return _to_confirm(started)


def _to_confirm(started: donations.Started) -> Response:
    """What ``stripe.confirmPayment`` needs: the intent's secret, where to come back, who pays."""
    choice = started.pending.choice
    return jsonify(
        kind=started.kind,
        client_secret=started.client_secret,
        intent_id=started.pending.intent_id,
        # Stripe wants an absolute URL; Stripe.js adds payment_intent and redirect_status.
        return_url=url_for("donate.returned", _external=True),
        billing={"email": choice.email, "name": choice.name},
    )


def _being_confirmed(choice: donations.DonationChoice) -> bool:
    """This browser's gift for this address is still being confirmed: trying again would pay twice."""
    previous = session.get(PENDING_KEY)
    if not (previous and previous.get("confirming") and previous["choice"]["email"] == choice.email):
        return False
    try:
        if donations.still_confirming(donations.Pending.from_session(previous), get_gateway()):
            return True
    except DomainError:
        return True  # Stripe cannot tell now: better ask the reader to wait than charge twice
    session.pop(PENDING_KEY, None)  # the bank declined it: a new try starts clean
    return False


def _customer_to_reuse(choice: donations.DonationChoice) -> str | None:
    """The Stripe customer this browser started with, if it is for the same address again."""
    previous = session.get(PENDING_KEY)
    if previous and previous.get("choice", {}).get("email") == choice.email:
        customer_id: str | None = previous.get("customer_id")
        return customer_id
    return None


@bp.post("/support/confirm")
@same_origin_or_token
def confirm() -> ResponseReturnValue:
    """The browser's word on the intent (a decline, or a retry after a lost answer): Stripe's decides."""
    data = session.get(PENDING_KEY)
    if not data:
        return json_error("no_pending_donation", 409, field=None)
    where, code, status = _finish(donations.Pending.from_session(data), request.form.get("intent_id", ""))
    if code is not None:
        return json_error(code, status, field=None)
    return jsonify(redirect=where)


@bp.get("/support/return")
def returned() -> ResponseReturnValue:
    """Stripe.js comes back here after ``confirmPayment``; Stripe, not the query, says how it went."""
    data = session.get(PENDING_KEY)
    if not data:  # finished already (a reload), or another browser's link: start from the page
        return redirect(url_for("donate.support"))
    pending = donations.Pending.from_session(data)
    where, code, _status = _finish(pending, request.args.get("payment_intent", ""))
    if code is None and where is not None:
        return redirect(where)
    choice = pending.choice
    values = {
        "amount": "other",
        "custom_amount": amounts.major_units(choice.amount, choice.currency, trim=True),
        "currency": choice.currency,
        "frequency": choice.frequency,
        "email": choice.email,
        "name": choice.name,
        **({"cover_fees": "1"} if choice.cover_fees else {}),
    }
    return _render_support(values, form_error=message_for(code or "payment_error"))


def _finish(pending: donations.Pending, intent_id: str) -> tuple[str | None, str | None, int]:
    """Ask Stripe how the payment went: (the page to go to, or the error's code and status)."""
    attempt_id = session.get(ATTEMPT_KEY)
    try:
        outcome = donations.confirm_attempt(pending, intent_id, attempt_id, get_gateway())
        db.session.commit()
    except PaymentDeclined as exc:
        db.session.rollback()
        attempts.finish(attempt_id, AttemptOutcome.DECLINED, exc.code, exc.card_fingerprint)
        db.session.commit()
        session[PENDING_KEY] = pending.to_session()
        return None, exc.code, 402
    except PaymentServiceUnavailable as exc:
        db.session.rollback()
        session[PENDING_KEY] = pending.to_session()
        return None, exc.code, 503
    except DomainError as exc:
        db.session.rollback()
        return None, exc.code, 409
    if outcome.action_client_secret:  # the browser left the bank's challenge unanswered
        session[PENDING_KEY] = pending.to_session()
        return None, UNFINISHED, 402
    return _next_page(outcome, pending), None, 200


def _next_page(outcome: donations.Outcome, pending: donations.Pending) -> str:
    """Where the reader goes: the page saying Stripe is still confirming, or the thank-you page."""
    if outcome.confirming:
        session[PENDING_KEY] = pending.to_session()  # a second try finds it (``_being_confirmed``)
        if outcome.payment is None:
            return url_for("donate.confirming")
    else:
        session.pop(PENDING_KEY, None)
    assert outcome.payment is not None  # a payment on its way from the bank too (``pending``)
    choice = pending.choice
    session[THANKS_KEY] = {"payment": outcome.payment.id, "name": choice.name, "email": choice.email}
    return url_for("donate.thanks", token=_thanks_signer().dumps(outcome.payment.id))


def _visitor() -> attempts.Visitor:
    key = session.get(attempts.SESSION_KEY)
    if not key:
        key = session[attempts.SESSION_KEY] = attempts.new_session_key()
    return attempts.Visitor(ip=request.remote_addr or "", session_key=key)
