"""``POST /webhooks/stripe``: verify, store, answer; then the workers apply it.

Not under a language prefix and CSRF-exempt (Stripe signs instead): the
webhooks service checks the signature on the raw body.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from werkzeug.wrappers import Response

from app.extensions import db
from app.ops import metrics
from app.services import webhook_queue, webhooks

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

#: Stripe's events are larger than any form: an invoice lists its lines.
MAX_EVENT_BYTES = 1024 * 1024


def _answer(status: int, **body: object) -> tuple[Response, int]:
    return jsonify(body), status


@bp.post("/stripe")
def stripe_event() -> tuple[Response, int]:
    request.max_content_length = MAX_EVENT_BYTES
    payload = request.get_data(cache=False)
    try:
        event, text = webhooks.verify(payload, request.headers.get("Stripe-Signature", ""))
    except webhooks.RefusedDelivery as exc:
        return _answer(400, error=exc.code)

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
    # every WAKE_EVERY seconds, and a beat sweep applies what a lost request left).
    metrics.WEBHOOKS_RECEIVED.labels("stored" if stored.new else "duplicate").inc()
    return _answer(200, received=True, duplicate=not stored.new, outcome=webhook_queue.hand_over(stored))
