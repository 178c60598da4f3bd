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
    logging.basicConfig(level=logging.WARNING)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
