"""A member changes, cancels and resumes their membership and replaces their card.

Each change is checked in our rows and at localstripe (through our own Stripe
client), and a webhook that repeats Stripe's answer changes nothing twice.
"""

from __future__ import annotations

import re
import time
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.i18n import format_day, format_money
from app.models import (
    AuditEntry,
    EmailKind,
    EmailLog,
    Interval,
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
    Supporter,
)
from tests import i18n
from tests import stripe_events as se
from tests.account_helpers import EMAIL, JSON, fail_a_renewal, give, membership, page_csrf, sign_in
from tests.harness import CARDS, StripeJs

NEW_CARD = "4000056655665556"


def member(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, lang: str = "en", **fields: str
) -> Membership:
    give(client, stripe_js, lang, **fields)
    sign_in(app, client, EMAIL, lang)
    return membership(app)


def flashes(client: FlaskClient, lang: str = "en") -> str:
    return client.get(f"/{lang}/account").get_data(as_text=True)


def audit_actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


def emails_of(app: Flask, kind: EmailKind) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(EmailLog.about).where(EmailLog.kind == kind)))


def test_a_new_amount_applies_from_the_next_charge(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    before = member(app, client, stripe_js)
    path = f"/en/account/membership/{before.id}/change"
    form = client.get(path).get_data(as_text=True)
    assert 'value="month" checked' in form and 'value="1" checked' in form  # today's choice
    token = page_csrf(client, path)

    review = client.post(path, data={"csrf_token": token, "frequency": "month", "amount": "5"})
    assert review.status_code == 200
    next_charge = format_day(before.current_period_end, "en")
    summary = (
        f"From {next_charge} you will give <bdi>$5.00</bdi> a month instead of <bdi>$1.00</bdi> a month."
    )
    assert summary in review.get_data(as_text=True)
    assert "Nothing is charged or refunded today" in review.get_data(as_text=True)
    assert membership(app).amount == 100  # nothing changed before the confirmation

    done = client.post(path, data={"csrf_token": token, "frequency": "month", "amount": "5", "confirm": "1"})
    assert done.status_code == 302
    assert summary in flashes(client)

    after = membership(app)
    assert (after.amount, after.interval, after.status) == (500, Interval.MONTH, MembershipStatus.ACTIVE)
    assert after.current_period_end == before.current_period_end
    subscription = stripe_client.v1.subscriptions.retrieve(after.stripe_subscription_id)
    assert subscription["items"]["data"][0]["plan"]["amount"] == 500
    assert subscription["metadata"]["gift"] == "500"
    customer = subscription["customer"]
    # No proration: no credit or charge waits for the next invoice, and no invoice today.
    pending = [
        i for i in stripe_client.v1.invoice_items.list(params={"customer": customer}).data if not i["invoice"]
    ]
    assert pending == []
    assert len(stripe_client.v1.invoices.list(params={"customer": customer}).data) == 1
    assert audit_actions(app)[-1] == "membership.change"


def test_yearly_from_the_next_charge_date_in_arabic(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    before = member(app, client, stripe_js, "ar")
    path = f"/ar/account/membership/{before.id}/change"
    token = page_csrf(client, path)
    fields = {"csrf_token": token, "frequency": "year", "amount": "other", "custom_amount": "٢٥"}
    review = client.post(path, data=fields).get_data(as_text=True)
    with app.test_request_context("/ar/account"):
        summary = i18n.translate(
            app,
            "From %(date)s you will give %(after)s a year instead of %(before)s a month.",
            date=format_day(before.current_period_end, "ar"),
            after=f"<bdi>{format_money(2500, 'usd', 'ar')}</bdi>",  # each amount isolated
            before=f"<bdi>{format_money(100, 'usd', 'ar')}</bdi>",
        )
    assert summary in review
    assert client.post(path, data={**fields, "confirm": "1"}).status_code == 302

    after = membership(app)
    assert (after.amount, after.interval) == (2500, Interval.YEAR)
    assert after.current_period_end == before.current_period_end  # the paid month stays paid
    assert after.is_member
    subscription = stripe_client.v1.subscriptions.retrieve(after.stripe_subscription_id)
    plan = subscription["items"]["data"][0]["plan"]
    assert (plan["amount"], plan["interval"]) == (2500, "year")
    assert subscription["trial_end"] == int(before.current_period_end.timestamp())
    invoices = stripe_client.v1.invoices.list(params={"customer": subscription["customer"]}).data
    assert len(invoices) == 1  # nothing charged today


def test_a_failed_payment_comes_before_a_new_frequency(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    row = member(app, client, stripe_js)
    fail_a_renewal(app, stripe_client, row)
    path = f"/en/account/membership/{row.id}/change"
    token = page_csrf(client, path)
    yearly = {"csrf_token": token, "frequency": "year", "amount": "other", "custom_amount": "25"}
    refused = client.post(path, data={**yearly, "confirm": "1"})
    assert refused.status_code == 302
    assert "Please update your card first" in flashes(client)
    assert membership(app).interval == Interval.MONTH
    subscription = stripe_client.v1.subscriptions.retrieve(row.stripe_subscription_id)
    assert subscription["items"]["data"][0]["plan"]["interval"] == "month"
    # The amount alone may change: the next invoice has it, nothing else moves.
    more = client.post(path, data={"csrf_token": token, "frequency": "month", "amount": "5", "confirm": "1"})
    assert more.status_code == 302 and membership(app).amount == 500


def test_a_change_is_checked_like_the_support_page(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    row = member(app, client, stripe_js)
    path = f"/en/account/membership/{row.id}/change"
    token = page_csrf(client, path)
    low = client.post(
        path, data={"csrf_token": token, "frequency": "month", "amount": "other", "custom_amount": "0.50"}
    )
    assert low.status_code == 400
    assert "The smallest gift we can take in this currency is $1." in low.get_data(as_text=True)
    same = client.post(path, data={"csrf_token": token, "frequency": "month", "amount": "1", "confirm": "1"})
    assert same.status_code == 400
    assert "This is what you give already." in same.get_data(as_text=True)
    assert client.post(path, data={"frequency": "month", "amount": "5", "confirm": "1"}).status_code == 400
    assert membership(app).amount == 100


def test_cancel_with_a_reason_then_resume(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    row = member(app, client, stripe_js)
    path = f"/en/account/membership/{row.id}/cancel"
    assert "stays active until" in client.get(path).get_data(as_text=True)
    token = page_csrf(client, path)
    assert client.post(path, data={"csrf_token": token, "reason": "  Money is tight  "}).status_code == 302
    page = flashes(client)
    until = format_day(row.current_period_end, "en")
    assert f"Your membership is cancelled. It stays active until {until}" in page
    assert f"Cancelled: active until {until}, then it ends." in page

    cancelled = membership(app)
    assert cancelled.cancel_at_period_end and cancelled.status == MembershipStatus.ACTIVE
    assert cancelled.cancellation_reason == "Money is tight"
    subscription = stripe_client.v1.subscriptions.retrieve(row.stripe_subscription_id)
    assert subscription["cancel_at_period_end"] is True
    assert subscription["cancellation_details"]["comment"] == "Money is tight"
    assert len(emails_of(app, EmailKind.CANCELLATION)) == 1

    # Stripe's event about the same change arrives (with Stripe's own code, as
    # Stripe adds it): nothing happens twice, and the reader's words stay.
    echoed = subscription.to_dict()
    echoed["cancellation_details"]["reason"] = "cancellation_requested"
    event = se.event("customer.subscription.updated", echoed, created=int(time.time()))
    assert se.post(client, event).status_code == 200
    again = membership(app)
    assert again.cancel_at_period_end and again.amount == 100
    assert again.cancellation_reason == "Money is tight"
    assert len(emails_of(app, EmailKind.CANCELLATION)) == 1

    token = page_csrf(client, "/en/account")
    assert (
        client.post(f"/en/account/membership/{row.id}/resume", data={"csrf_token": token}).status_code == 302
    )
    assert "Your membership continues." in flashes(client)
    resumed = membership(app)
    assert not resumed.cancel_at_period_end and resumed.cancellation_reason is None
    at_stripe = stripe_client.v1.subscriptions.retrieve(row.stripe_subscription_id)
    assert at_stripe["cancel_at_period_end"] is False
    assert at_stripe["cancellation_details"]["comment"] is None  # no old reason to come back
    assert audit_actions(app)[-2:] == ["membership.cancel", "membership.resume"]

    # Cancelled again without a reason: Stripe's code, when its event brings one.
    token = page_csrf(client, path)
    assert client.post(path, data={"csrf_token": token, "reason": "   "}).status_code == 302
    assert membership(app).cancellation_reason is None
    echoed = stripe_client.v1.subscriptions.retrieve(row.stripe_subscription_id).to_dict()
    assert echoed["cancellation_details"]["comment"] is None
    echoed["cancellation_details"]["reason"] = "cancellation_requested"
    later = se.event("customer.subscription.updated", echoed, created=int(time.time()) + 2)
    assert se.post(client, later).status_code == 200
    assert membership(app).cancellation_reason == "cancellation_requested"


def update_card(client: FlaskClient, stripe_js: StripeJs, number: str, lang: str = "en") -> Any:
    token = page_csrf(client, f"/{lang}/account/card")
    started = client.post(f"/{lang}/account/card/start", data={"csrf_token": token}, headers=JSON)
    assert started.status_code == 200, started.get_json()
    setup = stripe_js.confirm_card_setup(started.get_json()["client_secret"], number)
    assert setup["status"] == "succeeded"
    return client.post(
        f"/{lang}/account/card/confirm",
        data={"csrf_token": token, "setup_intent_id": setup["id"]},
        headers=JSON,
    )


def test_a_new_card_becomes_the_default_and_pays_the_failed_renewal(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    row = member(app, client, stripe_js)
    invoice_id = fail_a_renewal(app, stripe_client, row)
    home = flashes(client)
    assert "Payment failed: our payment processor, Stripe, is retrying your card." in home
    assert "A payment failed. Once your new card is saved" in client.get("/en/account/card").get_data(
        as_text=True
    )

    done = update_card(client, stripe_js, NEW_CARD)
    assert done.status_code == 200, done.get_json()
    page = client.get(done.get_json()["redirect"]).get_data(as_text=True)
    assert "Your new card is saved: Visa ending in 5556." in page
    assert "The payment that had failed ($1.00) went through with your new card." in page
    assert re.search(r"Visa ending in <bdi dir=\"ltr\">5556</bdi>", page)
    assert "Active" in page

    with app.app_context():
        supporter = db.session.scalars(sa.select(Supporter)).one()
        assert (supporter.card_brand, supporter.card_last4, supporter.card_exp_year) == ("visa", "5556", 2034)
        payment = db.session.scalars(sa.select(Payment).where(Payment.stripe_invoice_id == invoice_id)).one()
        assert payment.status == PaymentStatus.SUCCEEDED and payment.receipt_number and payment.paid_at
        assert db.session.get(Membership, row.id).status == MembershipStatus.ACTIVE
        customer_id = supporter.stripe_customer_id
    assert f"payment:{payment.id}" in emails_of(app, EmailKind.RECEIPT)
    customer = stripe_client.v1.customers.retrieve(customer_id)
    new_method = customer["invoice_settings"]["default_payment_method"]
    assert stripe_client.v1.payment_methods.retrieve(new_method)["card"]["last4"] == "5556"
    subscription = stripe_client.v1.subscriptions.retrieve(row.stripe_subscription_id)
    assert subscription["default_payment_method"] == new_method
    assert stripe_client.v1.invoices.retrieve(invoice_id)["status"] == "paid"
    assert audit_actions(app)[-2:] == ["card.update", "invoice.retry"]


def test_a_card_that_fails_again_is_saved_and_the_member_told(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, stripe_client: stripe.StripeClient
) -> None:
    row = member(app, client, stripe_js)
    invoice_id = fail_a_renewal(app, stripe_client, row)
    done = update_card(client, stripe_js, CARDS["fails_charge"])
    assert done.status_code == 200
    page = client.get("/en/account").get_data(as_text=True)
    assert "The payment that had failed ($1.00) was declined again:" in page
    assert stripe_client.v1.invoices.retrieve(invoice_id)["status"] == "open"
    with app.app_context():
        payment = db.session.scalars(sa.select(Payment).where(Payment.stripe_invoice_id == invoice_id)).one()
        assert payment.status == PaymentStatus.FAILED


def test_the_card_step_takes_only_this_browsers_setup_intent(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    member(app, client, stripe_js)
    token = page_csrf(client, "/en/account/card")
    forged = client.post(
        "/en/account/card/confirm", data={"csrf_token": token, "setup_intent_id": "seti_other"}, headers=JSON
    )
    assert forged.status_code == 409
    anonymous = app.test_client()
    assert anonymous.post("/en/account/card/start", data={}, headers=JSON).status_code in (400, 401)


def test_someone_elses_membership_is_not_found(app: Flask, client: FlaskClient, stripe_js: StripeJs) -> None:
    row = member(app, client, stripe_js)
    with app.app_context():
        from tests.factories import MembershipFactory

        other = MembershipFactory()
        db.session.commit()
        other_id = other.id
    assert client.get(f"/en/account/membership/{other_id}/change").status_code == 404
    token = page_csrf(client, "/en/account")
    assert (
        client.post(f"/en/account/membership/{other_id}/cancel", data={"csrf_token": token}).status_code
        == 404
    )
    assert client.get(f"/en/account/membership/{row.id}/change").status_code == 200
