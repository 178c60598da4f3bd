/* The account's card form: a SetupIntent confirmed with Stripe's card element.
   The card goes from the element straight to Stripe; our server only learns its id. */
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) return;
  var cfg = JSON.parse(document.getElementById("account-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var stripe = null, card = null, busy = false;

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
    card = stripe.elements({ locale: cfg.locale }).create("card", { style: { base: { fontSize: "16px" } } });
    card.mount("#card-element");
    $("pay").hidden = false;
    return true;
  }
  function save() {
    setBusy(true); showError("");
    return post(cfg.startUrl, withToken()).then(function (res) {
      if (!res.ok) { showError(res.body.error.message); return false; }
      var method = { card: card, billing_details: res.body.billing };
      return stripe.confirmCardSetup(res.body.client_secret, { payment_method: method }).then(function (r) {
        if (r.error) { showError(declineText(r.error)); return false; }
        var data = withToken();
        data.append("setup_intent_id", r.setupIntent.id);
        return post(cfg.confirmUrl, data).then(function (done) {
          if (done.body.redirect) { location.assign(done.body.redirect); return true; }
          showError((done.body.error && done.body.error.message) || cfg.declines.payment_error);
          return false;
        });
      });
    }).catch(function () { showError(cfg.declines.payment_error); return false; })
      .then(function (ok) { if (!ok) setBusy(false); return ok; });
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
