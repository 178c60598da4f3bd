"""Run localstripe for the demo and the tests: 127.0.0.1 only, state in memory.

localstripe's own CLI listens on every interface and pickles its state to
``/tmp/localstripe.pickle``, which leaks state between runs; starting its
aiohttp app ourselves fixes both.

One extension, because localstripe lacks what the production path uses:
Stripe.js's ``confirmCardPayment(clientSecret, {payment_method: {card}})``
for a one-time PaymentIntent that has no card yet.  localstripe's fake
Stripe.js only authenticates (3-D Secure) an intent that already has one.
We add the missing step, the way Stripe does it: the card goes from the
browser to the fake Stripe (never to our server), the intent is confirmed
with it, and 3-D Secure follows if the card asks for it.

A second one for the account pages: localstripe's subscription update
refuses parameters the production path sends (``proration_behavior``,
``default_payment_method``, ``cancellation_details``) with a 500, drops
``metadata``, always adds an "Unused time" credit when the plan changes, and
charges a new interval at once even when ``trial_end`` defers it.
``_extend_subscription_update`` takes those parameters and does what Stripe
does with them (``""`` empties a ``cancellation_details`` field, as at Stripe).

A third one for erasure: Stripe reads ``""`` as "remove this field" on a
customer's ``name``, ``email``, ``phone``, ``address``, ``shipping`` and
``description``; localstripe would store the empty string (and keep an
address as ``""``).  ``_extend_customer_update`` stores ``null`` instead.

A fourth and a fifth for retries (``_extend_idempotency``): Stripe saves the
answer to a POST with an ``Idempotency-Key`` for 24 hours and replays it for
the same key (per API key) instead of doing the work again, and answers 400
``idempotency_error`` when the same key comes with other parameters;
localstripe ignored the header.  Creating an object with an id that exists
answers 400 ``resource_already_exists`` as at Stripe, not localstripe's 409
(which the SDK would retry).  The keys live as long as the server, and
``DELETE /_config/data`` forgets them with the objects.

A sixth for payments the bank confirms later (``_extend_processing``): at Stripe
a payment can stay ``processing`` (the charge ``pending``) for minutes or days;
localstripe charges cards at once.  The card ``PROCESSING_CARD`` (a number of
ours, not one of Stripe's test cards) leaves the charge ``pending`` and its
intent ``processing`` until ``POST /_config/charges/<id>/settle``, which
completes it as the bank's answer would (invoice paid, webhooks sent), or
``POST /_config/charges/<id>/fail`` (declined: the intent wants another card).

Usage: ``python -m devtools.localstripe_server --port 8420``
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

CONFIRM_WITH_CARD_JS = r"""
/* devtools extension: confirmCardPayment with a card Element, as Stripe.js does. */
(function () {
  const makeStripe = Stripe;
  Stripe = (apiKey, options) => {
    const stripe = makeStripe(apiKey, options);
    const authenticate = stripe.confirmCardPayment;
    stripe.confirmCardPayment = async (clientSecret, data) => {
      const card = data && data.payment_method && data.payment_method.card;
      if (!card || !card.value) return authenticate(clientSecret, data);
      const pi = clientSecret.match(/^(pi_\w+)_secret_/)[1];
      const response = await fetch(
        `${LOCALSTRIPE_BASE_API}/v1/payment_intents/${pi}/_authenticate/card`, {
          method: 'POST',
          body: JSON.stringify({
            key: apiKey, client_secret: clientSecret,
            payment_method_data: {type: 'card', card: card.value.card,
              billing_details: data.payment_method.billing_details || {}}})});
      const body = await response.json().catch(() => ({}));
      if (response.status !== 200 || body.error) return {error: body.error};
      if (body.status === 'requires_action') return authenticate(clientSecret);
      return {paymentIntent: body};
    };
    return stripe;
  };
})();
"""


def _extend(app: Any) -> None:
    from aiohttp import web
    from localstripe import resources, server
    from localstripe.errors import UserError

    async def confirm_with_card(request: web.Request) -> web.Response:
        data = await server.get_post_data(request) or {}
        intent = resources.PaymentIntent._api_retrieve(request.match_info["id"])
        if data.get("client_secret") != intent.client_secret:
            raise UserError(401, "Unauthorized")
        if intent.status != "requires_payment_method":
            raise UserError(400, "Bad request")
        method = resources.PaymentMethod(**data.get("payment_method_data", {}))
        intent.payment_method = method.id
        if method._attaching_is_declined():
            intent.payment_method = None
            raise UserError(402, "Your card was declined.", {"code": "card_declined"})
        intent._confirm(on_failure_now=intent._report_failure)
        return server.json_response(intent._export())

    # The path matches localstripe's publishable-key rule for `_authenticate`.
    app.router.add_post("/v1/payment_intents/{id}/_authenticate/card", confirm_with_card)

    original = (Path(server.__file__).parent / "localstripe-v3.js").read_text()
    patched = original + CONFIRM_WITH_CARD_JS
    for route in app.router.routes():
        if route.method == "GET" and route.resource.canonical == "/js.stripe.com/v3/":

            async def stripe_js(request: web.Request) -> web.Response:
                return web.Response(text=patched, content_type="application/javascript")

            route._handler = stripe_js


def _extend_subscription_update() -> None:
    """Subscription update with Stripe's parameters (see the module docstring)."""
    import time

    from localstripe import resources
    from localstripe.errors import UserError

    subscription = resources.Subscription
    original_update = subscription._update
    period_end = subscription.current_period_end

    def pending_items(customer: str) -> list[Any]:
        items = resources.InvoiceItem._api_list_all(None, customer=customer, limit=99)._list
        return [item for item in items if item.invoice is None]

    def update(
        self: Any,
        proration_behavior: str | None = None,
        default_payment_method: str | None = None,
        cancellation_details: dict[str, Any] | None = None,
        **data: Any,
    ) -> None:
        if proration_behavior not in (None, "none", "create_prorations", "always_invoice"):
            raise UserError(400, "Bad request")
        if cancellation_details is not None and not isinstance(cancellation_details, dict):
            raise UserError(400, "Bad request")
        if default_payment_method is not None:
            resources.PaymentMethod._api_retrieve(default_payment_method)  # 404 if unknown
        trial_end = resources.try_convert_to_int(data.get("trial_end"))
        deferred = data.get("items") is not None and isinstance(trial_end, int) and trial_end > time.time()
        before = {item.id for item in pending_items(self.customer)}
        if deferred:
            self._create_invoice = lambda: None  # the new plan is first charged at trial_end
        try:
            original_update(self, **data)
        finally:
            self.__dict__.pop("_create_invoice", None)
        if deferred:
            self.status = "trialing"
            self._period_end = trial_end
        if proration_behavior == "none":
            for item in pending_items(self.customer):
                if item.id not in before and item.proration:
                    del resources.store[f"invoiceitem:{item.id}"]
        if isinstance(data.get("metadata"), dict):  # localstripe takes it but drops it
            self.metadata = {**(self.metadata or {}), **data["metadata"]}
        if default_payment_method is not None:
            self.default_payment_method = default_payment_method
        if cancellation_details is not None:
            self.cancellation_details = {
                "comment": cancellation_details.get("comment") or None,
                "feedback": cancellation_details.get("feedback") or None,
                "reason": None,
            }

    subscription._update = update
    subscription.current_period_end = property(  # type: ignore[assignment]
        lambda self: self.__dict__.get("_period_end") or period_end.fget(self)
    )


