/* The support page: the server's reading of the choice, then pay with Stripe's Payment Element
   (or the Express Checkout Element's wallets). Payment details go from Stripe's elements
   straight to Stripe; the page's server never sees them. */
(function () {
  "use strict";
  var form = document.getElementById("support-form");
  var cfg = JSON.parse(document.getElementById("support-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var stripe = null, elements = null, shown = "", busy = false, stripeFailed = false;
  // The server's reading of the current choice (null while asked, or refused): all we show and pay.
  var quote = null, asked = "", method = "card";  // method: the Payment Element's chosen type

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
    showMandate();
    say($("total"), cfg.totals[q.frequency], q.total_money);
    say($("submit"), cfg.buttons[q.frequency], q.button_money);
    if (!mounted()) return;
    var sheet = { mode: q.mode, amount: q.total, currency: q.currency };
    if (JSON.stringify(sheet) !== shown) { shown = JSON.stringify(sheet); elements.update(sheet); }
  }
  function showMandate() {  // SEPA is offered for euros only; while it is chosen, its mandate
    $("sepa-mandate").hidden = !(method === "sepa_debit" && quote && quote.currency === "eur");
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
    document.querySelector("label[for=custom_amount]").textContent = c.custom_label;
    $("amount-hint").innerHTML = c.limits;  // the server's escaped text, amounts in <bdi>
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
  // The page is the same for every reader (so caches keep it): this reader's CSRF token is asked
  // for when paying starts, for a browser that says nothing of where its POST comes from.
  var token = null;
  function csrfToken() {
    token = token || fetch(cfg.tokenUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); }).then(function (body) { return body.csrf_token; },
        function (err) { token = null; throw err; });
    return token;
  }
  function post(url, data) {
    return csrfToken().then(function (t) {
      return fetch(url, { method: "POST", body: data, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": t } });
    }).then(function (r) {
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
  function mounted() {
    var ok = mountStripe();
    if (ok && $("form-error").textContent === cfg.texts.loading) showError("");
    return ok;
  }
  function mountStripe() {  // once Stripe.js and the first reading are both here
    if (elements || !window.Stripe || !quote) return !!elements;
    stripe = window.Stripe(cfg.publishableKey, { locale: cfg.locale });
    shown = JSON.stringify({ mode: quote.mode, amount: quote.total, currency: quote.currency });
    elements = stripe.elements({ mode: quote.mode, amount: quote.total, currency: quote.currency,
      locale: cfg.locale, appearance: cfg.appearance });
    // The SEPA mandate is the page's own (our words, reviewed, naming us in Arabic), so the
    // element shows none: the reader reads it once, beside the button.
    var payment = elements.create("payment", { layout: "tabs", terms: { sepaDebit: "never" } });
    payment.on("change", function (ev) { method = ev.value ? ev.value.type : method; showMandate(); });
    payment.mount("#payment-element");
    var express = elements.create("expressCheckout", {});
    // The sheet opens on the server's reading only (its sum is the elements' amount, kept current).
    express.on("click", function (ev) { if (quote && !busy) ev.resolve({ emailRequired: true }); });
    express.on("confirm", function (ev) {
      if (!form.elements.email.value && ev.billingDetails) form.elements.email.value = ev.billingDetails.email || "";
      pay().then(function (ok) { if (!ok) ev.paymentFailed(); });  // the sheet closes; the page says why
    });
    express.mount("#express-checkout");
    $("pay").hidden = false;
    return true;
  }
  function report(intentId) {  // a decline in the browser: the server records it, in the reader's words
    var data = new FormData();
    data.append("intent_id", intentId);
    return post(cfg.confirmUrl, data).then(function (res) {
      if (res.body.redirect) { location.assign(res.body.redirect); return true; }
      if (res.body.error && res.body.error.message) showError(res.body.error.message);
      return false;
    });
  }
  function pay() {
    var seen = quote;  // the total the reader was shown when they pressed: the server checks it
    setBusy(true, cfg.texts.working); showError(""); fieldErrors({});
    csrfToken().catch(function () {});  // asked now, while Stripe reads the card (post asks again)
    // Stripe checks its fields first (and shows what is missing there), then the intent is made.
    return elements.submit().then(function (checked) {
      // The card as Stripe read it: the server refuses one declined too often before any charge.
      return checked.error ? checked : stripe.createPaymentMethod({ elements: elements });
    }).then(function (made) {
      if (made.error) { if (made.error.type !== "validation_error") showError(declineText(made.error)); return false; }
      var data = new FormData(form);
      data.append("payment_method", made.paymentMethod.id);
      Object.keys(seen.shown).forEach(function (k) { data.append(k, seen.shown[k]); });
      return post(cfg.startUrl, data).then(function (res) {
        if (!res.ok || !res.body.client_secret) {
          if (res.body.redirect) { location.assign(res.body.redirect); return true; }
          if (res.body.error && res.body.error.code === "quote_changed") { asked = ""; refresh(); }
          if (res.body.errors) fieldErrors(res.body.errors); else showError(res.body.error.message);
          return false;
        }
        var start = res.body, billing = { email: start.billing.email, name: start.billing.name || undefined };
        return stripe.confirmPayment({ elements: elements, clientSecret: start.client_secret,
          confirmParams: { return_url: start.return_url, payment_method_data: { billing_details: billing } } })
          .then(function (r) {  // only on an error: otherwise Stripe.js goes to return_url
            showError(declineText(r.error));
            return r.error && r.error.type === "validation_error" ? false : report(start.intent_id);
          });
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
    pay();
  });
  // Stripe.js loads async, after the page: the choice works before it arrives.
  var stripeTag = $("stripe-js");
  if (window.Stripe) mountStripe();
  else if (stripeTag) {
    stripeTag.addEventListener("load", mounted);
    stripeTag.addEventListener("error", function () { stripeFailed = true; });
  }
  relabelPresets(); refresh();
})();
