"""No personal data and no secret in the logs of a whole flow, even at DEBUG.

A reader gives (one card declined first, then one that works), Stripe's
webhook arrives, the receipt is mailed, the reader asks for a sign-in link, a
tester is refused, a forged webhook is refused: every log record of all that,
from every logger (ours, the Stripe SDK's, Werkzeug's), is searched for what
must never be written down.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import EmailLog, EmailStatus, Supporter
from tests import stripe_events as se
from tests.conftest import WEBHOOK_SECRET, csrf_token, quoted
from tests.harness import CARDS, StripeJs
from workers.tasks import send_email

JSON = {"Accept": "application/json"}
EMAIL = "layla.haddad@reader.example"
NAME = "ليلى حداد"
LATIN_NAME = "Layla Haddad"
#: The test's own SMTP server (aiosmtpd) logs what it receives; it is not part of the service.
TEST_SERVERS = ("mail.log",)


def give(client: FlaskClient, stripe_js: StripeJs, card: str, email: str = EMAIL) -> Any:
    token = csrf_token(client, "ar")
    form = {
        "csrf_token": token,
        "frequency": "month",
        "currency": "usd",
        "amount": "1",
        "email": email,
        "name": NAME,
    }
    response = client.post("/ar/support/start", data=quoted(client, "ar", form), headers=JSON)
    if response.status_code != 200:
        return response
    started = response.get_json()
    stripe_js.confirm_card_payment(started["client_secret"], card)
    return client.post(
        "/ar/support/confirm", data={"csrf_token": token, "intent_id": started["intent_id"]}, headers=JSON
    )


def test_a_whole_flow_logs_nothing_personal_or_secret(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, smtp: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app.config.update(SMTP_PORT=smtp.port)
    caplog.set_level(logging.DEBUG)  # everything, from every logger

    assert give(client, stripe_js, CARDS["fails_charge"]).status_code == 402
    paid = give(client, stripe_js, CARDS["visa"])
    assert paid.status_code == 200, paid.get_json()
    assert client.get(paid.get_json()["redirect"]).status_code == 200

    with app.app_context():
        supporter = db.session.scalars(sa.select(Supporter)).one()
        customer_id = supporter.stripe_customer_id
        supporter_id = supporter.id
    webhook = app.test_client()
    customer = se.customer(customer_id, email=EMAIL, name=LATIN_NAME, locales=["ar"])
    assert se.post(webhook, se.event("customer.updated", customer)).status_code == 200
    assert (
        se.post(webhook, se.event("invoice.paid", {"id": "in_forged"}), secret="whsec_wrong").status_code
        == 400
    )

    sign_in = app.test_client()
    token = csrf_token(sign_in, "en")
    assert sign_in.post("/en/account/sign-in", data={"csrf_token": token, "email": EMAIL}).status_code in (
        200,
        302,
    )

    with app.app_context():
        pending = db.session.scalars(sa.select(EmailLog).where(EmailLog.status == EmailStatus.PENDING)).all()
        assert pending, "the flow queued no email"
        for row in pending:
            send_email.run(row.id)
        assert all(r.status == EmailStatus.SENT for r in db.session.scalars(sa.select(EmailLog)))
    delivered = smtp.inbox.wait_for(len(pending))
    link = next(m for m in delivered if "/account/sign-in/" in m.as_string())
    assert link is not None

    app.config["ATTEMPTS_PER_IP"] = 0  # the next try is refused
    assert give(client, stripe_js, CARDS["visa"], email="tester@cards.example").status_code == 429

    ours = [r for r in caplog.records if not r.name.startswith(TEST_SERVERS)]
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.stack_info or ''}" for r in ours)
    assert len(ours) > 5, "nothing was logged: the test would prove nothing"
    forbidden = {
        "email": EMAIL,
        "email (url-encoded)": EMAIL.replace("@", "%40"),
        "tester email": "tester@cards.example",
        "name": NAME,
        "name (Latin)": LATIN_NAME,
        "card number": CARDS["visa"],
        "declined card number": CARDS["fails_charge"],
        "client secret": "_secret_",
        "Stripe secret key": app.config["STRIPE_SECRET_KEY"],
        "webhook secret": WEBHOOK_SECRET,
        "session secret": app.config["SECRET_KEY"],
        "sign-in link": "/account/sign-in/",
    }
    found = {what: value for what, value in forbidden.items() if value in logged}
    assert not found, f"written to the logs: {sorted(found)}"
    assert str(supporter_id)  # ids are fine to log; people are not
