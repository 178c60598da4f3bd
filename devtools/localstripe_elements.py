"""localstripe extensions for Stripe's current browser integration (issue 14).

Described in ``devtools/localstripe_server.py``'s docstring with the others
(the twelfth to the fourteenth); kept here so that module stays readable.
"""

from __future__ import annotations

from typing import Any

#: The fake Payment Element and Express Checkout Element, appended to localstripe's Stripe.js
#: after ``CONFIRM_WITH_CARD_JS`` (whose card confirmation and 3-D Secure prompt it reuses).
PAYMENT_ELEMENT_JS = r"""
/* devtools extension: the Payment Element and Express Checkout Element, as plain inputs. */
(function () {
  const makeStripe = Stripe;
  const FIELDS = ['number', 'exp_month', 'exp_year', 'cvc', 'postal_code'];
  const offersSepa = options => (options.currency || '').toLowerCase() === 'eur' ||
    (options.paymentMethodTypes || []).indexOf('sepa_debit') >= 0;
  Stripe = (apiKey, stripeOptions) => {
    const stripe = makeStripe(apiKey, stripeOptions);
    const authenticate = stripe.confirmCardPayment, setUp = stripe.confirmCardSetup;
    stripe.elements = options => {
      const group = {options: Object.assign({}, options), updates: [], payment: null, express: null};
      window.__elements = group;
      group.update = changes => {
        Object.assign(group.options, changes);
        group.updates.push(Object.assign({}, changes));
        if (group.express) group.express.updates.push(Object.assign({}, changes));
        if (group.payment) group.payment._render();
      };
      group.create = (type, elementOptions) => {
        if (type === 'payment') return (group.payment = paymentElement(group, elementOptions || {}));
        if (type === 'expressCheckout') return (group.express = expressElement(group, elementOptions || {}));
        throw new Error('localstripe: no ' + type + ' Element here');
      };
      group.getElement = type => type === 'payment' ? group.payment : group.express;
      group.submit = async () => {
        if (group.wallet) return {};  // the wallet's sheet gave the payment details
        const p = group.payment;
        if (!p || !p._inputs) return {error: {type: 'validation_error', message: 'incomplete'}};
        const empty = p._method() === 'card'
          ? FIELDS.filter(f => f !== 'postal_code' && !p._inputs[f].value.trim())
          : (p._inputs.iban.value.trim() ? [] : ['iban']);
        return empty.length ? {error: {type: 'validation_error', code: 'incomplete_' + empty[0],
                                       message: 'incomplete ' + empty[0]}} : {};
      };
      return group;
    };

    function paymentElement(group, elementOptions) {
      const el = {options: elementOptions, _inputs: null, _box: null, listeners: {}};
      el.on = (name, handler) => { (el.listeners[name] = el.listeners[name] || []).push(handler); };
      // As Stripe's: ``value.type`` is the chosen method (here: ``sepa_debit`` once an IBAN is typed).
      el._changed = () => (el.listeners.change || []).forEach(h => h({
        elementType: 'payment', complete: false, empty: false, value: {type: el._method()}}));
      el._method = () => (el._inputs.iban && el._inputs.iban.value.trim()) ? 'sepa_debit' : 'card';
      el._render = () => {
        if (!el._box) return;
        const kept = {};
        Object.keys(el._inputs || {}).forEach(f => { kept[f] = el._inputs[f].value; });
        el._box.textContent = 'localstripe: ';
        el._inputs = {};
        const fields = FIELDS.concat(offersSepa(group.options) ? ['iban'] : []);
        fields.forEach(field => {
          const input = document.createElement('input');
          input.type = 'text'; input.placeholder = field; input.value = kept[field] || '';
          input.setAttribute('size', field === 'number' || field === 'iban' ? 19 : 5);
          input.oninput = el._changed;
          el._inputs[field] = input; el._box.appendChild(input);
        });
        // Stripe's own mandate text, as its element shows it unless ``terms.sepaDebit`` is 'never'.
        if (offersSepa(group.options) && (el.options.terms || {}).sepaDebit !== 'never') {
          const terms = document.createElement('p');
          terms.className = 'localstripe-terms';
          terms.textContent = 'localstripe: By providing your IBAN and confirming this payment, you authorise Stripe...';
          el._box.appendChild(terms);
        }
        if (Object.keys(kept).length) el._changed();  // the methods offered may have changed
        el._box.setAttribute('lang', group.options.locale || 'auto');
      };
      el.mount = target => {
        el._box = typeof target === 'string' ? document.querySelector(target) : target;
        el._render();
        (el.listeners.ready || []).forEach(h => h({elementType: 'payment'}));
      };
      el.unmount = () => { if (el._box) el._box.textContent = ''; el._inputs = null; };
      el.destroy = el.unmount;
      return el;
    }

    function expressElement(group, elementOptions) {
      // What a test reads: the options it was created with (and the group's), every update since.
      const el = {options: elementOptions, created: Object.assign({}, group.options), updates: [],
                  listeners: {}};
      window.__expressCheckout = el;
      el.on = (name, handler) => { (el.listeners[name] = el.listeners[name] || []).push(handler); };
      el.update = changes => { el.updates.push(Object.assign({}, changes)); };
      // A test's reader taps the wallet button and approves its sheet, as Stripe.js fires them:
      // ``click`` (the page must ``resolve`` it to open the sheet), then ``confirm``.  ``sheet``
      // keeps the sum the sheet showed: the elements' amount, currency and mode at that moment.
      el.confirm = ({expressPaymentType, billingDetails}) => {
        let opened = null;
        (el.listeners.click || []).forEach(h => h({expressPaymentType, resolve: o => { opened = o || {}; }}));
        if (!opened) return false;
        const now = group.options;
        el.sheet = {amount: now.amount, currency: now.currency, mode: now.mode, options: opened};
        group.wallet = {type: expressPaymentType, billingDetails: Object.assign({}, billingDetails)};
        const event = {expressPaymentType, billingDetails: group.wallet.billingDetails,
                       paymentFailed: () => { el.failed = true; group.wallet = null; }};
        (el.listeners.confirm || []).forEach(h => h(event));
        return true;
      };
      el.mount = () => { (el.listeners.ready || []).forEach(h => h({availablePaymentMethods: null})); };
      el.unmount = el.destroy = () => {};
      return el;
    }

    // Card data from the element goes to localstripe, never to the page's server.
    function card(inputs) {
      const year = inputs.exp_year.value.trim();
      return {number: inputs.number.value.replace(/\s+/g, ''), exp_month: inputs.exp_month.value.trim(),
              exp_year: year.length === 2 ? '20' + year : year, cvc: inputs.cvc.value.trim()};
    }

    function methodData(elements, billing) {
      if (elements.wallet) {  // the wallet's card (a test card), with the sheet's billing details
        const details = Object.assign({}, elements.wallet.billingDetails, billing);
        return {type: 'card', card: {number: '4242424242424242', exp_month: '12', exp_year: '2034', cvc: '123'},
                billing_details: details};
      }
      const inputs = elements.payment._inputs, method = elements.payment._method();
      const details = Object.assign({}, billing);
      if (method === 'card' && inputs.postal_code.value) details.address = {postal_code: inputs.postal_code.value};
      return method === 'card' ? {type: 'card', card: card(inputs), billing_details: details}
        : {type: 'sepa_debit', sepa_debit: {iban: inputs.iban.value.replace(/\s+/g, '')}, billing_details: details};
    }

    // As Stripe.js: a payment method from the elements, made with the publishable key.
    stripe.createPaymentMethod = async ({elements, params}) => {
      const response = await fetch(`${LOCALSTRIPE_BASE_API}/v1/payment_methods`, {
        method: 'POST', headers: {Authorization: 'Bearer ' + apiKey},
        body: JSON.stringify(methodData(elements, (params || {}).billing_details))});
      const body = await response.json().catch(() => ({}));
      if (response.status !== 200 || body.error) return {error: body.error};
      return {paymentMethod: body};
    };

    // A SetupIntent confirmed with the element's card (3-D Secure: localstripe's prompt, once).
    stripe.confirmSetup = async ({elements, clientSecret, confirmParams, redirect}) => {
      const data = methodData(elements, ((confirmParams || {}).payment_method_data || {}).billing_details);
      const answer = await setUp(clientSecret, {payment_method: {card: data.card, billing_details: data.billing_details}});
      if (answer.error) {
        const failed = /authentication failed/.test(answer.error.message || '');
        return {error: failed ? {type: 'card_error', code: 'setup_intent_authentication_failure',
                                 message: answer.error.message} : answer.error};
      }
      if (redirect === 'if_required') return {setupIntent: answer.setupIntent};
      const back = new URL(confirmParams.return_url, location.href);
      back.searchParams.set('setup_intent', answer.setupIntent.id);
      back.searchParams.set('setup_intent_client_secret', clientSecret);
      back.searchParams.set('redirect_status', 'succeeded');
      location.assign(back.toString());
      return new Promise(() => {});
    };

    stripe.confirmPayment = async ({elements, clientSecret, confirmParams}) => {
      const pi = clientSecret.match(/^(pi_\w+)_secret_/)[1];
      const data = methodData(elements, (confirmParams.payment_method_data || {}).billing_details);
      elements.wallet = null;  // used once, as the sheet closes
      const response = await fetch(
        `${LOCALSTRIPE_BASE_API}/v1/payment_intents/${pi}/_authenticate/card`, {
          method: 'POST',
          body: JSON.stringify({key: apiKey, client_secret: clientSecret, payment_method_data: data})});
      let intent = await response.json().catch(() => ({}));
      if (response.status !== 200 || intent.error) return {error: intent.error};
      if (intent.status === 'requires_action') {  // 3-D Secure: one prompt
        const answer = await authenticate(clientSecret);
        if (answer.error) return {error: answer.error};
        intent = answer.paymentIntent;
      }
      if (intent.status === 'requires_payment_method') {
        return {error: {type: 'card_error', code: 'payment_intent_authentication_failure',
                        message: 'The provided PaymentMethod has failed authentication.'}};
      }
      const status = intent.status === 'succeeded' ? 'succeeded' : 'pending';
      const back = new URL(confirmParams.return_url, location.href);
      back.searchParams.set('payment_intent', intent.id);
      back.searchParams.set('payment_intent_client_secret', clientSecret);
      back.searchParams.set('redirect_status', status);
      location.assign(back.toString());
      return new Promise(() => {});  // as Stripe.js: the page is leaving
    };
    return stripe;
  };
})();
"""


