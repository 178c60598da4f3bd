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

A fourth one for ``flask stripe setup``: localstripe has no
``/v1/webhook_endpoints``.  ``_extend_webhook_endpoints`` adds create, list,
retrieve, update and delete as Stripe documents them: ``url`` and
``enabled_events`` are required on create, ``api_version`` is optional there
and cannot be updated (Stripe refuses it as an unknown parameter of update),
``secret`` comes back on create only, update takes ``url``,
``enabled_events``, ``disabled``, ``description`` and ``metadata``
(``status`` becomes ``disabled``/``enabled``).  Each enabled endpoint is also
registered as one of localstripe's own webhooks, so its deliveries go to the
endpoint's URL, signed with its secret, for its events only (``["*"]``: all).
They are still in localstripe's 2017-08-15 shape whatever ``api_version``
says.  ``DELETE /_config/data`` forgets the endpoints and their deliveries too.

A fifth one for renewals the bank must confirm: Stripe answers
``POST /v1/invoices/{id}/pay`` with a 402 when the charge does not go through:
``card_error`` with ``code: invoice_payment_intent_requires_action`` when the
card holder must authenticate (3-D Secure; the invoice stays open, its payment
intent ``requires_action``), or the card's decline code; a bank debit on its way
(``processing``) is a 200 with the invoice still open.  localstripe answers
200 with the open invoice either way.  ``_extend_invoice_pay`` keeps what
localstripe did (the payment intent waits, exactly as at Stripe) and answers
as Stripe does.

A sixth one: a SetupIntent for a customer that does not exist is refused by
Stripe (400, ``resource_missing``, "No such customer"); localstripe makes it.
``_extend_setup_intent_create`` checks the customer first.

A seventh one for reconciliation: localstripe has payouts (manual ones only,
in EUR, with no balance transactions) but its balance transactions know no
payout, no fee, and ``GET /v1/balance_transactions`` takes no ``payout``
filter.  ``_extend_payouts`` adds what a Stripe automatic payout is:

- ``POST /_config/payouts`` (a devtools route beside localstripe's own
  ``/_config/webhooks``; JSON ``{"unmatched": true}`` optional) pays out every
  charge and refund not yet paid out: it gives each balance transaction
  Stripe's card fee (2.9% + 30 minor units; none on refunds), makes one
  automatic payout per currency of their net sum (``status: paid``), and sends
  ``payout.paid`` (``reconciliation_status: in_progress``) then
  ``payout.reconciliation_completed`` (``completed``), signed and delivered
  like localstripe's other events.  ``unmatched`` first charges a card for
  7.00 outside the service, so the payout holds a charge the service never
  recorded.  It answers the payouts made.
- ``GET /v1/balance_transactions?payout=po_...`` lists a payout's
  transactions (``expand[]=data.source`` works, as at Stripe).

``python -m devtools.demo_payout [--unmatched]`` calls it for the demo.

An eighth and a ninth for retries (``_extend_idempotency``): Stripe saves the
answer to a POST with an ``Idempotency-Key`` for 24 hours and replays it for
the same key (per API key) instead of doing the work again, and answers 400
``idempotency_error`` when the same key comes with other parameters;
localstripe ignored the header.  Creating an object with an id that exists
answers 400 ``resource_already_exists`` as at Stripe, not localstripe's 409
(which the SDK would retry).  The keys live as long as the server, and
``DELETE /_config/data`` forgets them with the objects.

