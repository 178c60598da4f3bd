"""``POST /webhooks/stripe``: verify, store, answer; then apply.

The only place besides the gateway that knows about Stripe: it checks the
signature on the raw body.  Not under a language prefix and CSRF-exempt
(Stripe signs instead).
"""

from __future__ import annotations

import json

import stripe
from flask import Blueprint, current_app, jsonify, request
from werkzeug.wrappers import Response

from app.extensions import db
from app.services import webhooks

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

#: Stripe's events are larger than any form: an invoice lists its lines.
MAX_EVENT_BYTES = 1024 * 1024
#: Seconds a signature stays valid (Stripe's default): older ones are replays.
TOLERANCE = 300


def _not_json(constant: str) -> float:
    """``NaN`` and ``Infinity`` are Python's, not JSON's (nor PostgreSQL's)."""
    raise ValueError(constant)


def _answer(status: int, **body: object) -> tuple[Response, int]:
    return jsonify(body), status


@bp.post("/stripe")
def stripe_event() -> tuple[Response, int]:
    request.max_content_length = MAX_EVENT_BYTES
    payload = request.get_data(cache=False)
    signature = request.headers.get("Stripe-Signature", "")
    if not signature:
        return _answer(400, error="missing_signature")
    try:
        # The signature part of ``stripe.Webhook.construct_event``; its other
        # part builds a StripeObject, which we do not use and which fails on a
        # signed body that is not an object.  We store exactly what Stripe sent.
        stripe.WebhookSignature.verify_header(
            payload, signature, current_app.config["STRIPE_WEBHOOK_SECRET"], tolerance=TOLERANCE
        )
        text = payload.decode()  # Stripe sends UTF-8; the text is stored as it came
        event = webhooks.check_event(json.loads(text, parse_constant=_not_json))
    except stripe.SignatureVerificationError:
        return _answer(400, error="bad_signature")
    except (ValueError, webhooks.MalformedEvent):  # not UTF-8, not JSON, or not an event
        return _answer(400, error="malformed_event")

    if bool(event.get("livemode")) != webhooks.livemode_expected(current_app.config["STRIPE_SECRET_KEY"]):
        current_app.logger.warning("stripe event %s ignored: livemode does not match the key", event["id"])
        return _answer(200, received=True, ignored="livemode_mismatch")

    try:
        stored = webhooks.store_event(event, raw=text)
    except Exception:
        db.session.rollback()
        current_app.logger.exception("could not store stripe event %s", event["id"])
        return _answer(500, error="not_stored")  # Stripe will deliver it again

    # Stored: Stripe gets its 2xx whatever happens next.  A worker applies it
    # (the stored event is the durable queue; the workers are woken at most
    # every WAKE_EVERY seconds, and a beat sweep applies what a lost request
    # left).  WEBHOOK_APPLY=inline applies it here instead, after the commit:
    # apply_event is a no-op for an event already applied and keeps the error
    # of one that fails.
    if current_app.config["WEBHOOK_APPLY"] != "inline":
        if stored.new:
            webhooks.wake_workers()
        return _answer(200, received=True, duplicate=not stored.new, outcome="queued")
    try:
        outcome = webhooks.apply_event(stored.stripe_event_id)
    except Exception:
        db.session.rollback()
        current_app.logger.exception("stripe event %s stored, not applied", event["id"])
        outcome = webhooks.Applied.FAILED
    return _answer(200, received=True, duplicate=not stored.new, outcome=str(outcome))
