"""Card testers on the $1 page are refused before Stripe hears of them; real readers are not.

Against localstripe: what "reached Stripe" means is counted on localstripe
itself (customers created with the testers' addresses).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import AttemptOutcome, EmailKind, EmailLog, Payment, PaymentAttempt
from app.services import attempts
from tests import i18n
from tests import stripe_events as se
from tests.conftest import csrf_token, quoted
from tests.harness import CARDS, StripeJs

JSON = {"Accept": "application/json"}
TESTER_DOMAIN = "cards.example"


def form(token: str, email: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "frequency": "month",
        "currency": "usd",
        "amount": "1",
        "email": email,
        "name": "",
        **fields,
    }


def client_from(app: Flask, ip: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client, csrf_token(client, "ar")


def start(client: FlaskClient, token: str, email: str, lang: str = "ar", **fields: str) -> Any:
    return client.post(
        f"/{lang}/support/start", data=quoted(client, lang, form(token, email, **fields)), headers=JSON
    )


def confirm(client: FlaskClient, token: str, intent_id: str, lang: str = "ar") -> Any:
    return client.post(
        f"/{lang}/support/confirm", data={"csrf_token": token, "intent_id": intent_id}, headers=JSON
    )


def customers_at_stripe(stripe_client: stripe.StripeClient, domain: str) -> int:
    found = stripe_client.v1.customers.list(params={"limit": 100})
    return sum(1 for c in found.auto_paging_iter() if str(c["email"] or "").endswith("@" + domain))


def outcomes(app: Flask) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(PaymentAttempt.outcome, sa.func.count()).group_by(PaymentAttempt.outcome)
        )
        return Counter({AttemptOutcome(o).value: n for o, n in rows})


def test_a_thousand_one_dollar_attempts_are_mostly_refused_while_a_real_reader_pays(
    app: Flask, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    answers: Counter[int] = Counter()
    testers = [client_from(app, f"203.0.113.{n}") for n in range(1, 6)]
    for i in range(1000):
        client, token = testers[i % len(testers)]
        response = start(client, token, f"buyer{i}@{TESTER_DOMAIN}")
        answers[response.status_code] += 1
        if response.status_code == 429:
            body = response.get_json()["error"]
            assert body["code"] == "too_many_attempts"
    per_ip = app.config["ATTEMPTS_PER_IP"]
    assert answers[200] == per_ip * len(testers)  # ten each, then refused
    assert answers[429] == 1000 - per_ip * len(testers)
    assert customers_at_stripe(stripe_client, TESTER_DOMAIN) == per_ip * len(testers)

    # A reader from elsewhere gives $1 a month as if nothing happened.
    reader, token = client_from(app, "198.51.100.7")
    started = start(reader, token, "layla@reader.example")
    assert started.status_code == 200, started.get_json()
    stripe_js.confirm_card_payment(started.get_json()["client_secret"], CARDS["visa"])
    paid = confirm(reader, token, started.get_json()["intent_id"])
    assert paid.status_code == 200, paid.get_json()
    assert reader.get(paid.get_json()["redirect"]).status_code == 200

    assert outcomes(app)["succeeded"] == 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1
        alerts = db.session.scalars(
            sa.select(EmailLog).where(EmailLog.kind == EmailKind.ATTEMPTS_SPIKE)
        ).all()
        # One email for the hour (two if the run straddled the hour), to finance staff.
        assert 1 <= len(alerts) <= 2
        assert alerts[0].to_address == app.config["FINANCE_NOTIFY_EMAIL"]
        # Nothing in the clear: addresses and emails are keyed hashes.
        stored = " ".join(
            f"{a.ip_hash} {a.email_hash}" for a in db.session.scalars(sa.select(PaymentAttempt)).all()
        )
        assert "203.0.113" not in stored and TESTER_DOMAIN not in stored


def test_the_refusal_is_said_in_the_readers_language(app: Flask) -> None:
    app.config["ATTEMPTS_PER_IP"] = 1
    client, token = client_from(app, "203.0.113.9")
    assert start(client, token, "a@reader.example").status_code == 200
    refused = start(client, token, "b@reader.example")
    assert refused.status_code == 429
    expected = i18n.message(app, "too_many_attempts")
    assert refused.get_json()["error"]["message"] == expected
    assert i18n.is_arabic(expected)


def test_a_filled_honeypot_never_reaches_stripe(app: Flask, stripe_client: stripe.StripeClient) -> None:
    client, token = client_from(app, "203.0.113.20")
    response = start(client, token, "bot@honeypot.example", website="http://spam.example")
    assert response.status_code == 429
    assert customers_at_stripe(stripe_client, "honeypot.example") == 0
    assert outcomes(app) == Counter({"trapped": 1})


def test_three_declined_cards_in_one_session_stop_the_fourth_try(
    app: Flask, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    client, token = client_from(app, "198.51.100.30")
    for n in range(3):
        started = start(client, token, f"try{n}@session.example")
        assert started.status_code == 200
        stripe_js.confirm_card_payment(started.get_json()["client_secret"], CARDS["fails_charge"])
        declined = confirm(client, token, started.get_json()["intent_id"])
        assert declined.status_code == 402, declined.get_json()
    assert outcomes(app)["declined"] == 3
    fourth = start(client, token, "try3@session.example")
    assert fourth.status_code == 429
    assert customers_at_stripe(stripe_client, "session.example") == 3
    # Another reader on the same address (a shared office line) still pays.
    colleague, colleague_token = client_from(app, "198.51.100.30")
    started = start(colleague, colleague_token, "colleague@office.example")
    assert started.status_code == 200


def test_one_card_declined_again_and_again_is_refused_before_anything_is_made(
    app: Flask, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    limit = app.config["DECLINES_PER_CARD"]
    for n in range(limit + 1):
        client, token = client_from(app, f"192.0.2.{n + 1}")  # a new address and session each time
        # What support.js sends: the card as Stripe.js read it (createPaymentMethod), before any intent.
        method = stripe_js.create_payment_method(CARDS["fails_charge"])["id"]
        started = start(client, token, f"holder{n}@card.example", payment_method=method)
        if n == limit:
            break
        assert started.status_code == 200, started.get_json()
        stripe_js.confirm_card_payment(started.get_json()["client_secret"], CARDS["fails_charge"])
        assert confirm(client, token, started.get_json()["intent_id"]).status_code == 402
    assert started.status_code == 429
    assert started.get_json()["error"]["code"] == "too_many_attempts"
    with app.app_context():
        last = db.session.scalars(sa.select(PaymentAttempt).order_by(PaymentAttempt.id.desc())).first()
        assert last is not None and (last.outcome, last.reason) == (AttemptOutcome.REFUSED, "card")
    # The refused one reached Stripe with nothing: no customer, so no intent nor subscription.
    assert customers_at_stripe(stripe_client, "card.example") == limit
    emails = {c["email"] for c in stripe_client.v1.customers.list(params={"limit": 100}).auto_paging_iter()}
    assert f"holder{limit}@card.example" not in emails


def test_a_card_declined_in_the_browser_counts_when_stripe_says_so(
    app: Flask, stripe_client: stripe.StripeClient
) -> None:
    client, token = client_from(app, "198.51.100.40")
    started = start(client, token, "once@reader.example", frequency="once")
    assert started.status_code == 200
    intent_id = started.get_json()["client_secret"].split("_secret_")[0]
    customer_id = stripe_client.v1.payment_intents.retrieve(intent_id)["customer"]
    intent = se.payment_intent(
        intent_id, customer_id, amount=100, status="requires_payment_method", decline_code="stolen_card"
    )
    intent["last_payment_error"]["payment_method"] = {"id": "pm_x", "card": {"fingerprint": "fpAbc123"}}
    webhook = app.test_client()
    evt = se.event("payment_intent.payment_failed", intent)
    assert se.post(webhook, evt).status_code == 200
    assert se.post(webhook, evt).status_code == 200  # delivered twice: the same result
    with app.app_context():
        attempt = db.session.scalars(sa.select(PaymentAttempt)).one()
        assert (attempt.outcome, attempt.reason) == (AttemptOutcome.DECLINED, "stolen_card")
        assert attempt.card_hash and "fpAbc123" not in attempt.card_hash


def test_attempts_are_forgotten_after_a_week(app: Flask) -> None:
    now = datetime.now(UTC)
    with app.app_context(), app.test_request_context():
        for age in (timedelta(days=8), timedelta(days=1)):
            db.session.add(
                PaymentAttempt(
                    created_at=now - age, ip_hash="x", session_key="s", outcome=AttemptOutcome.STARTED
                )
            )
        db.session.commit()
        assert attempts.purge(now) == 1
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentAttempt)) == 1