A tenth for payments the bank confirms later (``_extend_processing``): at Stripe
a payment can stay ``processing`` (the charge ``pending``) for minutes or days;
localstripe charges cards at once.  The card ``PROCESSING_CARD`` (a number of
ours, not one of Stripe's test cards) leaves the charge ``pending`` and its
intent ``processing`` until ``POST /_config/charges/<id>/settle``, which
completes it as the bank's answer would (invoice paid, webhooks sent), or
``POST /_config/charges/<id>/fail`` (declined: the intent wants another card).

An eleventh for SEPA Direct Debit, on the same mechanism: localstripe takes
``sepa_debit`` payment methods but settles their debits on its own half a
second later, models subscriptions on its old Sources (``active`` while the
debit is pending, cancelled when it fails) and sends nothing while a payment
is processing.  Here a debit from any IBAN waits, like ``PROCESSING_CARD``, for
``/_config/charges/<id>/settle`` (the bank's answer: a success for Stripe's
test IBAN ``DE89370400440532013000``, a failure, ``insufficient_funds``, for
``DE62370400440532013001``, as Stripe's testing docs describe them) or
``/fail`` (a failure from any IBAN).  As at Stripe: the payment intent is
``processing`` meanwhile and the subscription whose first invoice it pays
``incomplete``; a first debit that fails makes it ``incomplete_expired``, a
renewal's ``past_due`` (``customer.subscription.updated``).  Every pending
charge sends ``payment_intent.processing`` and ``charge.pending``, then
``charge.succeeded`` or ``charge.failed`` beside localstripe's own
``payment_intent.*`` and ``invoice.*`` events.  Each bank account gets one
mandate (``GET /v1/mandates/<id>``, ``multi_use`` once the method has a
customer, with a ``reference``), named by the charge's
``payment_method_details.sepa_debit.mandate``; charges get Stripe's
``payment_method_details`` (localstripe had none), and SEPA payment methods
lose the ``mandate_reference``/``mandate_url`` of the old Sources shape.
``python -m devtools.demo_settle [--fail]`` answers for the demo.

A twelfth for a storm's Stripe side (``_extend_objects``): a renewal-day storm
(``tests/fault/storm.py``) plays customers and subscriptions with ids and
states of its own, which localstripe cannot make (it chooses ids, and its
subscriptions need plans and cards).  ``POST /_config/objects`` with JSON
``{"customers": [...], "subscriptions": [...]}`` (objects as Stripe sends
them) makes ``GET /v1/customers/<id>`` and ``GET /v1/subscriptions/<id>``
answer those ids with those objects, as Stripe would answer its own; every
other id is localstripe's as before.  ``DELETE /_config/data`` forgets them.

A thirteenth, fourteenth and fifteenth for Stripe's current browser integration
(issue 14; code in ``devtools/localstripe_elements.py``):

- Subscriptions take ``payment_behavior="default_incomplete"`` and
  ``payment_settings[save_default_payment_method]`` (``off`` or
  ``on_subscription``), which localstripe refused.  As at Stripe, such a
  subscription starts ``incomplete`` with its first invoice finalized and the
  invoice's payment intent ``requires_payment_method``: nothing is charged until
  the browser confirms that intent; its success pays the invoice, makes the
  subscription ``active`` (announced by ``customer.subscription.updated``, as at Stripe) and, with ``on_subscription``, saves the method as the
  subscription's ``default_payment_method`` (attached to the customer).
- Payment intents take ``automatic_payment_methods[enabled]`` (the Payment
  Element's methods come from the account's settings, not from the request).
- The fake Stripe.js gains ``elements({clientSecret | mode, amount, currency,
  locale, appearance})`` with ``update()``, ``submit()`` and ``getElement()``;
  ``create("payment")`` mounts plain inputs with the placeholders ``number``,
  ``exp_month``, ``exp_year``, ``cvc`` and ``postal_code`` (a number with spaces and a
  four-digit year are taken, as Stripe's fields take them), and an ``iban`` input
  when SEPA Direct Debit is offered (a EUR amount), with a stand-in for Stripe's
  own mandate text (``p.localstripe-terms``) unless ``terms: {sepaDebit:
  "never"}``; its ``change`` events carry ``value.type`` (``sepa_debit`` once an
  IBAN is typed, else ``card``); ``create("expressCheckout")``
  keeps the options it was made with and every ``elements.update()`` or its own
  ``update()`` as ``window.__expressCheckout`` (``created``, ``updates``), for
  tests to read (no wallet sheet opens by itself); a test plays the reader's wallet
  with ``window.__expressCheckout.confirm({expressPaymentType, billingDetails})``:
  it fires ``click`` (the sheet opens only if the page calls ``resolve``), keeps
  the sum the sheet showed as ``sheet`` (the elements' ``amount``, ``currency``,
  ``mode`` then), and fires ``confirm`` with those billing details and
  ``paymentFailed()`` (which closes the sheet), as Stripe.js does; until then
  ``submit()`` passes and the payment method is the wallet's (a 4242 test
  card); ``confirmPayment({elements,
  clientSecret, confirmParams: {return_url, payment_method_data}})`` confirms the
  intent with the typed card (or IBAN), shows the 3-D Secure prompt once when the
  card asks for it, answers ``{error}`` on a decline or failed authentication, and
  otherwise goes to ``return_url`` with ``payment_intent``,
  ``payment_intent_client_secret`` and ``redirect_status`` (``succeeded`` or
  ``pending``), as Stripe.js does; ``createPaymentMethod({elements})`` makes a
  payment method of what was typed with the publishable key, which Stripe
  accepts on ``POST /v1/payment_methods`` (localstripe refused it there);
  ``confirmSetup({elements, clientSecret, confirmParams, redirect})`` confirms a
  SetupIntent with the typed card (the deferred setup flow of the account's card
  page: ``elements({mode: "setup"})``), 3-D Secure with localstripe's prompt,
  answering ``{setupIntent}`` with ``redirect: "if_required"``, else going to
  ``return_url`` with ``setup_intent`` and ``redirect_status``; a failed
  authentication is ``setup_intent_authentication_failure``, as at Stripe.
  The legacy ``create("card")`` is gone: no page uses it any more.

Usage: ``python -m devtools.localstripe_server --port 8420``
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from devtools.localstripe_elements import (
    PAYMENT_ELEMENT_JS,
    extend_default_incomplete,
    extend_publishable_payment_methods,
)

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
    patched = original + CONFIRM_WITH_CARD_JS + PAYMENT_ELEMENT_JS
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


def _extend_invoice_pay(app: Any) -> None:
    """Invoice pay answers a 402 when the charge did not go through (see the module docstring).

    Only the route changes: localstripe's own subscription code pays invoices
    through the same method and must keep its 200 (an ``incomplete`` subscription).
    """
    from localstripe import resources, server
    from localstripe.errors import UserError

    url = "/v1/invoices/{id}/pay"
    original_pay = resources.Invoice._api_pay_invoice

    def card_error(message: str, code: str, **contents: Any) -> UserError:
        error = UserError(402, message, {"code": code, **contents})
        error.body["error"]["type"] = "card_error"
        return error

    def pay(id: str, **data: Any) -> Any:
        obj = original_pay(id, **data)
        if obj.status == "paid" or not obj.payment_intent:
            return obj
        intent = resources.PaymentIntent._api_retrieve(obj.payment_intent)
        if intent.status == "processing":
            return obj  # a bank debit on its way: Stripe answers 200, the invoice still open
        if intent.status == "requires_action":
            raise card_error(
                "This payment requires additional user action before it can be completed successfully.",
                "invoice_payment_intent_requires_action",
            )
        failed = intent.latest_charge
        code = (failed.failure_code if failed is not None else None) or "card_declined"
        raise card_error("Your card was declined.", "card_declined", decline_code=code)

    for route in app.router.routes():
        if route.method == "POST" and route.resource.canonical == url:
            route._handler = server.api_extra(pay, url)


def _extend_setup_intent_create() -> None:
    """A SetupIntent's customer must exist, as at Stripe (see the module docstring)."""
    from localstripe import resources
    from localstripe.errors import UserError

    setup_intent = resources.SetupIntent
    original_create = setup_intent._api_create

    def create(cls: Any, customer: Any = None, **data: Any) -> Any:
        if isinstance(customer, str) and f"customer:{customer}" not in resources.store:
            raise UserError(
                400, f"No such customer: '{customer}'", {"code": "resource_missing", "param": "customer"}
            )
        return original_create.__func__(cls, customer=customer, **data)

    setup_intent._api_create = classmethod(create)  # type: ignore[assignment]


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


def _extend_webhook_endpoints(app: Any) -> None:
    """``/v1/webhook_endpoints`` as at Stripe (see the module docstring)."""
    import re

    from localstripe import resources, server, webhooks
    from localstripe.errors import UserError

    version_pattern = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")

    def check_url(url: Any) -> None:
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
            raise UserError(400, "Invalid URL: must be an http(s) address")

    def check_events(events: Any) -> list[str]:
        if not isinstance(events, list) or not events or not all(isinstance(e, str) and e for e in events):
            raise UserError(400, "enabled_events must be a non-empty list of event types")
        return list(events)

    class WebhookEndpoint(resources.StripeObject):
        object = "webhook_endpoint"
        _id_prefix = "we_"

        def __init__(
            self,
            url: Any = None,
            enabled_events: Any = None,
            api_version: Any = None,
            description: Any = None,
            metadata: Any = None,
            connect: Any = None,
            **kwargs: Any,
        ) -> None:
            if kwargs:
                raise UserError(400, "Received unknown parameter: " + ", ".join(kwargs))
            check_url(url)
            events = check_events(enabled_events)
            if api_version is not None and not (
                isinstance(api_version, str) and version_pattern.match(api_version)
            ):
                raise UserError(400, "Invalid api_version")
            if resources.try_convert_to_bool(connect) not in (None, False):
                raise UserError(400, "Connect endpoints are not supported here")
            super().__init__()
            self.url = url
            self.enabled_events = events
            self.api_version = api_version
            self.description = description or None
            self.metadata = metadata or {}
            self.status = "enabled"
            self.application = None
            self._secret = "whsec_" + resources.random_id(32)
            self._deliver()

        def _deliver(self) -> None:
            if self.status == "enabled":
                events = None if self.enabled_events == ["*"] else self.enabled_events
                webhooks.register_webhook(self.id, self.url, self._secret, events)
            else:
                webhooks._webhooks.pop(self.id, None)

        def _update(
            self,
            url: Any = None,
            enabled_events: Any = None,
            disabled: Any = None,
            description: Any = None,
            metadata: Any = None,
            **kwargs: Any,
        ) -> None:
            if kwargs:  # api_version among them: fixed when the endpoint is created
                raise UserError(400, "Received unknown parameter: " + ", ".join(kwargs))
            if url is not None:
                check_url(url)
            events = None if enabled_events is None else check_events(enabled_events)
            disabled = resources.try_convert_to_bool(disabled)
            if disabled not in (None, True, False):
                raise UserError(400, "Invalid boolean: disabled")
            if url is not None:
                self.url = url
            if events is not None:
                self.enabled_events = events
            if disabled is not None:
                self.status = "disabled" if disabled else "enabled"
            if description is not None:
                self.description = description or None
            if isinstance(metadata, dict):
                self.metadata = {**self.metadata, **metadata}
            self._deliver()

        @classmethod
        def _api_delete(cls, id: str) -> Any:
            deleted = super()._api_delete(id)
            webhooks._webhooks.pop(id, None)
            return deleted

    async def create(request: Any) -> Any:
        data = await server.get_post_data(request) or {}
        data.pop("expand", None)
        endpoint = WebhookEndpoint._api_create(**data)
        return server.json_response({**endpoint._export(), "secret": endpoint._secret})

    url = "/v1/webhook_endpoints"
    app.router.add_post(url, create)
    app.router.add_get(url, server.api_list_all(WebhookEndpoint, url))
    app.router.add_get(url + "/{id}", server.api_retrieve(WebhookEndpoint, url))
    app.router.add_post(url + "/{id}", server.api_update(WebhookEndpoint, url))
    app.router.add_delete(url + "/{id}", server.api_delete(WebhookEndpoint, url))

    clear = resources.Store.clear

    def clear_with_endpoints(self: Any) -> None:
        clear(self)
        for webhook_id in [key for key in webhooks._webhooks if key.startswith("we_")]:
            del webhooks._webhooks[webhook_id]

    resources.Store.clear = clear_with_endpoints


#: Stripe's standard card pricing (minor units): what the demo's payouts charge as fees.
CARD_FEE_BPS, CARD_FEE_FIXED = 290, 30
UNMATCHED_AMOUNT = 700


def _extend_payouts(app: Any) -> None:
    """Automatic payouts with their balance transactions (see the module docstring)."""
    from aiohttp import web
    from localstripe import resources, server
    from localstripe.errors import UserError
    from localstripe.webhooks import schedule_webhook

    transactions = resources.BalanceTransaction

    def unmatched_charge(currency: str) -> None:
        method = resources.PaymentMethod(
            type="card", card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
        )
        charge = resources.Charge(
            amount=UNMATCHED_AMOUNT, currency=currency, source=method.id, description="outside the service"
        )
        charge._trigger_payment()

    def new_payout(currency: str, amount: int) -> Any:
        # Not localstripe's Payout(): that one is manual, EUR only, and announces itself at once.
        payout = object.__new__(resources.Payout)
        resources.StripeObject.__init__(payout)
        now = int(payout.created)
        payout.__dict__.update(
            amount=amount,
            currency=currency,
            arrival_date=now,
            automatic=True,
            balance_transaction=None,
            description="STRIPE PAYOUT",
            destination="ba_demo",
            failure_balance_transaction=None,
            failure_code=None,
            failure_message=None,
            metadata={},
            method="standard",
            original_payout=None,
            reconciliation_status="in_progress",
            reversed_by=None,
            source_type="card",
            statement_descriptor=None,
            status="paid",
            type="bank_account",
        )
        return payout

    async def pay_out(request: web.Request) -> web.Response:
        data = await request.json() if request.body_exists else {}
        pending = [
            t for t in transactions._api_list_all(None, limit=1)._list if not t.__dict__.get("_payout")
        ]
        currencies = sorted({t.currency for t in pending}) or ["usd"]
        if data.get("unmatched"):
            unmatched_charge(currencies[0])
            pending = [
                t for t in transactions._api_list_all(None, limit=1)._list if not t.__dict__.get("_payout")
            ]
        made = []
        for currency in sorted({t.currency for t in pending}):
            batch = [t for t in pending if t.currency == currency]
            for t in batch:
                if t.type == "charge":
                    t.fee = t.amount * CARD_FEE_BPS // 10000 + CARD_FEE_FIXED
                    t.fee_details = [{"amount": t.fee, "currency": currency, "type": "stripe_fee"}]
            amount = sum(t.amount - t.fee for t in batch)
            if amount <= 0:
                continue  # Stripe pays out positive balances only
            payout = new_payout(currency, amount)
            for t in batch:
                t._payout = payout.id
            schedule_webhook(resources.Event("payout.paid", payout))
            payout.reconciliation_status = "completed"
            schedule_webhook(resources.Event("payout.reconciliation_completed", payout))
            made.append(payout._export())
        if not made:
            raise UserError(400, "Nothing to pay out: no charge since the last payout")
        return server.json_response({"object": "list", "data": made})

    async def list_balance_transactions(request: web.Request) -> web.Response:
        data = server.unflatten_data(request.query)
        expand = data.pop("expand", None)
        payout = data.pop("payout", None)
        listed = transactions._api_list_all(
            "/v1/balance_transactions",
            limit=data.pop("limit", None),
            starting_after=data.pop("starting_after", None),
        )
        if payout is not None:
            listed._list = [t for t in listed._list if t.__dict__.get("_payout") == payout]
        return server.json_response(listed._export(expand=expand))

    app.router.add_post("/_config/payouts", pay_out)
    for route in app.router.routes():
        if route.method == "GET" and route.resource.canonical == "/v1/balance_transactions":
            route._handler = list_balance_transactions


def _extend_objects(app: Any) -> None:
    """Serve given customers and subscriptions by their ids (see the module docstring)."""
    from aiohttp import web
    from localstripe import server

    given: dict[str, dict[str, Any]] = {}

    async def add_objects(request: web.Request) -> web.Response:
        body = await request.json()
        for kind in ("customers", "subscriptions"):
            for obj in body.get(kind, []):
                given[obj["id"]] = obj
        return server.json_response({"objects": len(given)})

    def served(original: Any) -> Any:
        async def retrieve(request: web.Request) -> web.Response:
            found = given.get(request.match_info.get("id", ""))
            if found is not None:
                return server.json_response(found)
            return await original(request)

        return retrieve

    app.router.add_post("/_config/objects", add_objects)
    for route in app.router.routes():
        if route.method == "GET" and route.resource.canonical in (
            "/v1/customers/{id}",
            "/v1/subscriptions/{id}",
        ):
            route._handler = served(route._handler)
        if route.method == "DELETE" and route.resource.canonical == "/_config/data":
            route._handler = _forgetting(given, route._handler)


def _forgetting(given: dict[str, Any], original: Any) -> Any:
    async def forget(request: Any) -> Any:
        given.clear()
        return await original(request)

    return forget


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
#: Stripe's SEPA Direct Debit test IBANs: both debits stay ``processing``; the bank's answer
#: (``settle``) is a success for the first, a failure for the second.
SEPA_SUCCEEDS_IBAN = "DE89370400440532013000"
SEPA_FAILS_IBAN = "DE62370400440532013001"


def _bank_fails(method: Any) -> bool:
    return getattr(method, "_sepa_debit_iban", None) == SEPA_FAILS_IBAN


def _extend_processing(app: Any) -> None:
    """Charges that stay ``pending`` until settled, SEPA debits among them (see the module docstring)."""
    from aiohttp import web
    from localstripe import resources, server
    from localstripe.webhooks import schedule_webhook

    charge = resources.Charge
    original = charge._initialize_charge
    # Our pending charges replace localstripe's own half-second timer for SEPA debits.
    charge._is_async_payment_method = lambda self: False

    def announce(kind: str, pending: Any) -> None:
        schedule_webhook(resources.Event(f"charge.{kind}", pending))

    def initialize(
        self: Any, on_success: Any = None, on_failure_now: Any = None, on_failure_later: Any = None
    ) -> None:
        method = resources.PaymentMethod._api_retrieve(self.payment_method)
        debit = method.type == "sepa_debit"
        if debit or (getattr(method, "_card_number", None) == PROCESSING_CARD and self._authorized):
            self.status = "pending"
            self._settle, self._fail_later = on_success, on_failure_later
            if debit:
                self._mandate = _mandate_for(resources, method).id
            if self.payment_intent:
                intent = resources.PaymentIntent._api_retrieve(self.payment_intent)
                schedule_webhook(resources.Event("payment_intent.processing", intent))
            announce("pending", self)
            return
        original(self, on_success, on_failure_now, on_failure_later)

    charge._initialize_charge = initialize
    charge.payment_method_details = property(_payment_method_details)  # type: ignore[attr-defined]
    _extend_sepa_subscriptions(resources, schedule_webhook)

    def refuse() -> web.Response:
        return web.json_response({"error": {"type": "invalid_request_error"}}, status=400)

    def fail_now(pending: Any) -> web.Response:
        pending.__dict__.pop("_settle", None)
        pending._set_auth_failure()
        if _is_debit(pending):
            pending.failure_code, pending.failure_message = "insufficient_funds", "Insufficient funds."
        announce("failed", pending)
        if report := pending.__dict__.pop("_fail_later", None):
            report()
        return server.json_response(pending._export())

    async def settle(request: web.Request) -> web.Response:
        pending = charge._api_retrieve(request.match_info["id"])
        if pending.status != "pending":
            return refuse()
        if _bank_fails(resources.PaymentMethod._api_retrieve(pending.payment_method)):
            return fail_now(pending)  # this IBAN's bank always refuses the debit
        pending.__dict__.pop("_fail_later", None)
        pending.status = "succeeded"
        pending._trigger_payment(pending.__dict__.pop("_settle", None))
        announce("succeeded", pending)
        return server.json_response(pending._export())

    async def fail(request: web.Request) -> web.Response:
        pending = charge._api_retrieve(request.match_info["id"])
        return fail_now(pending) if pending.status == "pending" else refuse()

    app.router.add_post("/_config/charges/{id}/settle", settle)
    app.router.add_post("/_config/charges/{id}/fail", fail)
    _extend_mandates(app, resources, server)


def _is_debit(charge: Any) -> bool:
    return "_mandate" in charge.__dict__


def _payment_method_details(charge: Any) -> dict[str, Any]:
    """Stripe's ``payment_method_details`` of a charge (localstripe gives none)."""
    from localstripe import resources

    method = resources.PaymentMethod._api_retrieve(charge.payment_method)
    if not _is_debit(charge):
        card = getattr(method, "card", None) or {}
        keys = ("brand", "country", "exp_month", "exp_year", "fingerprint", "funding", "last4")
        return {"type": "card", "card": {**{k: card.get(k) for k in keys}, "mandate": None}}
    debit = method.sepa_debit
    details = {k: debit[k] for k in ("bank_code", "branch_code", "country", "fingerprint", "last4")}
    return {"type": "sepa_debit", "sepa_debit": {**details, "mandate": charge._mandate}}


def _mandate_for(resources: Any, method: Any) -> Any:
    """The method's mandate (one per bank account, as Stripe's reusable SEPA mandates)."""
    if (mandate_id := method.__dict__.get("_mandate")) is not None:
        return resources.store[f"mandate:{mandate_id}"]
    mandate = object.__new__(_mandate_class(resources))
    resources.StripeObject.__init__(mandate)
    reference = resources.random_id(16).upper()
    mandate.__dict__.update(
        customer_acceptance={
            "accepted_at": mandate.created,
            "online": {"ip_address": "127.0.0.1", "user_agent": "localstripe"},
            "type": "online",
        },
        multi_use={} if method.customer else None,
        single_use=None if method.customer else {"amount": None, "currency": "eur"},
        payment_method=method.id,
        payment_method_details={
            "type": "sepa_debit",
            "sepa_debit": {
                "reference": reference,
                "url": f"https://localstripe.invalid/mandates/{reference}",
            },
        },
        status="active",
        type="multi_use" if method.customer else "single_use",
    )
    method._mandate = mandate.id
    return mandate


_MANDATE: list[Any] = []


def _mandate_class(resources: Any) -> Any:
    if not _MANDATE:

        class Mandate(resources.StripeObject):
            object = "mandate"
            _id_prefix = "mandate_"

        _MANDATE.append(Mandate)
    return _MANDATE[0]


def _extend_mandates(app: Any, resources: Any, server: Any) -> None:
    """``GET /v1/mandates/{id}``, and SEPA payment methods in Stripe's shape (no mandate on them)."""
    url = "/v1/mandates"
    app.router.add_get(url + "/{id}", server.api_retrieve(_mandate_class(resources), url))
    method = resources.PaymentMethod
    original_init = method.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if self.type == "sepa_debit":
            iban = self._sepa_debit_iban
            self.sepa_debit = {
                "bank_code": iban[4:12],
                "branch_code": "",
                "country": iban[:2],
                "fingerprint": self.sepa_debit["fingerprint"],
                "generated_from": {"charge": None, "setup_attempt": None},
                "last4": iban[-4:],
            }

    method.__init__ = init  # type: ignore[method-assign]


def _extend_sepa_subscriptions(resources: Any, schedule_webhook: Any) -> None:
    """A subscription paid by SEPA debit behaves as at Stripe, not as localstripe's old Sources model.

    Its first invoice processing leaves it ``incomplete`` (localstripe made it
    ``active``); the first debit failing makes it ``incomplete_expired``, a
    renewal's ``past_due`` (localstripe cancelled it either way).  Each change
    sends ``customer.subscription.updated``.
    """
    subscription = resources.Subscription
    original_create_invoice = subscription._create_invoice
    original_recurring_failure = subscription._on_recurring_payment_failure

    def create_invoice(self: Any) -> None:
        before = self.status
        original_create_invoice(self)
        invoice = resources.Invoice._api_retrieve(self.latest_invoice) if self.latest_invoice else None
        if (
            invoice is not None
            and invoice.status != "paid"
            and self.status == "active"
            and before != "active"
        ):
            self.status = before  # still waiting for the bank

    def updated(self: Any, status: str) -> None:
        self.status = status
        schedule_webhook(resources.Event("customer.subscription.updated", self))

    def first_debit_failed(self: Any, invoice: Any) -> None:
        updated(self, "incomplete_expired")

    def recurring_failure(self: Any, invoice: Any) -> Any:
        if invoice.charge is not None and _is_debit(invoice.charge):
            return updated(self, "past_due")
        return original_recurring_failure(self, invoice)

    subscription._create_invoice = create_invoice
    subscription._on_initial_payment_failure_later = first_debit_failed
    subscription._on_recurring_payment_failure = recurring_failure


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
    _extend_webhook_endpoints(app)
    _extend_payouts(app)
    _extend_objects(app)

    _extend_idempotency(app)
    _extend_processing(app)
    _extend_subscription_update()
    _extend_customer_update()
    _extend_invoice_pay(app)
    _extend_setup_intent_create()
    extend_default_incomplete()
    extend_publishable_payment_methods(app)
    logging.basicConfig(level=logging.WARNING)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
