"""``flask stripe sync`` and ``flask stripe replay`` against a real localstripe.

Objects are made at localstripe the way staff or Stripe make them (no webhook
registered, so nothing reaches us but what the commands fetch), then the
commands run through Flask's CLI runner and the rows are checked.

A localstripe of this module's own, emptied before each test: sync and replay
read *everything* Stripe has, so other tests' objects must not be there.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
import stripe
from click.testing import Result
from flask import Flask

from app.extensions import db
from app.models import (
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
    Supporter,
    SyncCursor,
    WebhookEvent,
)
from app.services import webhooks
from app.services.stripe_gateway import StripeGateway, get_gateway
from tests.conftest import count_rows, make_app
from tests.harness import SEPA_IBANS, empty_localstripe, free_port, own_localstripe_url, settle_charge  # noqa: F401 (fixtures: a localstripe of this module's own, emptied before each test)

#: Columns that say when a row was last confirmed, not what it holds.
BOOKKEEPING = {"updated_at", "stripe_state_at"}
DOMAIN_TABLES = ("supporter", "membership", "payment", "email_log")

# -- making things at Stripe -------------------------------------------------------------------


def reader(
    stripe_client: stripe.StripeClient,
    email: str | None,
    name: str = "",
    locales: tuple[str, ...] = ("en",),
    card: bool = True,
) -> Any:
    """A customer, with a Visa as the default card."""
    params: dict[str, Any] = {"preferred_locales": list(locales)}
    if email:
        params["email"] = email
    if name:
        params["name"] = name
    customer = stripe_client.v1.customers.create(params=params)
    if card:
        method = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        customer = stripe_client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": method.id}}
        )
    return customer


def subscribe(
    stripe_client: stripe.StripeClient,
    customer_id: str,
    amount: int = 500,
    currency: str = "usd",
    interval: str = "month",
    metadata: dict[str, str] | None = None,
) -> Any:
    """A subscription on the plan our gateway would use (``ensure_plan``'s ids)."""
    plan_id = f"support-{currency}-{amount}-{interval}"
    try:
        stripe_client.v1.plans.retrieve(plan_id)
    except stripe.InvalidRequestError:
        stripe_client.v1.plans.create(
            params={
                "id": plan_id,
                "amount": amount,
                "currency": currency,
                "interval": interval,
                "product": {"name": f"{interval}ly support"},
            }
        )
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer_id, "items": [{"plan": plan_id}], "metadata": metadata or {}}
    )
    assert subscription["status"] == "active"
    return subscription


def give_once(
    stripe_client: stripe.StripeClient,
    customer: Any,
    amount: int = 1200,
    currency: str = "eur",
    metadata: dict[str, str] | None = None,
) -> Any:
    """A one-time gift as our support page makes it, paid with the default card."""
    intent = stripe_client.v1.payment_intents.create(
        params={
            "customer": customer.id,
            "amount": amount,
            "currency": currency,
            "payment_method": customer.invoice_settings.default_payment_method,
            "confirm": True,
            "metadata": {"frequency": "once", "fee_cover": "0", **(metadata or {})},
        }
    )
    assert intent["status"] == "succeeded"
    return intent


def charge_of(intent: Any) -> str:
    latest = intent["latest_charge"]
    return str(latest if isinstance(latest, str) else latest["id"])


# -- reading what we have ------------------------------------------------------------------------


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def snapshot(app: Flask) -> dict[str, list[dict[str, Any]]]:
    """Every domain row, without the columns that only record when."""
    with app.app_context():
        tables = {t.name: t for t in db.metadata.sorted_tables}
        found = {}
        for name in DOMAIN_TABLES:
            table = tables[name]
            rows = db.session.execute(sa.select(table).order_by(*table.primary_key.columns)).mappings()
            found[name] = [{k: v for k, v in row.items() if k not in BOOKKEEPING} for row in rows]
        db.session.rollback()
        return found


def rows(app: Flask, model: type) -> list[Any]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(model).order_by(sa.text("1"))))
        db.session.expunge_all()
        return found


def by_email(app: Flask, email: str) -> Supporter:
    with app.app_context():
        supporter = db.session.scalars(sa.select(Supporter).where(Supporter.email == email)).one()
        db.session.expunge(supporter)
        return supporter