def extend_default_incomplete() -> None:
    """Subscriptions created ``default_incomplete`` and payment intents with automatic methods."""
    from localstripe import resources
    from localstripe.errors import UserError
    from localstripe.webhooks import schedule_webhook

    subscription = resources.Subscription
    create_invoice = subscription._create_invoice
    init = subscription.__init__
    first_payment = subscription._on_initial_payment_success

    def new_init(
        self: Any,
        payment_behavior: str = "allow_incomplete",
        payment_settings: dict[str, Any] | None = None,
        **data: Any,
    ) -> None:
        settings = payment_settings or {}
        save = settings.get("save_default_payment_method") or "off"
        if not isinstance(settings, dict) or save not in ("off", "on_subscription"):
            raise UserError(400, "Bad request")
        # Set before localstripe's own __init__, which charges the first invoice at once.
        self.__dict__["_default_incomplete"] = payment_behavior == "default_incomplete"
        self.__dict__["payment_settings"] = {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": save,
        }
        self.__dict__.setdefault("default_payment_method", None)
        if payment_behavior == "default_incomplete":
            payment_behavior = "allow_incomplete"
        init(self, payment_behavior=payment_behavior, **data)

    def new_create_invoice(self: Any) -> None:
        if not self.__dict__.pop("_default_incomplete", False):
            create_invoice(self)
            return
        # As at Stripe: the first invoice is finalized and its payment intent waits for the
        # browser (``requires_payment_method``); nothing is charged yet.
        pending = [
            item
            for item in resources.InvoiceItem._api_list_all(None, customer=self.customer, limit=99)._list
            if item.invoice is None
        ]
        invoice = resources.Invoice(
            customer=self.customer,
            subscription=self.id,
            items=pending + list(self.items._list),
            tax_percent=self.tax_percent,
            default_tax_rates=[rate.id for rate in (self.default_tax_rates or [])],
            date=self.current_period_start,
        )
        invoice._finalize()
        self.__dict__["_waits_for_browser"] = True
        intent = resources.PaymentIntent(
            amount=invoice.total, currency=invoice.currency, customer=self.customer
        )
        invoice.payment_intent = intent.id
        intent.invoice = invoice.id

    def on_first_payment(self: Any, invoice: Any) -> None:
        first_payment(self, invoice)
        if self.__dict__.pop("_waits_for_browser", False):
            # As at Stripe: incomplete -> active is announced (localstripe only set the status).
            schedule_webhook(resources.Event("customer.subscription.updated", self))
        if self.payment_settings["save_default_payment_method"] != "on_subscription":
            return
        intent = resources.PaymentIntent._api_retrieve(invoice.payment_intent)
        method = resources.PaymentMethod._api_retrieve(intent.payment_method)
        method.customer = method.customer or self.customer  # saved for renewals, as at Stripe
        self.default_payment_method = method.id

    subscription.__init__ = new_init
    subscription._create_invoice = new_create_invoice
    subscription._on_initial_payment_success = on_first_payment

    intent_class = resources.PaymentIntent
    intent_init = intent_class.__init__

    def new_intent_init(self: Any, automatic_payment_methods: Any = None, **data: Any) -> None:
        enabled = None
        if automatic_payment_methods is not None:
            if not isinstance(automatic_payment_methods, dict):
                raise UserError(400, "Bad request")
            enabled = resources.try_convert_to_bool(automatic_payment_methods.get("enabled"))
            if not isinstance(enabled, bool):
                raise UserError(400, "Bad request")
        intent_init(self, **data)
        self.automatic_payment_methods = {"enabled": enabled} if enabled is not None else None

    intent_class.__init__ = new_intent_init