#: Customer fields that Stripe removes when they are sent as "".
EMPTYABLE_CUSTOMER_FIELDS = ("name", "email", "phone", "address", "shipping", "description")


def _extend_customer_update() -> None:
    """Customer update where "" removes a field, as at Stripe (see the module docstring)."""
    from localstripe import resources

    customer = resources.Customer
    original_update = customer._api_update

    def update(cls: Any, id: str, **data: Any) -> Any:
        for name in EMPTYABLE_CUSTOMER_FIELDS:
            if data.get(name) == "":
                data[name] = None
        return original_update.__func__(cls, id, **data)

    customer._api_update = classmethod(update)  # type: ignore[assignment]


def _extend_idempotency(app: Any) -> None:
    """Replay the first answer for a repeated ``Idempotency-Key`` (see the module docstring)."""
    import hashlib

    from aiohttp import web
    from localstripe import resources
    from localstripe.errors import UserError

    answers: dict[tuple[str, str], tuple[str, int, bytes, str]] = {}

    @web.middleware
    async def idempotency(request: web.Request, handler: Any) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/v1/"):
            return await handler(request)
        body = await request.read()  # aiohttp keeps it for the handler
        scope = (request.headers.get("Authorization", ""), key)
        fingerprint = hashlib.sha256(request.path.encode() + b"?" + body).hexdigest()
        if scope in answers:
            first, status, text, content_type = answers[scope]
            if first != fingerprint:
                error = {
                    "type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be used with the same "
                    "parameters they were first used with.",
                }
                return web.json_response({"error": error}, status=400)
            return web.Response(
                body=text, status=status, content_type=content_type, headers={"Idempotent-Replayed": "true"}
            )
        response = await handler(request)
        if isinstance(response, web.Response) and response.status != 429:
            answers[scope] = (fingerprint, response.status, response.body or b"", response.content_type)
        return response

    app.middlewares.insert(0, idempotency)

    async def flush_store(request: web.Request) -> web.Response:
        resources.store.clear()
        answers.clear()
        return web.Response()

    for route in app.router.routes():
        if route.method == "DELETE" and route.resource.canonical == "/_config/data":
            route._handler = flush_store

    original_init = resources.StripeObject.__init__

    def init(self: Any, id: str | None = None) -> None:
        if (
            id is not None
            and not isinstance(self, resources.List)
            and f"{self.object}:{id}" in resources.store
        ):
            raise UserError(
                400,
                f"{self.object.capitalize()} already exists.",
                {"code": "resource_already_exists"},
            )
        original_init(self, id)

    resources.StripeObject.__init__ = init  # type: ignore[method-assign]


