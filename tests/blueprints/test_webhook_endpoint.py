"""``POST /webhooks/stripe``: what it refuses, what it stores, what it answers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Payment, WebhookEvent
from app.services import webhooks
from tests import stripe_events as se
from tests.conftest import count_rows


@pytest.fixture()
def gateway(app: Flask) -> Iterator[se.FakeGateway]:
    fake = se.FakeGateway()
    app.extensions["stripe_gateway"] = fake
    yield fake


def a_gift(customer_id: str = "cus_gift1") -> dict:  # type: ignore[type-arg]
    intent = se.payment_intent(
        se.new_id("pi"), customer_id, amount=2500, shape=se.OLD, charge=se.new_id("ch")
    )
    return se.event("payment_intent.succeeded", intent)


def stored(app: Flask) -> list[WebhookEvent]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(WebhookEvent)))
        db.session.expunge_all()
        return rows


def nothing_written(app: Flask) -> bool:
    return not any(count_rows(app).values())


@pytest.mark.parametrize(
    "how",
    ["missing", "wrong_secret", "stale", "tampered", "garbage_header"],
)
def test_bad_signatures_are_refused_and_nothing_is_written(
    app: Flask, client: FlaskClient, gateway: se.FakeGateway, how: str
) -> None:
    evt = a_gift()
    body = se.body_of(evt)
    now = int(time.time())
    header = {
        "missing": "",
        "wrong_secret": se.sign(body, "whsec_someone_else"),
        "stale": se.sign(body, timestamp=now - 301),
        "tampered": se.sign(body),
        "garbage_header": "v1=abc",
    }[how]
    if how == "tampered":
        body = body.replace(b"2500", b"250000")
    response = se.post(client, body, signature=header)
    assert response.status_code == 400
    assert response.get_json()["error"] in ("missing_signature", "bad_signature")
    assert nothing_written(app)
    assert gateway.calls == []


def test_a_signature_within_five_minutes_is_accepted(
    app: Flask, client: FlaskClient, gateway: se.FakeGateway
) -> None:
    gateway.customers["cus_gift1"] = se.customer("cus_gift1", "late@example.org")
    response = se.post(client, a_gift(), timestamp=int(time.time()) - 290)
    assert response.status_code == 200


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"id": "evt_1", "type": "x"}', b"{}"])
def test_signed_but_malformed_bodies_are_refused(app: Flask, client: FlaskClient, body: bytes) -> None:
    response = se.post(client, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_event"
    assert nothing_written(app)


def test_no_csrf_token_needed_and_only_post(client: FlaskClient, app: Flask) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True)
    assert client.get("/webhooks/stripe").status_code == 405
    assert client.post("/ar/webhooks/stripe").status_code == 404


def test_a_duplicate_delivery_is_acknowledged_and_changes_nothing(
    app: Flask, client: FlaskClient, gateway: se.FakeGateway
) -> None:
    gateway.customers["cus_gift1"] = se.customer("cus_gift1", "Giver@Example.org", "Giver", ["en"])
    evt = a_gift()
    first = se.post(client, evt)
    assert first.status_code == 200
    assert first.get_json() == {"received": True, "duplicate": False, "outcome": "applied"}
    before = count_rows(app)
    (row,) = stored(app)
    again = se.post(client, evt)
    assert again.status_code == 200
    assert again.get_json() == {"received": True, "duplicate": True, "outcome": "already"}
    assert count_rows(app) == before
    (same,) = stored(app)
    assert (same.processed_at, same.attempts) == (row.processed_at, 1)
    assert len(gateway.calls) == 1  # the customer, once


def test_the_stored_event_keeps_what_stripe_sent(
    app: Flask, client: FlaskClient, gateway: se.FakeGateway
) -> None:
    gateway.customers["cus_gift1"] = se.customer("cus_gift1", "g@example.org")
    evt = a_gift()
    se.post(client, evt)
    (row,) = stored(app)
    assert row.stripe_event_id == evt["id"] and row.type == "payment_intent.succeeded"
    assert row.payload == evt
    assert row.livemode is False
    assert row.created.timestamp() == evt["created"] and row.created.tzinfo is not None
    assert row.received_at and row.processed_at and row.processed_at >= row.received_at
    assert row.last_error is None


def test_live_events_are_ignored_with_a_test_key(app: Flask, client: FlaskClient) -> None:
    evt = a_gift()
    evt["livemode"] = True
    response = se.post(client, evt)
    assert response.status_code == 200
    assert response.get_json()["ignored"] == "livemode_mismatch"
    assert nothing_written(app)


def test_test_events_are_ignored_with_a_live_key(database_url: str, localstripe_url: str) -> None:
    from tests.conftest import empty_tables, make_app

    app = make_app(database_url, localstripe_url, STRIPE_SECRET_KEY="sk_live_realkey")
    try:
        response = se.post(app.test_client(), a_gift())
        assert response.status_code == 200
        assert response.get_json()["ignored"] == "livemode_mismatch"
        assert nothing_written(app)
    finally:
        empty_tables(app)


def test_storage_failure_answers_500_so_stripe_retries(
    app: Flask, client: FlaskClient, gateway: se.FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(event, raw=None):  # type: ignore[no-untyped-def]
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(webhooks, "store_event", broken)
    response = se.post(client, a_gift())
    assert response.status_code == 500
    assert response.get_json() == {"error": "not_stored"}
    assert nothing_written(app)


def test_an_event_that_fails_to_apply_is_kept_with_its_error_and_applied_on_redelivery(
    app: Flask, client: FlaskClient, gateway: se.FakeGateway
) -> None:
    evt = a_gift("cus_unknown")  # Stripe cannot tell us who this is (yet)
    response = se.post(client, evt)
    assert response.status_code == 200  # stored: Stripe need not retry
    assert response.get_json()["outcome"] == "failed"
    (row,) = stored(app)
    assert row.processed_at is None and row.attempts == 1
    assert row.last_error == "NotFound: resource_missing (cus_unknown)"
    assert count_rows(app)["payment"] == 0

    gateway.customers["cus_unknown"] = se.customer("cus_unknown", "found@example.org")
    again = se.post(client, evt)  # Stripe's retry, or a sweep
    assert again.get_json() == {"received": True, "duplicate": True, "outcome": "applied"}
    (row,) = stored(app)
    assert row.processed_at is not None and row.attempts == 2 and row.last_error is None
    assert count_rows(app)["payment"] == 1


def test_pending_events_are_applied_by_the_command(
    app: Flask, client: FlaskClient, gateway: se.FakeGateway
) -> None:
    se.post(client, a_gift("cus_later"))
    gateway.customers["cus_later"] = se.customer("cus_later", "later@example.org")
    result = app.test_cli_runner().invoke(args=["stripe", "apply-pending"])
    assert result.exit_code == 0, result.output
    assert "applied: 1" in result.output and "waiting: 0" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1


def test_events_we_do_not_act_on_are_stored_and_marked(
    app: Flask, client: FlaskClient, gateway: se.FakeGateway
) -> None:
    plan_created = se.fixture("event")  # Stripe's example event: plan.created
    response = se.post(client, plan_created)
    assert response.get_json()["outcome"] == "ignored"
    (row,) = stored(app)
    assert row.processed_at is not None
    assert count_rows(app)["webhook_event"] == 1 and sum(count_rows(app).values()) == 1


def test_a_large_event_is_accepted(app: Flask, client: FlaskClient, gateway: se.FakeGateway) -> None:
    gateway.customers["cus_gift1"] = se.customer("cus_gift1", "big@example.org")
    evt = a_gift()
    evt["data"]["object"]["metadata"] = {f"k{i}": "x" * 400 for i in range(250)}  # ~100 kB
    assert len(se.body_of(evt)) > app.config["MAX_CONTENT_LENGTH"]
    assert se.post(client, evt).status_code == 200