def extend_publishable_payment_methods(app: Any) -> None:
    """``POST /v1/payment_methods`` with the publishable key, as Stripe.js makes them (Stripe
    takes it there; localstripe took it only for tokens and sources)."""
    from aiohttp import web
    from multidict import CIMultiDict

    @web.middleware
    async def publishable(request: web.Request, handler: Any) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        if (
            request.method == "POST"
            and request.path == "/v1/payment_methods"
            and header.startswith("Bearer pk_")
        ):
            headers = CIMultiDict(request.headers)
            headers["Authorization"] = "Bearer sk_test_stripe_js"  # what localstripe's check wants
            request = request.clone(headers=headers)
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.insert(0, publishable)

    # That request carries an Authorization header, so the browser asks first (a CORS
    # preflight), which localstripe neither answers nor allows the header in.  Stripe's API
    # answers it; so does this.  (Playwright's request routing in the browser tests answers
    # preflights itself, which is why tests/e2e/test_unrouted_browser.py pays without it.)
    @web.middleware
    async def preflight(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "OPTIONS" and request.headers.get("Origin"):
            return web.Response(status=204)
        response: web.StreamResponse = await handler(request)
        return response

    async def allow_authorization(request: web.Request, response: web.StreamResponse) -> None:
        if request.headers.get("Origin"):
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, Accept, Authorization"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS, DELETE"

    app.middlewares.insert(0, preflight)
    app.on_response_prepare.append(allow_authorization)  # after localstripe's own CORS headers