def kind_line(result: Result, kind: str) -> str:
    return next(line for line in result.stdout.splitlines() if line.startswith(f"{kind}:"))


def gateway_calls(app: Flask) -> int:
    with app.app_context():
        return get_gateway().calls


# -- sync ---------------------------------------------------------------------------------------


def test_sync_builds_what_stripe_has_and_a_second_run_changes_nothing(
    app: Flask, stripe_client: stripe.StripeClient
) -> None:
    hala = reader(stripe_client, "Hala.Staff@Example.org", "Hala", ("en",))
    hala_sub = subscribe(
        stripe_client, hala.id, 500, "usd", "month", {"campaign": "gaza-desk", "fee_cover": "0"}
    )
    omar = reader(stripe_client, "omar@example.org", "عمر", ("ar",))
    omar_sub = subscribe(stripe_client, omar.id, 2000, "eur", "year")
    stripe_client.v1.subscriptions.cancel(omar_sub.id)
    lina = reader(stripe_client, "lina@example.org", "Lina", ("en-GB",))
    gift = give_once(stripe_client, lina, 1200, "eur", {"campaign": "ramadan"})
    stripe_client.v1.refunds.create(params={"charge": charge_of(gift), "amount": 200})
    reader(stripe_client, "abandoned@example.org", "Left the page")  # a customer who never paid

    result = run(app, "stripe", "sync")
    assert result.exit_code == 0, result.output
    assert kind_line(result, "subscriptions") == "subscriptions: 2 listed, 2 changed, 0 unchanged, 0 skipped"
    assert kind_line(result, "invoices") == "invoices: 2 listed, 2 changed, 0 unchanged, 0 skipped"
    assert kind_line(result, "customers").startswith("customers: 4 listed")
    assert "rows created: " in result.stdout and "membership 2" in result.stdout
    assert "payment 3" in result.stdout and "supporter 3" in result.stdout

    # One supporter per paying reader, from the customer: lower-cased email, name, language.
    assert sorted((s.email, s.name, s.locale) for s in rows(app, Supporter)) == [
        ("hala.staff@example.org", "Hala", "en"),
        ("lina@example.org", "Lina", "en"),
        ("omar@example.org", "عمر", "ar"),
    ]
    hala_row = by_email(app, "hala.staff@example.org")
    assert (hala_row.stripe_customer_id, hala_row.card_brand, hala_row.card_last4) == (
        hala.id,
        "visa",
        "4242",
    )

    memberships = {m.stripe_subscription_id: m for m in rows(app, Membership)}
    monthly = memberships[hala_sub.id]
    assert (monthly.status, monthly.amount, monthly.currency, monthly.interval, monthly.campaign) == (
        MembershipStatus.ACTIVE,
        500,
        "usd",
        "month",
        "gaza-desk",
    )
    assert monthly.current_period_end is not None
    assert int(monthly.current_period_end.timestamp()) == hala_sub["current_period_end"]
    assert monthly.stripe_state_at is not None
    yearly = memberships[omar_sub.id]
    assert (yearly.status, yearly.amount, yearly.currency, yearly.interval) == (
        MembershipStatus.CANCELED,
        2000,
        "eur",
        "year",
    )

    payments = {p.amount: p for p in rows(app, Payment)}
    assert sorted(payments) == [500, 1200, 2000]
    invoices = {i.id: i for i in stripe_client.v1.invoices.list(params={"limit": 10}).data}
    renewal = payments[500]
    assert renewal.membership_id == monthly.id and renewal.stripe_invoice_id in invoices
    assert renewal.stripe_payment_intent_id and renewal.stripe_charge_id
    assert (renewal.status, renewal.currency, renewal.paid_at is not None) == (
        PaymentStatus.SUCCEEDED,
        "usd",
        True,
    )
    once = payments[1200]
    assert (once.membership_id, once.stripe_payment_intent_id, once.stripe_charge_id) == (
        None,
        gift.id,
        charge_of(gift),
    )
    assert (once.status, once.refunded_amount, once.currency, once.campaign) == (
        PaymentStatus.SUCCEEDED,
        200,
        "eur",
        "ramadan",
    )
    assert payments[2000].membership_id == yearly.id

    # Cursors: every list walked to its end.
    assert {c.name: (c.finished_at is not None) for c in rows(app, SyncCursor)} == {
        "subscriptions": True,
        "invoices": True,
        "charges": True,
        "customers": True,
    }

    before, counts = snapshot(app), count_rows(app)
    again = run(app, "stripe", "sync")
    assert again.exit_code == 0, again.output
    for kind in ("subscriptions", "invoices", "charges", "customers"):
        assert " 0 changed" in kind_line(again, kind), again.stdout
    assert "rows created: none" in again.stdout and "rows updated: none" in again.stdout
    assert snapshot(app) == before
    assert count_rows(app) == counts


