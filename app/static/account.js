/* The account's card form: Stripe's Payment Element in setup mode (cards only), then the
   SetupIntent made on pressing the button, confirmed with confirmSetup (3-D Secure in place,
   no redirect for cards).  The card goes from the element straight to Stripe; our server
   only learns its id. */
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) return;
  var cfg = JSON.parse(document.getElementById("account-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var stripe = null, elements = null, busy = false;

  function showError(message) {
    var box = $("form-error");
    box.textContent = message; box.hidden = !message;
  }
  function declineText(error) {
    return cfg.declines[error && (error.decline_code || error.code)] || cfg.declines.payment_error;
  }
  function post(url, data) {
    return fetch(url, { method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json" } }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    });
  }
  function withToken() {
    var data = new FormData();
    data.append("csrf_token", form.elements.csrf_token.value);
    return data;
  }
  function setBusy(on) {
    var button = $("submit");
    busy = on; button.disabled = on;
    if (on) { button.setAttribute("data-label", button.textContent); button.textContent = cfg.texts.working; }
    else if (button.getAttribute("data-label")) button.textContent = button.getAttribute("data-label");
  }
  function mountStripe() {
    if (stripe || !window.Stripe) return !!stripe;
    stripe = window.Stripe(cfg.publishableKey, { locale: cfg.locale });
    // The intent comes on pressing the button: the elements know only that they collect a card.
    elements = stripe.elements({ mode: "setup", paymentMethodTypes: ["card"], locale: cfg.locale,
      appearance: cfg.appearance });
    elements.create("payment", { layout: "tabs" }).mount("#card-element");
    $("pay").hidden = false;
    return true;
  }
  function save() {
    setBusy(true); showError("");
    // Stripe checks its fields first (and says there what is missing), then the intent is made.
    return elements.submit().then(function (checked) {
      if (checked.error) return false;
      return post(cfg.startUrl, withToken()).then(confirm);
    }).catch(function () { showError(cfg.declines.payment_error); return false; })
      .then(function (ok) { if (!ok) setBusy(false); return ok; });
  }
  function confirm(res) {
    if (!res.ok) { showError(res.body.error.message); return false; }
    return stripe.confirmSetup({ elements: elements, clientSecret: res.body.client_secret, redirect: "if_required",
      // return_url: Stripe's due, unused while only cards (which never redirect) are offered.
      confirmParams: { return_url: cfg.returnUrl, payment_method_data: { billing_details: res.body.billing } } }).then(function (r) {
        if (r.error) { showError(declineText(r.error)); return false; }
        var data = withToken();
        data.append("setup_intent_id", r.setupIntent.id);
        return post(cfg.confirmUrl, data).then(function (done) {
          if (done.body.redirect) { location.assign(done.body.redirect); return true; }
          showError((done.body.error && done.body.error.message) || cfg.declines.payment_error);
          return false;
        });
      });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (busy) return;
    if (!mountStripe()) { showError(cfg.texts.no_stripe); return; }
    save();
  });
  var stripeTag = $("stripe-js");
  if (window.Stripe) mountStripe(); else if (stripeTag) stripeTag.addEventListener("load", mountStripe);
})();
