"""Real parts for the tests: localstripe in a subprocess, free ports, and the
browser's side of Stripe.js for tests that run without a browser.

``StripeJs`` calls localstripe's public (publishable-key) endpoints exactly as
its Stripe.js does from the reader's browser; the server under test still
talks to localstripe only through the real ``stripe`` SDK.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

CARDS = {
    "visa": "4242424242424242",
    "declined": "4000000000000002",
    "fails_charge": "4000000000000341",
    "3ds": "4000002500003155",
    # Ours (devtools/localstripe_server.py PROCESSING_CARD): the charge waits for `settle_charge`.
    "processing": "4000009999999991",
}

#: Stripe's SEPA Direct Debit test IBANs: the debit is ``processing`` until ``settle_charge``,
#: whose answer is the bank's (devtools/localstripe_server.py, SEPA_SUCCEEDS_IBAN/SEPA_FAILS_IBAN).
SEPA_IBANS = {"succeeds": "DE89370400440532013000", "fails": "DE62370400440532013001"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def start_localstripe() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.localstripe_server", "--port", str(port)], cwd=ROOT
    )
    wait_for_port(port)
    return proc, f"http://127.0.0.1:{port}"


# A module that reads everything Stripe has (``stripe sync``, ``stripe replay``) imports these
# two fixtures: ``from tests.harness import empty_localstripe, own_localstripe_url``.


@pytest.fixture(scope="module", name="localstripe_url")
def own_localstripe_url() -> Iterator[str]:
    """Overrides the session's ``localstripe_url``: a localstripe of the importing module's own."""
    proc, url = start_localstripe()
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(autouse=True)
def empty_localstripe(localstripe_url: str) -> None:
    """Before each test of the importing module: no other test's objects at Stripe."""
    request = urllib.request.Request(f"{localstripe_url}/_config/data", method="DELETE")
    with urllib.request.urlopen(request, timeout=10):
        pass


class StripeJs:
    """What localstripe's Stripe.js does in the browser, over HTTP."""

    def __init__(self, api_base: str, publishable_key: str = "pk_test_demo") -> None:
        self.api_base = api_base
        self.key = publishable_key

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        data = json.dumps({"key": self.key, **body}).encode()
        request = urllib.request.Request(self.api_base + path, data=data, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    @staticmethod
    def _card(number: str) -> dict[str, str]:
        return {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}

    def confirm_card_setup(
        self, client_secret: str, number: str, authenticate: bool = True
    ) -> dict[str, Any]:
        seti = re.match(r"^(seti_\w+)_secret_", client_secret)
        assert seti, client_secret
        path = f"/v1/setup_intents/{seti.group(1)}/confirm"
        status, body = self._post(
            path,
            {
                "use_stripe_sdk": True,
                "client_secret": client_secret,
                "payment_method_data": {"type": "card", "card": self._card(number)},
            },
        )
        if status == 200 and body.get("status") == "requires_action":
            action = "confirm" if authenticate else "cancel"
            status, body = self._post(
                f"/v1/setup_intents/{seti.group(1)}/{action}",
                {"use_stripe_sdk": True, "client_secret": client_secret},
            )
        return body if status == 200 else {"error": body.get("error", body)}

    def confirm_card_payment(
        self, client_secret: str, number: str | None = None, authenticate: bool = True
    ) -> dict[str, Any]:
        pi = re.match(r"^(pi_\w+)_secret_", client_secret)
        assert pi, client_secret
        if number is not None:
            status, body = self._post(
                f"/v1/payment_intents/{pi.group(1)}/_authenticate/card",
                {
                    "client_secret": client_secret,
                    "payment_method_data": {"type": "card", "card": self._card(number)},
                },
            )
            if status != 200:
                return {"error": body.get("error", body)}
            if body.get("status") != "requires_action":
                return body
        status, body = self._post(
            f"/v1/payment_intents/{pi.group(1)}/_authenticate?success={'true' if authenticate else 'false'}",
            {"client_secret": client_secret},
        )
        return body if status == 200 else {"error": body.get("error", body)}

    def confirm_sepa_debit(self, client_secret: str, iban: str, name: str = "Leila Haddad") -> dict[str, Any]:
        """The Payment Element's SEPA Direct Debit: the IBAN goes to Stripe, which confirms the
        payment intent (``processing``) or the setup intent (the mandate is given)."""
        method = {"type": "sepa_debit", "sepa_debit": {"iban": iban}, "billing_details": {"name": name}}
        seti = re.match(r"^(seti_\w+)_secret_", client_secret)
        if seti:
            path = f"/v1/setup_intents/{seti.group(1)}/confirm"
            body = {"use_stripe_sdk": True, "client_secret": client_secret, "payment_method_data": method}
        else:
            pi = re.match(r"^(pi_\w+)_secret_", client_secret)
            assert pi, client_secret
            path = f"/v1/payment_intents/{pi.group(1)}/_authenticate/card"
            body = {"client_secret": client_secret, "payment_method_data": method}
        status, answer = self._post(path, body)
        return answer if status == 200 else {"error": answer.get("error", answer)}

    def create_payment_method(self, number: str) -> dict[str, Any]:
        """Stripe.js ``createPaymentMethod({elements})``: the typed card, with the publishable key."""
        data = json.dumps({"type": "card", "card": self._card(number)}).encode()
        headers = {"Authorization": f"Bearer {self.key}"}
        request = urllib.request.Request(self.api_base + "/v1/payment_methods", data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            method: dict[str, Any] = json.loads(response.read())
            return method

    @staticmethod
    def return_query(client_secret: str, intent: dict[str, Any]) -> dict[str, str]:
        """What Stripe.js adds to the ``return_url`` after ``confirmPayment``."""
        status = "succeeded" if intent["status"] == "succeeded" else "pending"
        return {
            "payment_intent": intent["id"],
            "payment_intent_client_secret": client_secret,
            "redirect_status": status,
        }


def settle_charge(api_base: str, charge_id: str, answer: str = "settle") -> None:
    """The bank's late answer (``settle`` or ``fail``) for a ``processing`` charge: the processing
    card's or a SEPA debit's (localstripe; ``settle`` of the failing test IBAN fails it)."""
    request = urllib.request.Request(
        f"{api_base}/_config/charges/{charge_id}/{answer}", data=b"", method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):
        pass
