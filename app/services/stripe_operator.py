"""The gateway's calls for operators and reconciliation: lists, payouts, the webhook endpoint.

``StripeGateway`` inherits them, so the gateway stays the one place that talks
to Stripe; they are apart because reading everything (``stripe sync``,
``stripe replay``), reconciling payouts and setting up the endpoint are not
what a reader's request does, and each goes through the gateway's paced
``_call`` all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import stripe

T = TypeVar("T")

#: Stripe's largest page: one call per hundred objects when listing everything.
MAX_PAGE = 100


class OperatorCalls:
    client: stripe.StripeClient
    api_version: str

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:  # the gateway's, paced
        raise NotImplementedError

    # payouts ------------------------------------------------------------------
    def retrieve_payout(self, payout_id: str) -> Any:
        """The payout now (its ``status`` and ``reconciliation_status``)."""
        return self._call(self.client.v1.payouts.retrieve, payout_id)

    def payout_balance_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        """Every balance transaction paid out in an automatic payout, sources expanded.

        One paced call per hundred transactions (Stripe's largest page).
        """
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"payout": payout_id, "limit": 100, "expand": ["data.source"]}
        while True:
            page = self._call(self.client.v1.balance_transactions.list, params=params)
            data: list[dict[str, Any]] = [t.to_dict() for t in page.data]
            found.extend(data)
            if not data or not page.has_more:
                return found
            params["starting_after"] = data[-1]["id"]

    # the webhook endpoint (``flask stripe setup``) ------------------------------
    def list_webhook_endpoints(self) -> list[Any]:
        """The account's webhook endpoints (Stripe allows 16, so one page)."""
        page: Any = self._call(self.client.v1.webhook_endpoints.list, params={"limit": MAX_PAGE})
        return list(page["data"])

    def create_webhook_endpoint(self, url: str, events: list[str], description: str) -> Any:
        """An endpoint sent events in our version (fixed for good); only this answer has its ``secret``."""
        params: dict[str, Any] = {"url": url, "enabled_events": events, "description": description}
        params["api_version"] = self.api_version
        return self._call(self.client.v1.webhook_endpoints.create, params=params)

    def update_webhook_endpoint(self, endpoint_id: str, **params: Any) -> Any:
        """``enabled_events``, ``disabled``: Stripe takes no ``api_version`` here."""
        return self._call(self.client.v1.webhook_endpoints.update, endpoint_id, params=params)

    def delete_webhook_endpoint(self, endpoint_id: str) -> Any:
        return self._call(self.client.v1.webhook_endpoints.delete, endpoint_id)

    # lists (reconciliation and replay) --------------------------------------
    #
    # One page per call, each through ``_call`` (paced, 429s backed off);
    # ``pages`` walks them with ``starting_after``.  Stripe lists newest
    # first, so objects created while a walk runs are not in it (their webhooks
    # bring them).  ``expand`` saves a fetch per object where sync needs the
    # related object (a new supporter's email, a gift's metadata, a card).

    @staticmethod
    def _page_params(starting_after: str | None, limit: int, **params: Any) -> dict[str, Any]:
        params["limit"] = max(1, min(limit, MAX_PAGE))
        if starting_after:
            params["starting_after"] = starting_after
        return params

    def list_customers(self, starting_after: str | None = None, limit: int = MAX_PAGE) -> Any:
        """A page of customers, each with its default card expanded."""
        return self._call(
            self.client.v1.customers.list,
            params=self._page_params(
                starting_after, limit, expand=["data.invoice_settings.default_payment_method"]
            ),
        )

    def list_subscriptions(self, starting_after: str | None = None, limit: int = MAX_PAGE) -> Any:
        """A page of subscriptions in every status (ended ones too), customer expanded."""
        return self._call(
            self.client.v1.subscriptions.list,
            params=self._page_params(starting_after, limit, status="all", expand=["data.customer"]),
        )

    def list_invoices(self, starting_after: str | None = None, limit: int = MAX_PAGE) -> Any:
        return self._call(self.client.v1.invoices.list, params=self._page_params(starting_after, limit))

    def list_charges(self, starting_after: str | None = None, limit: int = MAX_PAGE) -> Any:
        """A page of charges with their payment intent, customer and refunds expanded."""
        return self._call(
            self.client.v1.charges.list,
            params=self._page_params(
                starting_after,
                limit,
                expand=["data.payment_intent", "data.customer", "data.refunds"],
            ),
        )

    def list_events(
        self, created_gte: int | None = None, starting_after: str | None = None, limit: int = MAX_PAGE
    ) -> Any:
        """A page of events (Stripe keeps 30 days), newest first; ``created >= created_gte``."""
        params = self._page_params(starting_after, limit)
        if created_gte is not None:
            params["created"] = {"gte": int(created_gte)}
        return self._call(self.client.v1.events.list, params=params)

    @staticmethod
    def pages(
        list_page: Callable[..., Any], starting_after: str | None = None, **params: Any
    ) -> Iterator[Page]:
        """Walk a list page by page from ``starting_after``; one paced call per page.

        ``list_page`` is one of the ``list_*`` methods above.  Each page says
        when it was asked for: what it holds is Stripe's state at that moment
        or later.
        """
        while True:
            requested_at = datetime.now(UTC)
            page = list_page(starting_after=starting_after, **params)
            # for_json: decimal strings (a plan's ``amount_decimal``) stay strings, as Stripe sent them.
            objects = [
                obj.to_dict(for_json=True) if hasattr(obj, "to_dict") else dict(obj) for obj in page["data"]
            ]
            yield Page(objects, requested_at)
            if not objects or not page["has_more"]:
                return
            starting_after = objects[-1]["id"]


@dataclass(frozen=True)
class Page:
    """One page of a Stripe list, as plain dicts."""

    objects: list[dict[str, Any]]
    requested_at: datetime
