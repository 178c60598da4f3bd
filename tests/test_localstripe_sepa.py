"""localstripe's SEPA Direct Debit (devtools/localstripe_server.py, the eleventh extension),
through the real SDK: Stripe's test IBANs, ``processing`` until the bank answers, then
``succeeded`` or ``failed`` with the events Stripe sends, and the debit's mandate."""

from __future__ import annotations

from typing import Any

import stripe

from devtools import demo_settle
from tests.harness import SEPA_IBANS, settle_charge


def _debit(stripe_client: stripe.StripeClient, iban: str, customer: str | None = None) -> Any:
    method = stripe_client.v1.payment_methods.create(
        params={
            "type": "sepa_debit",
            "sepa_debit": {"iban": iban},
            "billing_details": {"name": "Leila Haddad", "email": "leila@example.org"},
        }
    )
    if customer is not None:
        stripe_client.v1.payment_methods.attach(method.id, params={"customer": customer})
    return method


def _events(stripe_client: stripe.StripeClient, kind: str, object_id: str) -> list[Any]:
    listed = stripe_client.v1.events.list(params={"type": kind, "limit": 100})
    return [e for e in listed.data if e.data.object["id"] == object_id]


def _charge_id(intent: Any) -> str:
    charge = intent.latest_charge  # localstripe expands it; Stripe gives the id
    return charge if isinstance(charge, str) else str(charge.id)


def _one_time(stripe_client: stripe.StripeClient, iban: str) -> Any:
    customer = stripe_client.v1.customers.create(params={"email": "leila@example.org"})
    method = _debit(stripe_client, iban)
    return stripe_client.v1.payment_intents.create(
        params={
            "customer": customer.id,
            "amount": 500,
            "currency": "eur",
            "payment_method": method.id,
            "payment_method_types": ["sepa_debit"],
            "confirm": True,
        }
    )


def test_a_debit_is_processing_until_the_bank_pays_it(
    stripe_client: stripe.StripeClient, localstripe_url: str
) -> None:
    intent = _one_time(stripe_client, SEPA_IBANS["succeeds"])
    assert intent.status == "processing"
    charge = stripe_client.v1.charges.retrieve(_charge_id(intent))
    assert charge.status == "pending" and not charge.paid
    details = charge.payment_method_details
    assert details["type"] == "sepa_debit" and details["sepa_debit"]["last4"] == "3000"
    mandate = stripe_client.v1.mandates.retrieve(details["sepa_debit"]["mandate"])
    assert mandate.payment_method_details["sepa_debit"]["reference"]
    assert _events(stripe_client, "payment_intent.processing", intent.id)
    assert _events(stripe_client, "charge.pending", charge.id)

    settle_charge(localstripe_url, charge.id)
    assert stripe_client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    assert stripe_client.v1.charges.retrieve(charge.id).status == "succeeded"
    assert _events(stripe_client, "payment_intent.succeeded", intent.id)
    assert _events(stripe_client, "charge.succeeded", charge.id)
    assert not _events(stripe_client, "payment_intent.payment_failed", intent.id)


def test_the_failing_test_iban_is_refused_when_the_bank_answers(
    stripe_client: stripe.StripeClient, localstripe_url: str
) -> None:
    intent = _one_time(stripe_client, SEPA_IBANS["fails"])
    assert intent.status == "processing"  # as at Stripe: the refusal comes days later
    charge_id = _charge_id(intent)
    settle_charge(localstripe_url, charge_id)
    failed = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error["code"] == "insufficient_funds"
    assert stripe_client.v1.charges.retrieve(charge_id).status == "failed"
    assert _events(stripe_client, "payment_intent.payment_failed", intent.id)
    assert _events(stripe_client, "charge.failed", charge_id)


def test_a_membership_by_debit_is_incomplete_until_paid_and_expires_if_refused(
    stripe_client: stripe.StripeClient, localstripe_url: str
) -> None:
    plan = stripe_client.v1.plans.create(
        params={"amount": 500, "currency": "eur", "interval": "month", "product": {"name": "Membership"}}
    )
    outcomes = {}
    for name, iban in SEPA_IBANS.items():
        customer = stripe_client.v1.customers.create(params={"email": f"{name}@example.org"})
        method = _debit(stripe_client, iban, customer.id)
        stripe_client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": method.id}}
        )
        subscription = stripe_client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"plan": plan.id}], "expand": ["latest_invoice"]}
        )
        assert subscription.status == "incomplete"
        assert subscription.latest_invoice.status == "open"
        intent = stripe_client.v1.payment_intents.retrieve(str(subscription.latest_invoice.payment_intent))
        assert intent.status == "processing"
        settle_charge(localstripe_url, _charge_id(intent))
        outcomes[name] = stripe_client.v1.subscriptions.retrieve(subscription.id).status
        if name == "fails":
            assert _events(stripe_client, "customer.subscription.updated", subscription.id)
            assert _events(stripe_client, "invoice.payment_failed", subscription.latest_invoice.id)
    assert outcomes == {"succeeds": "active", "fails": "incomplete_expired"}


def test_the_demo_command_answers_every_pending_debit(
    stripe_client: stripe.StripeClient, localstripe_url: str
) -> None:
    paid, refused = (_one_time(stripe_client, iban) for iban in SEPA_IBANS.values())
    answered = {c["payment_intent"] for c in demo_settle.answer(localstripe_url, fail=False)}
    assert {paid.id, refused.id} <= answered
    assert stripe_client.v1.payment_intents.retrieve(paid.id).status == "succeeded"
    assert stripe_client.v1.payment_intents.retrieve(refused.id).status == "requires_payment_method"

    # FAIL=1: the bank refuses even the IBAN that pays.
    another = _one_time(stripe_client, SEPA_IBANS["succeeds"])
    demo_settle.answer(localstripe_url, fail=True)
    assert stripe_client.v1.payment_intents.retrieve(another.id).status == "requires_payment_method"
    assert not demo_settle.pending_charges(localstripe_url)


def test_a_renewal_debit_refused_makes_the_membership_past_due(
    stripe_client: stripe.StripeClient, localstripe_url: str
) -> None:
    plan = stripe_client.v1.plans.create(
        params={"amount": 500, "currency": "eur", "interval": "month", "product": {"name": "Membership"}}
    )
    customer = stripe_client.v1.customers.create(params={"email": "renewal@example.org"})
    method = _debit(stripe_client, SEPA_IBANS["succeeds"], customer.id)
    stripe_client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": method.id}}
    )
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"plan": plan.id}], "expand": ["latest_invoice"]}
    )
    first = stripe_client.v1.payment_intents.retrieve(str(subscription.latest_invoice.payment_intent))
    settle_charge(localstripe_url, _charge_id(first))
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"

    # The next month's invoice: paying it starts a debit (200, still open), which the bank refuses.
    renewal = stripe_client.v1.invoices.create(
        params={"customer": customer.id, "subscription": subscription.id}
    )
    paid = stripe_client.v1.invoices.pay(renewal.id)
    assert paid.status == "open"
    intent = stripe_client.v1.payment_intents.retrieve(str(paid.payment_intent))
    assert intent.status == "processing"
    settle_charge(localstripe_url, _charge_id(intent), answer="fail")
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