def test_sync_pages_stops_at_a_limit_and_resumes_after_the_last_object(
    app: Flask, stripe_client: stripe.StripeClient
) -> None:
    for n in range(3):
        customer = reader(stripe_client, f"reader{n}@example.org", f"Reader {n}")
        subscribe(stripe_client, customer.id, 300 + 100 * n)
    # 3 subscriptions, 3 invoices, 3 charges, 3 customers: pages of 2.

    calls = gateway_calls(app)
    first = run(app, "stripe", "sync", "--page-size", "2", "--limit", "4")
    assert first.exit_code == 0, first.output
    assert "stopped after 4 objects (--limit)" in first.stdout
    assert kind_line(first, "subscriptions") == "subscriptions: 3 listed, 3 changed, 0 unchanged, 0 skipped"
    assert (
        kind_line(first, "invoices") == "invoices: 1 listed, 1 changed, 0 unchanged, 0 skipped, stopped here"
    )
    assert kind_line(first, "charges") == "charges: not reached"
    assert gateway_calls(app) - calls == 3  # subscriptions 2 pages, invoices 1 page: no fetch per object
    cursors = {c.name: c for c in rows(app, SyncCursor)}
    assert cursors["subscriptions"].finished_at is not None
    assert cursors["invoices"].finished_at is None and cursors["invoices"].last_id
    assert cursors["charges"].last_id is None and cursors["charges"].finished_at is None
    assert (len(rows(app, Membership)), len(rows(app, Payment))) == (3, 1)
    paid_first = rows(app, Payment)[0].stripe_invoice_id
    assert paid_first == cursors["invoices"].last_id

    resumed = run(app, "stripe", "sync", "--page-size", "2", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resumed the unfinished run" in resumed.stdout
    assert kind_line(resumed, "subscriptions") == "subscriptions: finished before the interruption"
    assert kind_line(resumed, "invoices") == (
        f"invoices: 2 listed (after {paid_first}), 2 changed, 0 unchanged, 0 skipped"
    )
    assert kind_line(resumed, "charges").startswith("charges: 3 listed")
    assert "stopped" not in resumed.stdout
    payments = rows(app, Payment)
    assert len(payments) == 3 and len({p.stripe_invoice_id for p in payments}) == 3
    assert all(p.stripe_charge_id and p.membership_id for p in payments)
    assert all(c.finished_at is not None for c in rows(app, SyncCursor))

    # The result is what one uninterrupted run makes: a full run finds nothing to change,
    # and --resume with nothing unfinished starts a new run.
    before = snapshot(app)
    full = run(app, "stripe", "sync", "--resume")
    assert full.exit_code == 0, full.output
    assert "resumed" not in full.stdout
    assert kind_line(full, "invoices") == "invoices: 3 listed, 0 changed, 3 unchanged, 0 skipped"
    assert snapshot(app) == before


def test_sync_skips_what_cannot_be_ours_and_goes_on(app: Flask, stripe_client: stripe.StripeClient) -> None:
    nameless = reader(stripe_client, None, "No email")
    subscribe(stripe_client, nameless.id, 700)
    known = reader(stripe_client, "known@example.org")
    subscribe(stripe_client, known.id, 900)

    result = run(app, "stripe", "sync")
    assert result.exit_code == 0, result.output
    assert kind_line(result, "subscriptions") == "subscriptions: 2 listed, 1 changed, 0 unchanged, 1 skipped"
    assert "customer_without_email" in result.stderr
    assert [s.email for s in rows(app, Supporter)] == ["known@example.org"]
    assert [p.amount for p in rows(app, Payment)] == [900]
    assert all(c.finished_at is not None for c in rows(app, SyncCursor))


def test_sync_catches_up_with_what_changed_at_stripe_since(
    app: Flask, stripe_client: stripe.StripeClient
) -> None:
    """What the webhooks missed (localstripe never sends ``charge.refunded`` or
    ``customer.subscription.updated``) arrives with the next sync."""
    hala = reader(stripe_client, "hala@example.org", "Hala", ("ar",))
    subscription = subscribe(stripe_client, hala.id, 500)
    assert run(app, "stripe", "sync").exit_code == 0
    payment = rows(app, Payment)[0]
    assert (payment.refunded_amount, payment.status) == (0, PaymentStatus.SUCCEEDED)

    stripe_client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    stripe_client.v1.refunds.create(params={"charge": payment.stripe_charge_id})
    stripe_client.v1.customers.update(hala.id, params={"name": "Hala H.", "preferred_locales": ["en"]})

    result = run(app, "stripe", "sync")
    assert result.exit_code == 0, result.output
    assert kind_line(result, "subscriptions").startswith("subscriptions: 1 listed, 1 changed")
    assert kind_line(result, "charges").startswith("charges: 1 listed, 1 changed")
    assert kind_line(result, "customers").startswith("customers: 1 listed, 1 changed")
    membership = rows(app, Membership)[0]
    assert (membership.status, membership.cancel_at_period_end) == (MembershipStatus.ACTIVE, True)
    payment = rows(app, Payment)[0]
    assert (payment.refunded_amount, payment.status) == (500, PaymentStatus.REFUNDED)
    supporter = by_email(app, "hala@example.org")
    assert (supporter.name, supporter.locale) == ("Hala H.", "en")
    assert count_rows(app)["payment"] == 1


def test_sync_finds_a_debit_on_its_way_and_later_its_payment(
    app: Flask, stripe_client: stripe.StripeClient, localstripe_url: str
) -> None:
    leila = reader(stripe_client, "leila@example.org", "Leila", ("ar",), card=False)
    method = stripe_client.v1.payment_methods.create(
        params={"type": "sepa_debit", "sepa_debit": {"iban": SEPA_IBANS["succeeds"]}}
    )
    intent = stripe_client.v1.payment_intents.create(
        params={"customer": leila.id, "amount": 1500, "currency": "eur", "payment_method": method.id,
                "confirm": True, "metadata": {"frequency": "once", "fee_cover": "0"}}
    )  # fmt: skip
    assert run(app, "stripe", "sync").exit_code == 0
    payment = rows(app, Payment)[0]
    assert (payment.status, payment.amount, payment.receipt_number) == (PaymentStatus.PENDING, 1500, None)

    settle_charge(localstripe_url, charge_of(intent))
    assert run(app, "stripe", "sync").exit_code == 0
    payment = rows(app, Payment)[0]
    assert payment.status == PaymentStatus.SUCCEEDED and payment.receipt_number
    assert count_rows(app)["payment"] == 1


def test_sync_that_loses_stripe_keeps_its_progress_for_resume(
    app: Flask, database_url: str, stripe_client: stripe.StripeClient
) -> None:
    for n in range(2):
        subscribe(stripe_client, reader(stripe_client, f"r{n}@example.org").id, 400 + n * 100)
    assert run(app, "stripe", "sync", "--limit", "3").exit_code == 0
    last = {c.name: c.last_id for c in rows(app, SyncCursor)}
    assert last["invoices"]

    # Stripe unreachable (nothing listens there): the run stops, says how to go on, keeps the cursors.
    dead = make_app(database_url, f"http://127.0.0.1:{free_port()}")
    try:
        failed = run(dead, "stripe", "sync", "--resume")
    finally:
        with dead.app_context():
            db.engine.dispose()
    assert failed.exit_code == 1
    assert "sync stopped in invoices" in failed.stderr and "--resume" in failed.stderr
    assert {c.name: c.last_id for c in rows(app, SyncCursor)} == last

    resumed = run(app, "stripe", "sync", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert (
        kind_line(resumed, "invoices")
        == f"invoices: 1 listed (after {last['invoices']}), 1 changed, 0 unchanged, 0 skipped"
    )
    assert len(rows(app, Payment)) == 2


# -- replay -------------------------------------------------------------------------------------


def test_replay_applies_events_the_endpoint_never_received_once(
    app: Flask, stripe_client: stripe.StripeClient
) -> None:
    hala = reader(stripe_client, "hala@example.org", "Hala", ("ar",))
    subscription = subscribe(stripe_client, hala.id, 500, "usd", "month")
    gift = give_once(stripe_client, hala, 1500, "usd")
    events = stripe_client.v1.events.list(params={"limit": 100}).data
    types = {e.type for e in events}
    assert {"customer.subscription.created", "invoice.payment_succeeded", "payment_intent.succeeded"} <= types
    assert count_rows(app)["webhook_event"] == 0  # nothing was delivered to us

    # One event reached the endpoint and was stored, but no worker applied it.
    with app.app_context():
        stored = next(e for e in events if e.type == "customer.subscription.created")
        assert webhooks.store_event(stored.to_dict()).new
        db.session.commit()

    result = run(app, "stripe", "replay", "--days", "1", "--page-size", "3")
    assert result.exit_code == 0, result.output
    ours = [e for e in events if e.type in webhooks.HANDLERS]
    others = len(events) - len(ours)
    assert others > 0  # customer.created, invoice.created, ...: listed, not stored
    assert (
        f"{len(events)} listed, {others} of other types, {len(ours) - 1} new, 1 already known"
        in result.stdout
    )
    assert ", failed: 0" in result.stdout

    stored_events = rows(app, WebhookEvent)
    assert sorted(e.stripe_event_id for e in stored_events) == sorted(e.id for e in ours)
    assert all(e.processed_at is not None and e.last_error is None for e in stored_events)
    supporter = by_email(app, "hala@example.org")
    assert (supporter.name, supporter.locale, supporter.stripe_customer_id) == ("Hala", "ar", hala.id)
    membership = rows(app, Membership)[0]
    assert (membership.stripe_subscription_id, membership.status, membership.amount) == (
        subscription.id,
        MembershipStatus.ACTIVE,
        500,
    )
    payments = {p.amount: p for p in rows(app, Payment)}
    assert sorted(payments) == [500, 1500]
    assert payments[500].membership_id == membership.id
    assert (payments[1500].membership_id, payments[1500].stripe_payment_intent_id) == (None, gift.id)

    before, counts = snapshot(app), count_rows(app)
    again = run(app, "stripe", "replay", "--days", "1")
    assert again.exit_code == 0, again.output
    assert f"{len(events)} listed, {others} of other types, 0 new, {len(ours)} already known" in again.stdout
    assert "applied: 0," in again.stdout
    assert snapshot(app) == before and count_rows(app) == counts

    # Sync reads the same objects from Stripe's lists and finds them as replay left them.
    synced = run(app, "stripe", "sync")
    assert synced.exit_code == 0, synced.output
    for kind in ("subscriptions", "invoices", "charges"):
        assert " 0 changed" in kind_line(synced, kind), synced.stdout
    assert snapshot(app)["payment"] == before["payment"]
    assert snapshot(app)["membership"] == before["membership"]


def test_with_nothing_at_stripe_both_commands_write_nothing(app: Flask) -> None:
    """Nothing at Stripe: both commands say so and write nothing but the cursors."""
    result = run(app, "stripe", "sync")
    assert result.exit_code == 0, result.output
    assert kind_line(result, "charges") == "charges: 0 listed, 0 changed, 0 unchanged, 0 skipped"
    replayed = run(app, "stripe", "replay")
    assert replayed.exit_code == 0 and "0 listed, 0 of other types, 0 new, 0 already known" in replayed.stdout
    counts = count_rows(app)
    assert counts["sync_cursor"] == 4
    assert sum(counts[t] for t in DOMAIN_TABLES) == 0


def test_pages_hand_out_plain_json_as_stripe_sent_it() -> None:
    """Decimal strings (a plan's ``amount_decimal``) stay strings, so events store as JSON."""
    plan = stripe.Plan.construct_from({"id": "plan_1", "amount": 500, "amount_decimal": "500"}, "sk_test")
    assert not isinstance(plan["amount_decimal"], str)  # the SDK makes it a Decimal
    seen: list[str | None] = []

    def list_page(starting_after: str | None = None, limit: int = 100) -> dict[str, Any]:
        seen.append(starting_after)
        return {"data": [plan] if starting_after is None else [], "has_more": starting_after is None}

    pages = list(StripeGateway.pages(list_page))
    assert seen == [None, "plan_1"]
    assert pages[0].objects == [{"id": "plan_1", "amount": 500, "amount_decimal": "500"}]
    assert json.dumps(pages[0].objects)
