"""Make the demo's localstripe pay out what it holds, so staff can reconcile a payout.

localstripe (extended in ``devtools/localstripe_server.py``) pays out every
charge and refund since the last payout as one automatic payout per currency,
with Stripe's card fees, and sends ``payout.paid`` then
``payout.reconciliation_completed``, signed, to the webhook endpoint the demo
registered.  The service reads the payout's transactions and staff see it at
``/staff/reconciliation``: its difference is zero when every charge is one the
service recorded.  ``--unmatched`` first adds a 7.00 charge made outside the
service, so the payout's difference is that charge's amount (7.00).

Usage (while ``make demo`` runs): ``.venv/bin/python -m devtools.demo_payout [--unmatched]``
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from devtools.demo_localstripe import parse


def pay_out(api_base: str, unmatched: bool) -> list[dict[str, object]]:
    request = urllib.request.Request(
        f"{api_base.rstrip('/')}/_config/payouts",
        data=json.dumps({"unmatched": unmatched}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        payouts: list[dict[str, object]] = json.loads(response.read())["data"]
    return payouts


def main() -> None:
    unmatched, api_base = parse(
        __doc__, "demo_payout", "--unmatched", "add a charge the service never recorded"
    )
    try:
        payouts = pay_out(api_base, unmatched)
    except urllib.error.HTTPError as exc:
        message = json.loads(exc.read() or b"{}").get("error", {}).get("message", exc.reason)
        print(f"localstripe: {message}", file=sys.stderr)
        raise SystemExit(1) from exc
    for payout in payouts:
        amount = int(str(payout["amount"]))
        print(f"{payout['id']}: {amount / 100:.2f} {str(payout['currency']).upper()} paid out")
    print("payout.paid and payout.reconciliation_completed are on their way: see /staff/reconciliation")


if __name__ == "__main__":
    main()
