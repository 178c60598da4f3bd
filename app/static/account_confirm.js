/* The account page: a renewal the member's bank must confirm (3-D Secure).
   Our server hands over the payment intent's client secret; Stripe.js runs the bank's
   check with Stripe (confirmCardPayment), then our server reads the invoice back. */
(function () {
  "use strict";
  var boxes = document.querySelectorAll(".confirm-payment");
  var cfgTag = document.getElementById("confirm-config");
  if (!boxes.length || !cfgTag) return;
  var cfg = JSON.parse(cfgTag.textContent);
  var token = document.getElementById("confirm-csrf").value;
  var stripe = null, busy = false;

  function post(url) {
    var data = new FormData();
    data.append("csrf_token", token);
    return fetch(url, { method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json" } }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    });
  }
  function declineText(error) {
    return cfg.declines[error && (error.decline_code || error.code)] || cfg.declines.payment_error;
  }
  function getStripe() {
    if (!stripe && window.Stripe) stripe = window.Stripe(cfg.publishableKey, { locale: cfg.locale });
    return stripe;
  }

  function confirm(box) {
    var button = box.querySelector("button");
    var errorBox = box.querySelector(".confirm-payment-error");
    function show(message) { errorBox.textContent = message; errorBox.hidden = !message; }
    function done(ok) {
      if (!ok) { busy = false; button.disabled = false; button.textContent = button.getAttribute("data-label"); }
    }
    function follow(res) {
      if (res.body.redirect) { location.assign(res.body.redirect); return true; }
      show((res.body.error && res.body.error.message) || cfg.declines.payment_error);
      return false;
    }
    if (busy) return;
    if (!getStripe()) { show(cfg.texts.no_stripe); return; }
    busy = true; button.disabled = true; show("");
    button.setAttribute("data-label", button.textContent); button.textContent = cfg.texts.working;
    post(box.getAttribute("data-start")).then(function (res) {
      if (!res.ok || res.body.redirect) return follow(res);
      var data = res.body.payment_method ? { payment_method: res.body.payment_method } : undefined;
      return stripe.confirmCardPayment(res.body.client_secret, data).then(function (r) {
        if (r.error) { show(declineText(r.error)); return false; }
        return post(box.getAttribute("data-done")).then(follow);
      });
    }).catch(function () { show(cfg.declines.payment_error); return false; }).then(done);
  }

  Array.prototype.forEach.call(boxes, function (box) {
    box.querySelector("button").addEventListener("click", function () { confirm(box); });
  });
})();
