"""The whole donation against localstripe: the browser's Stripe.js part is
played by ``StripeJs``, our server talks to localstripe through the SDK."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Membership, MembershipStatus, Payment, PaymentStatus, Supporter
from tests import i18n
from tests.conftest import count_rows, csrf_token, quoted
from tests.harness import CARDS, StripeJs

JSON = {"Accept": "application/json"}


def start(client: FlaskClient, lang: str, **fields: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, lang)
    form = {
        "csrf_token": token,
        "frequency": "month",
        "currency": "usd",
        "amount": "1",
        "email": "Reader@Example.org",
        "name": "ليلى",
        **fields,
    }
    response = client.post(f"/{lang}/support/start", data=quoted(client, lang, form), headers=JSON)
    assert response.status_code == 200, response.get_json()
    return token, response.get_json()


def confirm(client: FlaskClient, lang: str, token: str, intent_id: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/{lang}/support/confirm", data={"csrf_token": token, "intent_id": intent_id}, headers=JSON
    )


def returned(client: FlaskClient, started: dict[str, Any], intent: dict[str, Any]) -> Any:
    """Where Stripe.js goes after ``confirmPayment``: the ``return_url``, with what Stripe adds."""
    return client.get(
        started["return_url"], query_string=StripeJs.return_query(started["client_secret"], intent)
    )


def test_one_dollar_a_month_in_arabic(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client
) -> None:  # type: ignore[no-untyped-def]
    _token, started = start(client, "ar", campaign="gaza-2026", utm_source="article")
    # Stripe's subscriptions guide for Elements: the first invoice's payment intent, confirmed here.
    assert started["kind"] == "subscription"
    assert started["client_secret"].startswith(started["intent_id"] + "_secret_")
    assert started["return_url"] == "http://localhost/ar/support/return"
    assert count_rows(app)["payment"] == 0  # nothing is charged before the browser confirms
    intent = stripe_js.confirm_card_payment(started["client_secret"], CARDS["visa"])
    assert intent["status"] == "succeeded"

    response = returned(client, started, intent)
    assert response.status_code == 302, response.get_data(as_text=True)[-500:]
    thanks = client.get(response.location)
    page = thanks.get_data(as_text=True)
    assert thanks.status_code == 200
    assert '<html lang="ar" dir="rtl">' in page
    assert i18n.translate(app, "Thank you, %(name)s!", name="ليلى") in page
    assert "1.00" in page and "US$" in page
    next_month = datetime.now(UTC) + timedelta(days=31)
    assert str(next_month.year) in page

    with app.app_context():
        supporter = db.session.scalars(sa.select(Supporter)).one()
        assert supporter.email == "reader@example.org"
        assert supporter.locale == "ar"
        membership = db.session.scalars(sa.select(Membership)).one()
        assert membership.status == MembershipStatus.ACTIVE
        assert (membership.amount, membership.currency, membership.interval) == (100, "usd", "month")
        assert membership.campaign == "gaza-2026"
        assert membership.utm == {"utm_source": "article"}
        assert membership.current_period_end and membership.current_period_end > datetime.now(UTC)
        payment = db.session.scalars(sa.select(Payment)).one()
        assert payment.status == PaymentStatus.SUCCEEDED
        assert (payment.amount, payment.currency) == (100, "usd")
        assert payment.stripe_invoice_id and payment.stripe_charge_id and payment.receipt_number
        assert payment.membership_id == membership.id
        customer_id = supporter.stripe_customer_id
        subscription_id = membership.stripe_subscription_id

    customer = stripe_client.v1.customers.retrieve(customer_id)
    assert customer["preferred_locales"] == ["ar"]
    assert customer["invoice_settings"]["default_payment_method"]
    subscription = stripe_client.v1.subscriptions.retrieve(subscription_id)
    assert subscription["status"] == "active"
    assert subscription["items"]["data"][0]["plan"]["amount"] == 100
    # Saved by Stripe for the renewals (``save_default_payment_method``), and the customer's default.
    assert subscription["default_payment_method"] == customer["invoice_settings"]["default_payment_method"]
    # Reloading the return address later changes nothing and sends the reader to the page.
    again = returned(client, started, intent)
    assert again.location == "/ar/support" and count_rows(app)["payment"] == 1


def test_confirming_twice_makes_one_subscription(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    token, started = start(client, "en")
    setup = stripe_js.confirm_card_payment(started["client_secret"], CARDS["visa"])
    first = confirm(client, "en", token, setup["id"])
    assert first.status_code == 200
    again = confirm(client, "en", token, setup["id"])  # a double click after success
    assert again.status_code == 409
    assert count_rows(app)["membership"] == 1
    assert count_rows(app)["payment"] == 1


def test_covering_fees_charges_the_grossed_up_total(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    token, started = start(client, "en", amount="5", cover_fees="1")
    setup = stripe_js.confirm_card_payment(started["client_secret"], CARDS["visa"])
    assert confirm(client, "en", token, setup["id"]).status_code == 200
    with app.app_context():
        payment = db.session.scalars(sa.select(Payment)).one()
        # ceil((500 + 30) / 0.971) = 546
        assert payment.amount == 546 and payment.fee_cover == 46
        assert db.session.scalars(sa.select(Membership)).one().covers_fees


def test_yearly_in_euros_with_a_custom_amount_in_arabic_digits(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    token, started = start(
        client, "ar", frequency="year", currency="eur", amount="other", custom_amount="٢٥٫٥"
    )
    setup = stripe_js.confirm_card_payment(started["client_secret"], CARDS["visa"])
    response = confirm(client, "ar", token, setup["id"])
    assert response.status_code == 200
    page = client.get(response.get_json()["redirect"]).get_data(as_text=True)
    assert i18n.translate(app, "Yearly") in page
    with app.app_context():
        membership = db.session.scalars(sa.select(Membership)).one()
        assert (membership.amount, membership.currency, membership.interval) == (2550, "eur", "year")


def test_one_time_gift_in_english(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client
) -> None:  # type: ignore[no-untyped-def]
    token, started = start(client, "en", frequency="once", amount="10", name="Sam")
    assert started["kind"] == "payment"
    intent = stripe_js.confirm_card_payment(started["client_secret"], CARDS["visa"])
    assert intent["status"] == "succeeded"
    response = confirm(client, "en", token, intent["id"])
    assert response.status_code == 200, response.get_json()
    page = client.get(response.get_json()["redirect"]).get_data(as_text=True)
    assert "Thank you, Sam!" in page
    assert "Your gift of <bdi>$10.00</bdi> has arrived" in page  # the amount isolated (bidi)
    with app.app_context():
        payment = db.session.scalars(sa.select(Payment)).one()
        assert payment.membership_id is None
        assert (payment.amount, payment.currency, payment.status) == (1000, "usd", PaymentStatus.SUCCEEDED)
        assert payment.stripe_payment_intent_id == intent["id"]
    assert count_rows(app)["membership"] == 0
    assert stripe_client.v1.payment_intents.retrieve(intent["id"])["amount"] == 1000


def test_three_d_secure_card_for_a_membership_asks_once(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    _token, started = start(client, "ar")
    # confirm_card_payment answers the bank's one challenge; the first charge needs no other.
    paid = stripe_js.confirm_card_payment(started["client_secret"], CARDS["3ds"])
    assert paid["status"] == "succeeded"
    done = returned(client, started, paid)
    assert done.status_code == 302 and "/ar/support/thank-you/" in done.location
    assert count_rows(app)["membership"] == 1 and count_rows(app)["payment"] == 1


def test_failed_authentication_is_explained_and_nothing_is_recorded(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    token, started = start(client, "ar")
    stripe_js.confirm_card_payment(started["client_secret"], CARDS["3ds"], authenticate=False)
    response = confirm(client, "ar", token, started["intent_id"])  # support.js reports the failure
    assert response.status_code == 402
    assert response.get_json()["error"]["message"] == i18n.message(
        app, "payment_intent_authentication_failure"
    )
    assert count_rows(app)["payment"] == 0


def test_card_refused_by_stripe_is_said_in_arabic(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    _, started = start(client, "ar")
    result = stripe_js.confirm_card_payment(started["client_secret"], CARDS["declined"])
    assert result["error"]["code"] == "card_declined"  # the page maps this code to Arabic text
    html = client.get("/ar/support").get_data(as_text=True)
    config = json.loads(
        re.search(r'<script type="application/json" id="support-config">(.*?)</script>', html, re.S).group(1)
    )
    assert config["declines"]["card_declined"] == i18n.message(app, "card_declined")
    assert i18n.is_arabic(config["declines"]["card_declined"])


def test_card_that_fails_the_first_charge_gets_an_arabic_decline(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    token, started = start(client, "ar")
    refused = stripe_js.confirm_card_payment(started["client_secret"], CARDS["fails_charge"])
    assert refused["error"]["code"] == "card_declined"
    response = confirm(client, "ar", token, started["intent_id"])  # support.js reports the decline
    assert response.status_code == 402
    assert response.get_json()["error"]["message"] == i18n.message(app, "card_declined")
    assert i18n.is_arabic(response.get_json()["error"]["message"])
    assert count_rows(app)["membership"] == 0 and count_rows(app)["payment"] == 0


def test_a_returning_reader_keeps_one_customer(app: Flask, client: FlaskClient, stripe_js: StripeJs) -> None:
    for amount in ("1", "3"):
        token, started = start(client, "en", amount=amount, frequency="once")
        intent = stripe_js.confirm_card_payment(started["client_secret"], CARDS["visa"])
        assert confirm(client, "en", token, intent["id"]).status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Supporter)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 2


def test_thank_you_link_cannot_be_forged(client: FlaskClient) -> None:
    assert client.get("/en/support/thank-you/1.forged").status_code == 404


def test_a_thank_you_link_is_not_cached_and_ends_after_a_day(
    client: FlaskClient, stripe_js: StripeJs, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, started = start(client, "en", frequency="once")
    intent = stripe_js.confirm_card_payment(started["client_secret"], CARDS["visa"])
    link = confirm(client, "en", token, intent["id"]).get_json()["redirect"]
    page = client.get(link)
    assert page.status_code == 200
    assert {"no-store", "private"} <= set(page.headers["Cache-Control"].replace(" ", "").split(","))
    later = time.time() + 25 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get(link).status_code == 404  # a forwarded or kept link shows nothing a day later


def test_coming_back_from_a_failed_payment_shows_the_page_with_the_reason_in_arabic(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    _token, started = start(client, "ar", frequency="once", amount="other", custom_amount="7")
    refused = stripe_js.confirm_card_payment(started["client_secret"], CARDS["fails_charge"])
    assert "error" in refused
    # Coming back to return_url: whatever redirect_status says, the server asks Stripe.
    intent = {"id": started["intent_id"], "status": "succeeded"}
    page = returned(client, started, intent)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="ar" dir="rtl">' in html
    assert f'aria-live="assertive" >{i18n.message(app, "card_declined")}</p>' in html  # shown, not hidden
    assert 'name="custom_amount" inputmode="decimal" autocomplete="off" value="7"' in html  # the gift kept
    assert count_rows(app)["payment"] == 0
