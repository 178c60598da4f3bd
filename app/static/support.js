/* The support page: totals as the reader chooses, then pay with Stripe.js.
   Card data goes from Stripe's card element straight to Stripe. */
(function () {
  "use strict";
  var form = document.getElementById("support-form");
  var cfg = JSON.parse(document.getElementById("support-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var stripe = null, card = null, busy = false, stripeFailed = false;
  // The server's reading of the current choice (null while asked, or refused): all we show and pay.
  var quote = null, asked = "";

  function value(name) {
    var el = form.querySelector("[name=" + name + "]:checked") || form.elements[name];
    return el ? el.value : "";
  }
  // "{amount}" in its own <bdi>, as the server writes it.  Nodes are changed in place, only
  // when their text changes: a node replaced between mousedown and mouseup loses the click.
  function say(el, template, amount) {
    var parts = template.split("{amount}"), texts = [parts[0], amount, parts.slice(1).join("")];
    if (el.childNodes.length !== 3 || !el.querySelector("bdi")) {
      el.textContent = "";
      el.appendChild(document.createTextNode(""));
      el.appendChild(document.createElement("bdi"));
      el.appendChild(document.createTextNode(""));
    }
    for (var i = 0; i < 3; i++) {
      if (el.childNodes[i].textContent !== texts[i]) el.childNodes[i].textContent = texts[i];
    }
  }
  function choice() {  // the amount fields, as the form would send them
    var q = new URLSearchParams();
    ["frequency", "currency", "amount", "custom_amount"].forEach(function (k) { q.set(k, value(k)); });
    if ($("cover_fees").checked) q.set("cover_fees", "1");
    return q.toString();
  }
  function show(q, refused) {  // q: the server's reading; none yet (asked) or refused
    var total = $("total");
    quote = q;
    total.hidden = refused; total.setAttribute("aria-busy", String(!q && !refused));
    $("submit").disabled = busy || !q;
    if (!q) return;
    say($("total"), cfg.totals[q.frequency], q.total_money);
    say($("submit"), cfg.buttons[q.frequency], q.button_money);
  }
  function amountError(message) {
    $("amount-error").textContent = message || "";
    if (message) $("custom_amount").setAttribute("aria-invalid", "true");
    else $("custom_amount").removeAttribute("aria-invalid");
  }
  function refresh() {  // ask the server to read the choice; pay nothing until it has
    var query = choice();
    if (query === asked) return;
    asked = query; show(null, false);
    fetch(cfg.quoteUrl + "?" + query, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (query !== asked) return;  // the reader changed it again: a later answer is coming
        var errors = res.body.errors || {};
        amountError(errors.amount || errors.currency || errors.frequency);
        show(res.ok ? res.body : null, !res.ok);
      }, function () { if (query === asked) { asked = ""; showError(cfg.declines.payment_error); } });
    var sw = $("lang-switch"), url = new URL(sw.href, location.href);
    new URLSearchParams(query).forEach(function (v, k) {
      if (v) url.searchParams.set(k, v); else url.searchParams.delete(k);
    });
    if (!$("cover_fees").checked) url.searchParams.delete("cover_fees");
    sw.href = url.pathname + url.search;
  }
  function relabelPresets() {
    var c = cfg.currencies[value("currency")], inputs = $("presets").querySelectorAll("input[data-minor]");
    for (var i = 0; i < inputs.length && i < c.presets.length; i++) {
      inputs[i].value = c.presets[i][0];
      inputs[i].setAttribute("data-minor", c.presets[i][1]);
      inputs[i].parentNode.querySelector("bdi").textContent = c.labels[i];
    }
  }
  function showError(message) {
    var box = $("form-error");
    box.textContent = message; box.hidden = !message;
  }
  function fieldErrors(errors) {
    ["amount", "email", "name"].forEach(function (f) {
      var out = $(f + "-error"), input = f === "amount" ? $("custom_amount") : $(f);
      out.textContent = errors[f] || "";
      if (errors[f]) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    });
    var first = Object.keys(errors)[0];
    if (first) ($(first === "amount" ? "custom_amount" : first) || form).focus();
    showError(Object.keys(errors).length ? cfg.texts.check_fields : "");
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
  var idleLabel = null;
  function setBusy(on, label) {
    var button = $("submit");
    busy = on; button.disabled = on || !quote;
    if (on) { idleLabel = button.innerHTML; button.textContent = label; }
    else if (idleLabel !== null) button.innerHTML = idleLabel;
  }
  function mountStripe() {
    if (stripe || !window.Stripe) return !!stripe;
    stripe = window.Stripe(cfg.publishableKey, { locale: cfg.locale });
    var elements = stripe.elements({ locale: cfg.locale });
    card = elements.create("card", { hidePostalCode: false, style: { base: { fontSize: "16px" } } });
    card.mount("#card-element");
    $("pay").hidden = false;
    mountPaymentRequest();
    return true;
  }
  function mountPaymentRequest() {
    if (typeof stripe.paymentRequest !== "function") return;
    var pr = stripe.paymentRequest({ country: "US", currency: value("currency"),
      total: { label: document.title, amount: quote ? quote.total : 100 }, requestPayerEmail: true, requestPayerName: true });
    pr.canMakePayment().then(function (ok) {
      if (!ok) return;
      var button = stripe.elements().create("paymentRequestButton", { paymentRequest: pr });
      button.mount("#payment-request");
    });
    pr.on("paymentmethod", function (ev) {
      if (!form.elements.email.value && ev.payerEmail) form.elements.email.value = ev.payerEmail;
      pay(ev.paymentMethod.id).then(function (ok) { ev.complete(ok ? "success" : "fail"); });
    });
  }
  function confirmStep(intentId) {
    var data = new FormData();
    data.append("csrf_token", form.elements.csrf_token.value);
    data.append("intent_id", intentId);
    return post(cfg.confirmUrl, data).then(function (res) {
      if (res.body.redirect) { location.assign(res.body.redirect); return true; }
      if (res.body.requires_action) {
        return stripe.confirmCardPayment(res.body.client_secret).then(function (r) {
          if (r.error) { showError(declineText(r.error)); return false; }
          return confirmStep(intentId);
        });
      }
      showError((res.body.error && res.body.error.message) || cfg.declines.payment_error);
      return false;
    });
  }
  function pay(paymentMethodId) {
    setBusy(true, cfg.texts.working); showError(""); fieldErrors({});
    return post(cfg.startUrl, new FormData(form)).then(function (res) {
      if (!res.ok) {
        if (res.body.errors) fieldErrors(res.body.errors); else showError(res.body.error.message);
        return false;
      }
      var start = res.body, method = paymentMethodId ||
        { card: card, billing_details: { email: start.billing.email, name: start.billing.name || undefined } };
      var confirm = start.kind === "setup"
        ? stripe.confirmCardSetup(start.client_secret, { payment_method: method })
        : stripe.confirmCardPayment(start.client_secret, { payment_method: method });
      return confirm.then(function (r) {
        if (r.error) { showError(declineText(r.error)); return false; }
        var intent = r.setupIntent || r.paymentIntent;
        return confirmStep(intent.id);
      });
    }).catch(function () { showError(cfg.declines.payment_error); return false; })
      .then(function (ok) { if (!ok) setBusy(false); return ok; });
  }

  form.addEventListener("change", function (e) {
    if (e.target.name === "currency") relabelPresets();
    if (e.target.id === "custom_amount") $("amount-other").checked = true;
    refresh();
  });
  $("custom_amount").addEventListener("input", function () { $("amount-other").checked = true; refresh(); });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (busy || !quote) return;
    if (!mountStripe()) { showError(stripeFailed ? cfg.texts.no_stripe : cfg.texts.loading); return; }
    pay(null);
  });
  // Stripe.js loads async, after the page: the choice works before it arrives.
  var stripeTag = $("stripe-js");
  if (window.Stripe) mountStripe();
  else if (stripeTag) {
    stripeTag.addEventListener("load", function () {
      if (mountStripe() && $("form-error").textContent === cfg.texts.loading) showError("");
    });
    stripeTag.addEventListener("error", function () { stripeFailed = true; });
  }
  relabelPresets(); refresh();
})();