#: A card whose charges wait for ``/_config/charges/<id>/settle`` (``_extend_processing``).
PROCESSING_CARD = "4000009999999991"


def _extend_processing(app: Any) -> None:
    """Charges that stay ``pending`` until settled (see the module docstring)."""
    from aiohttp import web
    from localstripe import resources, server

    charge = resources.Charge
    original = charge._initialize_charge

    def initialize(
        self: Any, on_success: Any = None, on_failure_now: Any = None, on_failure_later: Any = None
    ) -> None:
        method = resources.PaymentMethod._api_retrieve(self.payment_method)
        if getattr(method, "_card_number", None) == PROCESSING_CARD and self._authorized:
            self.status = "pending"
            self._settle, self._fail_later = on_success, on_failure_later
            return
        original(self, on_success, on_failure_now, on_failure_later)

    charge._initialize_charge = initialize

    async def settle(request: web.Request) -> web.Response:
        pending = charge._api_retrieve(request.match_info["id"])
        if pending.status != "pending":
            return web.json_response({"error": {"type": "invalid_request_error"}}, status=400)
        pending.__dict__.pop("_fail_later", None)
        pending._trigger_payment(pending.__dict__.pop("_settle", None))
        return server.json_response(pending._export())

    async def fail(request: web.Request) -> web.Response:
        pending = charge._api_retrieve(request.match_info["id"])
        if pending.status != "pending":
            return web.json_response({"error": {"type": "invalid_request_error"}}, status=400)
        pending.__dict__.pop("_settle", None)
        pending._set_auth_failure()
        if report := pending.__dict__.pop("_fail_later", None):
            report()
        return server.json_response(pending._export())

    app.router.add_post("/_config/charges/{id}/settle", settle)
    app.router.add_post("/_config/charges/{id}/fail", fail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()

    from aiohttp import web
    from localstripe import resources

    # Keep state in memory: never read or write /tmp/localstripe.pickle.
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.store.clear()

    from localstripe.server import app

    _extend(app)
    _extend_idempotency(app)
    _extend_processing(app)
    _extend_subscription_update()
    _extend_customer_update()
    logging.basicConfig(level=logging.WARNING)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
