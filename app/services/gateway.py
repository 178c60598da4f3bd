"""What the Stripe event handlers may ask of Stripe, as a type.

The handlers (``app/services/webhooks.py`` dispatches to them) read Stripe
objects from the events and, in the few cases an event cannot decide, ask
Stripe for the object as it is now.  ``StripeGateway`` is the real one; the
tests' stand-in (``tests/stripe_events.py FakeGateway``) declares that it
satisfies this protocol, so mypy checks both against one list of methods.
"""

from __future__ import annotations

from typing import Any, Protocol


class EventGateway(Protocol):
    """The reads an event handler makes: each returns the Stripe object (a mapping)."""

    def retrieve_customer(self, customer_id: str) -> Any:
        """The customer as Stripe has it now (``deleted: true`` once deleted)."""

    def retrieve_subscription(self, subscription_id: str) -> Any:
        """The subscription now, its latest invoice and payment intent expanded."""

    def retrieve_payment_intent(self, payment_intent_id: str) -> Any:
        """The payment intent now (in the pinned API version, with its ``invoice``)."""

    def retrieve_invoice(self, invoice_id: str) -> Any:
        """The invoice now (a renewal's, whose bank debit is on its way)."""

    def retrieve_payment_method(self, payment_method_id: str) -> Any:
        """A payment method (a card: brand, last four digits, expiry), and whose it is."""

    def retrieve_payout(self, payout_id: str) -> Any:
        """The payout now (re-read when ``payout.reconciliation_completed`` did not come)."""

    def payout_balance_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        """Every balance transaction paid out in a payout, sources expanded."""
