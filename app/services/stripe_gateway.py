"""The one place that talks to Stripe.

Built from config (key, API base, version), never at import.  It paces its
calls below Stripe's rate limit (``stripe_pacing``), backs off on 429, and
turns Stripe's errors into domain errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any, TypeVar

import stripe
from flask import current_app

from app.config import STRIPE_API_VERSION
from app.extensions import db
from app.ops import metrics
from app.services import stripe_pacing as pacing
from app.services.errors import AlreadyExists, NotFound, PaymentDeclined, PaymentServiceUnavailable
from app.services.stripe_objects import invoice_payment_ids, plain
from app.services.stripe_operator import MAX_PAGE, OperatorCalls
from app.services.stripe_pacing import Pacer, RateLimited

T = TypeVar("T")

#: One product per frequency; plans (amount x currency x interval) hang off it.
PRODUCT_NAMES = {"month": "Monthly support", "year": "Yearly support"}

BASIL = "2025-03-31"  #: the first API version whose invoices link payments by ``payments``


def payment_method_types(currency: str) -> list[str]:
    """What a gift may be paid with: a card, and for euro gifts SEPA Direct Debit (euro accounts only)."""
    return ["card", "sepa_debit"] if currency == "eur" else ["card"]


class StripeGateway(OperatorCalls):
    """Every Stripe request of the service; the operator's (lists, payouts, the webhook
    endpoint) come from ``OperatorCalls`` in ``stripe_operator.py``."""

    def __init__(
        self,
        secret_key: str,
        api_base: str = "",
        api_version: str = "",
        max_requests_per_second: float = 20.0,
        max_network_retries: int = 3,
        pacer: Pacer | None = None,
        http_client: Any = None,
    ) -> None:
        base_addresses: Any = {"api": api_base} if api_base else None
        # Never the SDK's own pinned version: our requests are written for ours.
        self.api_version = api_version or STRIPE_API_VERSION
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses=base_addresses,
            stripe_version=self.api_version,
            # The SDK retries 429 and network errors with exponential backoff.
            max_network_retries=max_network_retries,
            # The SDK's own client unless a caller brings one (the test suite records requests).
            http_client=http_client,
        )
        # The pacer shared by every process of the deployment (``from_config``), or this
        # process's own bucket at ``max_requests_per_second``.
        self.pacer = pacer or pacing.pacer_from_config(
            {"STRIPE_MAX_REQUESTS_PER_SECOND": max_requests_per_second}
        )
        self.calls = 0
        self._known_plans: set[str] = set()

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], engine: Callable[[], Any] | None = None, http_client: Any = None
    ) -> StripeGateway:
        """The gateway for the deployment; ``engine`` gives the database for a shared pacing row."""
        return cls(
            http_client=http_client,
            secret_key=config["STRIPE_SECRET_KEY"],
            api_base=config.get("STRIPE_API_BASE", ""),
            api_version=config.get("STRIPE_API_VERSION", ""),
            pacer=pacing.pacer_from_config(config, engine),
        )

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        for attempt in range(pacing.RATE_LIMIT_TRIES):
            self.pacer.wait()
            self.calls += 1
            metrics.STRIPE_CALLS.inc()
            try:
                return self._translate(fn, *args, **kwargs)
            except RateLimited as limited:
                metrics.STRIPE_RATE_LIMITED.inc()
                if attempt == pacing.RATE_LIMIT_TRIES - 1:
                    raise self._unavailable(limited.error) from limited.error
                # Stripe said "too many": everyone here slows down, this call waits and tries again.
                self.pacer.hold(pacing.backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except stripe.RateLimitError as exc:
            raise RateLimited(exc) from exc
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 or exc.code == "resource_missing":  # by path, or a parameter's id
                raise NotFound(exc.code or "resource_missing") from exc
            if exc.code == "resource_already_exists":
                raise AlreadyExists(exc.code) from exc
            raise self._unavailable(exc) from exc
        except stripe.CardError as exc:
            code = (exc.error and (exc.error.decline_code or exc.error.code)) or exc.code
            raise PaymentDeclined(code or "card_declined", detail=str(exc.user_message or "")) from exc
        except stripe.StripeError as exc:
            if exc.http_status == 402:
                raise PaymentDeclined(exc.code or "card_declined") from exc
            raise self._unavailable(exc) from exc

    @staticmethod
    def _unavailable(exc: stripe.StripeError) -> PaymentServiceUnavailable:
        # Type, code and request id only: messages may quote what was sent.
        current_app.logger.warning(
            "stripe error %s (%s) request %s", type(exc).__name__, exc.code, exc.request_id
        )
        return PaymentServiceUnavailable("stripe_error", detail=type(exc).__name__)

    # customers -------------------------------------------------------------
    def create_customer(
        self, email: str, name: str, locale: str, metadata: dict[str, str], idempotency_key: str | None = None
    ) -> Any:
        """A new customer; ``idempotency_key`` makes a repeated request the same customer."""
        params: dict[str, Any] = {
            "email": email,
            "preferred_locales": [locale],
            "metadata": metadata,
        }
        if name:
            params["name"] = name
        return self._call(self.client.v1.customers.create, params=params, options=_options(idempotency_key))

    def retrieve_customer(self, customer_id: str) -> Any:
        """The customer as Stripe has it now (``deleted: true`` once deleted)."""
        return self._call(self.client.v1.customers.retrieve, customer_id)

    def retrieve_customer_with_card(self, customer_id: str) -> Any:
        """The customer with its default card (``invoice_settings.default_payment_method``) expanded."""
        return self._call(
            self.client.v1.customers.retrieve,
            customer_id,
            params={"expand": ["invoice_settings.default_payment_method"]},
        )

    def retrieve_payment_method(self, payment_method_id: str) -> Any:
        """A payment method (a card: brand, last four digits, expiry), and whose it is."""
        return self._call(self.client.v1.payment_methods.retrieve, payment_method_id)

    def update_customer(self, customer_id: str, **params: Any) -> Any:
        return self._call(self.client.v1.customers.update, customer_id, params=params)

    # card collection ---------------------------------------------------------
    def create_setup_intent(
        self,
        customer_id: str,
        metadata: dict[str, str],
        idempotency_key: str | None = None,
        currency: str | None = None,
    ) -> Any:
        """What a membership will be charged with: a card (a new one for an account), or a bank account."""
        return self._call(
            self.client.v1.setup_intents.create,
            params={
                "customer": customer_id,
                "usage": "off_session",
                "payment_method_types": payment_method_types(currency) if currency else ["card"],
                "metadata": metadata,
            },
            options=_options(idempotency_key),
        )

    def retrieve_setup_intent(self, setup_intent_id: str) -> Any:
        return self._call(self.client.v1.setup_intents.retrieve, setup_intent_id)

    def make_default_payment_method(self, customer_id: str, payment_method_id: str) -> Any:
        """Attach the card if needed and make it the customer's default; returns the card."""
        method = self._call(self.client.v1.payment_methods.retrieve, payment_method_id)
        if method["customer"] != customer_id:
            self._call(
                self.client.v1.payment_methods.attach,
                payment_method_id,
                params={"customer": customer_id},
            )
        self.update_customer(customer_id, invoice_settings={"default_payment_method": payment_method_id})
        return method

    def list_cards(self, customer_id: str) -> list[Any]:
        """The customer's saved cards (a reader has one or two; one page is plenty)."""
        page: Any = self._call(
            self.client.v1.payment_methods.list,
            params={"customer": customer_id, "type": "card", "limit": MAX_PAGE},
        )
        return list(page["data"])

    def detach_payment_method(self, payment_method_id: str) -> Any:
        """The card can no longer be charged, nor attached again."""
        return self._call(self.client.v1.payment_methods.detach, payment_method_id)

    # recurring ---------------------------------------------------------------
    def ensure_plan(self, amount: int, currency: str, interval: str) -> str:
        """The plan for this amount, creating it the first time it is asked for.

        Plans (not Prices) because localstripe knows only plans; Stripe still
        serves plans and treats each as a Price.
        """
        plan_id = f"support-{currency}-{amount}-{interval}"
        if plan_id in self._known_plans:
            return plan_id
        try:
            self._call(self.client.v1.plans.retrieve, plan_id)
        except NotFound:
            # Another process may create it meanwhile: the id says it is the same plan.
            with suppress(AlreadyExists):
                self._call(
                    self.client.v1.plans.create,
                    params={
                        "id": plan_id,
                        "amount": amount,
                        "currency": currency,
                        "interval": interval,
                        "product": {"name": PRODUCT_NAMES[interval]},
                    },
                )
        self._known_plans.add(plan_id)
        return plan_id

    def create_subscription(
        self, customer_id: str, plan_id: str, metadata: dict[str, str], idempotency_key: str | None = None
    ) -> Any:
        """Stripe's subscriptions-with-Elements flow: the subscription waits (``incomplete``) for
        its first invoice's payment, which the browser confirms with the Payment Element, and
        Stripe saves that payment method on the subscription for the renewals.  A repeated
        ``idempotency_key`` gets the first answer (24 h).

        At the pinned 2024-06-20 the client secret is the first invoice's payment intent's
        (``latest_invoice.payment_intent``).  From 2025-03-31.basil invoices have no
        ``payment_intent``: expand ``latest_invoice.confirmation_secret`` and take its
        ``client_secret`` instead (and the intent's id from the invoice's ``payments``).
        """
        return self._call(
            self.client.v1.subscriptions.create,
            params={
                "customer": customer_id,
                "items": [{"plan": plan_id}],
                "metadata": metadata,
                "payment_behavior": "default_incomplete",
                "payment_settings": {"save_default_payment_method": "on_subscription"},
                "expand": ["latest_invoice.payment_intent"],
            },
            options=_options(idempotency_key),
        )

    def retrieve_subscription(self, subscription_id: str) -> Any:
        return self._call(
            self.client.v1.subscriptions.retrieve,
            subscription_id,
            params={"expand": ["latest_invoice.payment_intent"]},
        )

    # supporter self-service (the account pages) -------------------------------
    def change_subscription_plan(
        self,
        subscription_id: str,
        item_id: str,
        plan_id: str,
        metadata: dict[str, str],
        trial_end: int | None = None,
    ) -> Any:
        """Move the subscription's one item to another plan, from the next charge on.

        ``proration_behavior="none"``: no credit or extra charge for the current
        period.  Within the same interval the billing date stays where it is.
        A new interval would otherwise reset the billing cycle anchor to now
        and invoice the new price at once, so the caller passes ``trial_end`` =
        the next charge date: nothing is charged until then, the subscription
        is ``trialing`` meanwhile, and the new cycle starts on that date.
        """
        params: dict[str, Any] = {
            "items": [{"id": item_id, "plan": plan_id}],
            "proration_behavior": "none",
            "metadata": metadata,
        }
        if trial_end is not None:
            params["trial_end"] = int(trial_end)
        return self._call(self.client.v1.subscriptions.update, subscription_id, params=params)

    def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool, comment: str = "", idempotency_key: str | None = None
    ) -> Any:
        """Cancel at the end of the paid period, the reader's reason as the comment; or take that back.

        Taking it back empties the comment and feedback too ("" unsets them at
        Stripe), so an old reason does not come back with a later event.  With
        ``idempotency_key`` a repeated form post is the same request to Stripe.
        """
        params: dict[str, Any] = {"cancel_at_period_end": cancel}
        if not cancel:
            params["cancellation_details"] = {"comment": "", "feedback": ""}
        elif comment:
            params["cancellation_details"] = {"comment": comment[:500]}
        options = _options(idempotency_key)
        return self._call(
            self.client.v1.subscriptions.update, subscription_id, params=params, options=options
        )

    def cancel_subscription(self, subscription_id: str, idempotency_key: str | None = None) -> Any:
        """End the subscription at once (no refund, no final invoice): staff, or a reader erasing
        their data.  With ``idempotency_key`` a repeated form post is the same request to Stripe."""
        options = _options(idempotency_key)
        return self._call(self.client.v1.subscriptions.cancel, subscription_id, options=options)

    def set_subscription_payment_method(self, subscription_id: str, payment_method_id: str) -> Any:
        """The card Stripe charges (and retries) for this subscription, before the customer's default."""
        return self._call(
            self.client.v1.subscriptions.update,
            subscription_id,
            params={"default_payment_method": payment_method_id},
        )

    def list_open_invoices(self, customer_id: str) -> list[Any]:
        """The customer's unpaid invoices (a failed renewal waits as ``open``), newest first."""
        # Filtered here rather than with ``status="open"``, which localstripe refuses;
        # a reader has a handful of invoices a year, so one page is plenty.
        page: Any = self._call(self.client.v1.invoices.list, params={"customer": customer_id, "limit": 24})
        return [invoice for invoice in page["data"] if invoice["status"] == "open"]

    def retrieve_invoice(self, invoice_id: str) -> Any:
        return self._call(self.client.v1.invoices.retrieve, invoice_id)

    def pay_invoice(self, invoice_id: str) -> Any:
        """Charge an open invoice now with the subscription's (or customer's) default card."""
        return self._call(self.client.v1.invoices.pay, invoice_id, params={"expand": ["payment_intent"]})

    def invoice_with_payment_intent(self, invoice_id: str) -> tuple[Any, Any | None]:
        """An invoice and its latest attempt's payment intent (with ``client_secret``): linked by
        ``invoice.payment_intent`` before 2025-03-31.basil, by the ``payments`` list from then on."""
        basil = (self.api_version or "9999")[:10] >= BASIL
        invoice = self._call(
            self.client.v1.invoices.retrieve,
            invoice_id,
            params={"expand": ["payments"] if basil else ["payment_intent"]},
        )
        intent = None if basil else invoice["payment_intent"]
        if intent is None or isinstance(intent, str):
            intent_id, _charge = invoice_payment_ids(plain(invoice))
            intent = self.retrieve_payment_intent(intent_id) if intent_id else None
        return invoice, intent

    # one-time ---------------------------------------------------------------
    def create_payment_intent(
        self,
        customer_id: str,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str | None = None,
    ) -> Any:
        return self._call(
            self.client.v1.payment_intents.create,
            params={
                "customer": customer_id,
                "amount": amount,
                "currency": currency,
                # The Payment Element offers what the account's settings allow (cards, Link,
                # SEPA Direct Debit for euros...), as Stripe's guide for it does.
                "automatic_payment_methods": {"enabled": True},
                "metadata": metadata,
            },
            options=_options(idempotency_key),
        )

    def retrieve_payment_intent(self, payment_intent_id: str) -> Any:
        return self._call(self.client.v1.payment_intents.retrieve, payment_intent_id)

    def mandate_reference(self, charge_id: str) -> str | None:
        """The reference of the SEPA Direct Debit mandate a charge debits under (``None``: not a debit)."""
        charge = self._call(self.client.v1.charges.retrieve, charge_id)
        details = charge["payment_method_details"] if "payment_method_details" in charge else None
        debit = details["sepa_debit"] if details and "sepa_debit" in details else None
        if not debit or not debit["mandate"]:
            return None
        mandate = self._call(self.client.v1.mandates.retrieve, str(debit["mandate"]))
        return str(mandate["payment_method_details"]["sepa_debit"]["reference"]) or None

    # staff actions and payouts ------------------------------------------------
    def refund(
        self,
        amount: int,
        idempotency_key: str,
        charge_id: str | None = None,
        payment_intent_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Any:
        """Refund ``amount`` of a charge (or of a payment intent's charge); the charge comes expanded.

        The idempotency key makes a repeated form post the same refund.
        """
        params: dict[str, Any] = {"amount": amount, "metadata": metadata or {}, "expand": ["charge"]}
        if charge_id:
            params["charge"] = charge_id
        else:
            params["payment_intent"] = payment_intent_id
        return self._call(
            self.client.v1.refunds.create, params=params, options={"idempotency_key": idempotency_key}
        )


def _options(idempotency_key: str | None) -> Any:
    return {"idempotency_key": idempotency_key} if idempotency_key else None


def get_gateway() -> StripeGateway:
    """The app's gateway, built once per app from its config."""
    gateway: StripeGateway | None = current_app.extensions.get("stripe_gateway")
    if gateway is None:
        gateway = StripeGateway.from_config(current_app.config, engine=lambda: db.engine)
        current_app.extensions["stripe_gateway"] = gateway
    return gateway
