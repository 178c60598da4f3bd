"""The webhook endpoint that ``flask --app app stripe setup`` keeps as the service needs it.

One endpoint per URL, sent events in the API version of our requests
(``STRIPE_API_VERSION``) and exactly the types ``webhooks.HANDLERS`` applies
(those that exist in that version): an event type added there is enabled by
the next run.  Safe to run again: the
endpoint is found by its URL and only changed where it differs.  Stripe fixes
an endpoint's ``api_version`` when it is created, so an endpoint at the URL
with another version is replaced only when the operator asks (``recreate``):
the new one is created first, then the old one deleted, so that no event is
sent to nobody meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.services.stripe_gateway import StripeGateway

DESCRIPTION = "Reader support service (kept by `flask stripe setup`)"


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    #: Endpoints at the URL have another api_version and ``recreate`` was not asked for.
    OTHER_VERSION = "other_version"


@dataclass
class EndpointSetup:
    outcome: Outcome
    url: str
    api_version: str
    events: list[str]
    #: The endpoint in use afterwards (none when only other versions are at the URL).
    endpoint_id: str | None = None
    #: Stripe shows it in the answer to create only: the caller prints it once, never logs it.
    secret: str | None = field(default=None, repr=False)
    enabled: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    enabled_again: bool = False
    #: (id, api_version) of the endpoints at the URL in another version: left, or deleted.
    other_versions: list[tuple[str, str | None]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: Further endpoints at the URL in our version (each delivers every event once more).
    duplicates: list[str] = field(default_factory=list)


#: Handled types that Stripe introduced after some API version (the date it came with): the
#: handlers take them from endpoints of newer versions, but an endpoint of an older version is
#: not asked for them (stripe-python v10.12.0, generated for 2024-06-20, does not declare
#: ``invoice_payment.paid`` among ``enabled_events``; there the invoice itself carries its
#: payment intent and charge).
EVENT_TYPES_SINCE = {"invoice_payment.paid": "2025-03-31"}


def handled_events(api_version: str) -> list[str]:
    """The event types the service applies that exist in ``api_version``, sorted."""
    from app.services.webhooks import HANDLERS

    date = api_version.partition(".")[0]
    return sorted(t for t in HANDLERS if EVENT_TYPES_SINCE.get(t, "") <= date)


def not_in_version(api_version: str) -> list[str]:
    """Handled types an endpoint of ``api_version`` is not asked for (newer than it)."""
    from app.services.webhooks import HANDLERS

    return sorted(set(HANDLERS) - set(handled_events(api_version)))


def setup_endpoint(gateway: StripeGateway, url: str, recreate: bool = False) -> EndpointSetup:
    version = gateway.api_version
    events = handled_events(version)
    at_url = [e for e in gateway.list_webhook_endpoints() if e["url"] == url]
    ours = [e for e in at_url if e["api_version"] == version]
    others = [(e["id"], e["api_version"]) for e in at_url if e["api_version"] != version]
    result = EndpointSetup(Outcome.UNCHANGED, url, version, events, other_versions=others)
    result.duplicates = [e["id"] for e in ours[1:]]
    if ours:
        _update(gateway, ours[0], result)
    elif others and not recreate:
        result.outcome = Outcome.OTHER_VERSION
        return result
    else:
        created = gateway.create_webhook_endpoint(url, events, DESCRIPTION)
        result.outcome, result.endpoint_id, result.secret = Outcome.CREATED, created["id"], created["secret"]
    if recreate:
        for endpoint_id, _ in others:
            gateway.delete_webhook_endpoint(endpoint_id)
            result.deleted.append(endpoint_id)
    return result


def _update(gateway: StripeGateway, endpoint: Mapping[str, Any], result: EndpointSetup) -> None:
    result.endpoint_id = endpoint["id"]
    current = set(endpoint["enabled_events"])
    wanted = set(result.events)
    result.enabled = sorted(wanted - current)
    result.disabled = sorted(current - wanted)  # ["*"] too: every other type
    result.enabled_again = endpoint["status"] == "disabled"
    params: dict[str, Any] = {}
    if current != wanted:
        params["enabled_events"] = result.events
    if result.enabled_again:
        params["disabled"] = False
    if params:
        gateway.update_webhook_endpoint(endpoint["id"], **params)
        result.outcome = Outcome.UPDATED
