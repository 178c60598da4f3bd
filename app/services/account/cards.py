"""The card the account page shows, for every member, also those who joined elsewhere.

The support page and the card form remember the card they saved.  A member
created in Stripe's dashboard, or imported by ``stripe sync``, arrives with
no card known here: the account page asks Stripe once (the customer's
``invoice_settings.default_payment_method``, else the running subscription's
``default_payment_method``), and the ``payment_method.*`` and
``customer.updated`` events keep it from then on (``supporters``).
"""

from __future__ import annotations

from flask import current_app

from app.models import Supporter
from app.models.types import utcnow
from app.services.errors import NotFound, PaymentServiceUnavailable
from app.services.stripe_gateway import StripeGateway
from app.services.stripe_objects import card_details, dig, id_of, plain
from app.services.supporters import remember_card, running_memberships


def learn_card(supporter: Supporter, gateway: StripeGateway) -> None:
    """Ask Stripe for the card of a member we know none of, once; never fails the page."""
    if supporter.card_last4 or supporter.card_checked_at or not supporter.stripe_customer_id:
        return
    try:
        method = _default_card(supporter, gateway)
    except PaymentServiceUnavailable:
        return  # Stripe is away: the page says "no card on file" and asks again next time
    except NotFound:
        method = None  # the customer is gone at Stripe: nothing to show
    supporter.card_checked_at = utcnow()
    if method is not None:
        remember_card(supporter, card_details(method))
        current_app.logger.info("card of supporter %s learnt from Stripe", supporter.id)


def _default_card(supporter: Supporter, gateway: StripeGateway) -> dict[str, object] | None:
    assert supporter.stripe_customer_id
    customer = plain(gateway.retrieve_customer_with_card(supporter.stripe_customer_id))
    if customer.get("deleted"):
        return None
    method = dig(customer, "invoice_settings", "default_payment_method")
    if isinstance(method, dict) and method.get("card"):
        return method
    for membership in running_memberships(supporter):
        subscription = plain(gateway.retrieve_subscription(membership.stripe_subscription_id))
        if method_id := id_of(subscription.get("default_payment_method")):
            return plain(gateway.retrieve_payment_method(method_id))
    return None
