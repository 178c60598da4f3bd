"""Give the bank's answer to the demo's payments still ``processing`` (SEPA debits, the processing card).

At Stripe a SEPA Direct Debit takes days: its payment intent is ``processing``
until the bank pays or refuses it.  The demo's localstripe (extended in
``devtools/localstripe_server.py``) waits the same way, until told: this
answers every pending charge as its bank would (Stripe's test IBAN
``DE89370400440532013000`` pays, ``DE62370400440532013001`` is refused), or
refuses them all with ``--fail``.  localstripe then sends the events Stripe
sends (``payment_intent.succeeded`` or ``.payment_failed``, ``charge.*``,
``invoice.*``), signed, to the demo's webhook endpoint: the thank-you email
or the failure email follows.

Usage (while ``make demo`` runs): ``.venv/bin/python -m devtools.demo_settle [--fail]``
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

from devtools.demo_localstripe import parse


def _call(url: str, method: str = "GET") -> Any:
    request = urllib.request.Request(
        url,
        data=b"" if method == "POST" else None,
        method=method,
        headers={"Authorization": "Bearer sk_test_demo"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def pending_charges(api_base: str) -> list[dict[str, Any]]:
    charges: list[dict[str, Any]] = []
    after = ""
    while True:
        page = _call(f"{api_base}/v1/charges?limit=100{after}")
        charges += [c for c in page["data"] if c["status"] == "pending"]
        if not page.get("has_more") or not page["data"]:
            return charges
        after = f"&starting_after={page['data'][-1]['id']}"


def answer(api_base: str, fail: bool) -> list[dict[str, Any]]:
    """Settle (or fail) every pending charge; the charges as the bank left them."""
    verb = "fail" if fail else "settle"
    return [_call(f"{api_base}/_config/charges/{c['id']}/{verb}", "POST") for c in pending_charges(api_base)]


def main() -> None:
    fail, api_base = parse(__doc__, "demo_settle", "--fail", "the bank refuses every pending payment")
    try:
        answered = answer(api_base, fail)
    except urllib.error.URLError as exc:
        print(f"localstripe: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    if not answered:
        print("No payment is waiting for its bank.")
    for charge in answered:
        amount = int(charge["amount"])
        print(f"{charge['id']}: {amount / 100:.2f} {str(charge['currency']).upper()} {charge['status']}")


if __name__ == "__main__":
    main()
