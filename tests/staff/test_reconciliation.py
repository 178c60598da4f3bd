"""Payouts from ``payout.paid`` with the charges, refunds and fees in each, checked against our payments.

localstripe has no payouts with transactions (its balance history takes no
``payout`` filter), so Stripe's answer to the gateway's one list call per
payout is played by a fake gateway built from Stripe's documented shape.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import EmailKind, EmailLog, Payout, PayoutTransaction
from app.services import emails, reconciliation
from tests import i18n
from tests import stripe_events as se
from tests.factories import MembershipFactory, PaymentFactory, SupporterFactory
from tests.mail import parts

ARRIVAL = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())


class PayoutGateway(se.FakeGateway):
    def __init__(self) -> None:
        super().__init__()
        self.payouts: dict[str, list[dict[str, Any]]] = {}

    def payout_balance_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        self.calls.append(("payout_balance_transactions", payout_id))
        return [dict(t) for t in self.payouts[payout_id]]


@pytest.fixture()
def gateway(app: Flask) -> Iterator[PayoutGateway]:
    fake = PayoutGateway()
    app.extensions["stripe_gateway"] = fake
    yield fake


def txn(
    txn_id: str, kind: str, amount: int, fee: int, source: Any, category: str | None = None
) -> dict[str, Any]:
    return {
        "id": txn_id,
        "object": "balance_transaction",
        "type": kind,
        "reporting_category": category or kind,
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": "usd",
        "exchange_rate": None,
        "source": source,
        "created": ARRIVAL - 86400 * 3,
    }


def payout(payout_id: str, amount: int, automatic: bool = True) -> dict[str, Any]:
    return {
        "id": payout_id,
        "object": "payout",
        "amount": amount,
        "currency": "usd",
        "status": "paid",
        "automatic": automatic,
        "arrival_date": ARRIVAL,
        "created": ARRIVAL - 86400 * 2,
    }


@pytest.fixture()
def payments(app: Flask) -> dict[str, int]:
    """Three charges of ours: 10.00, 5.00 (half refunded later) and a 20.00 EUR gift."""
    with app.app_context():
        reader = SupporterFactory(email="layla@example.org")
        membership = MembershipFactory(supporter=reader)
        ten = PaymentFactory(membership=membership, amount=1000, stripe_charge_id="ch_ten")
        five = PaymentFactory(
            membership=membership, amount=500, stripe_charge_id="ch_five", refunded_amount=250
        )
        euros = PaymentFactory(
            membership=None, supporter=reader, amount=2000, currency="eur", stripe_charge_id="ch_euros"
        )
        db.session.commit()
        return {"ten": ten.id, "five": five.id, "euros": euros.id, "supporter": reader.id}


def matching_payout(gateway: PayoutGateway) -> dict[str, Any]:
    gateway.payouts["po_week47"] = [
        txn("txn_1", "charge", 1000, 59, "ch_ten"),
        txn("txn_2", "charge", 500, 45, "ch_five"),
        # 20.00 EUR converted to USD at 1.08 by Stripe.
        {**txn("txn_3", "charge", 2160, 93, "ch_euros"), "exchange_rate": 1.08},
        txn("txn_4", "refund", -250, 0, {"id": "re_1", "object": "refund", "charge": "ch_five"}),
        txn(
            "txn_5",
            "adjustment",
            -1500,
            1500,
            {"id": "dp_1", "object": "dispute", "charge": "ch_other"},
            "dispute",
        ),
        txn("txn_6", "payout", -1768, 0, "po_week47"),  # the payout itself: not part of the sum
    ]
    # Gross 1000 + 500 + 2160 - 250 - 1500 = 1910; fees 59 + 45 + 93 + 0 + 1500 (the dispute's) = 1697;
    # the bank gets 1910 - 1697 = 213.
    return payout("po_week47", 213)


def test_payout_paid_records_the_payout_and_its_transactions_once(
    app: Flask, client: FlaskClient, gateway: PayoutGateway, payments: dict[str, int]
) -> None:
    event = se.event("payout.paid", matching_payout(gateway))
    assert se.post(client, event).status_code == 200
    assert se.post(client, event).status_code == 200  # delivered twice
    se.post(client, se.event("payout.paid", payout("po_week47", 213)))  # and a second event about it
    assert gateway.calls == [("payout_balance_transactions", "po_week47")]
    with app.app_context():
        row = db.session.scalars(sa.select(Payout)).one()
        assert (row.amount, row.currency, row.transactions_loaded) == (213, "usd", True)
        lines = list(db.session.scalars(sa.select(PayoutTransaction).order_by(PayoutTransaction.id)))
        assert [(t.type, t.charge_id, t.amount, t.fee) for t in lines] == [
            ("charge", "ch_ten", 1000, 59),
            ("charge", "ch_five", 500, 45),
            ("charge", "ch_euros", 2160, 93),
            ("refund", "ch_five", -250, 0),
            ("adjustment", "ch_other", -1500, 1500),
        ]


def test_a_payout_that_matches_our_records_has_no_difference(
    app: Flask,
    client: FlaskClient,
    gateway: PayoutGateway,
    payments: dict[str, int],
    finance_client: FlaskClient,
) -> None:
    se.post(client, se.event("payout.paid", matching_payout(gateway)))
    page = finance_client.get("/staff/reconciliation?from=2026-11-01&to=2026-11-30&lang=en").get_data(
        as_text=True
    )
    row = page.split('data-payout="po_week47"')[1].split("</tr>")[0]
    assert 'class="ok"' in page.split('data-payout="po_week47"')[1][:20]
    cells = [c.split(">", 1)[1].removeprefix("<bdi>").split("<")[0] for c in row.split("<td")[1:]]
    # arrival, id, status, amount, charges, refunds, disputes and other, fees, expected, difference
    assert cells[2] == "Paid"
    assert cells[3] == "$2.13"
    assert cells[4].startswith("$36.60")
    assert cells[5] == "-$2.50"
    assert cells[6] == "-$15.00"
    assert cells[7] == "-$16.97"
    assert cells[8] == "$2.13"
    assert cells[9].startswith("$0.00")

    with app.app_context():
        payout_id = db.session.scalar(sa.select(Payout.id))
    detail = finance_client.get(f"/staff/reconciliation/{payout_id}?lang=en").get_data(as_text=True)
    assert detail.count('data-state="matched"') == 4
    assert detail.count('data-state="stripe_only"') == 1
    assert 'id="payout-difference" class="ok">$0.00' in detail
    assert f"/staff/supporters/{payments['supporter']}" in detail


def test_a_charge_missing_from_our_records_shows_as_the_difference(
    app: Flask,
    client: FlaskClient,
    gateway: PayoutGateway,
    payments: dict[str, int],
    finance_client: FlaskClient,
) -> None:
    gateway.payouts["po_odd"] = [
        txn("txn_a", "charge", 1000, 59, "ch_ten"),
        txn("txn_b", "charge", 700, 50, "ch_nobody_knows"),  # never recorded here
        txn("txn_c", "charge", 600, 47, "ch_five"),  # Stripe says 6.00, we recorded 5.00
    ]
    se.post(client, se.event("payout.paid", payout("po_odd", 941 + 650 + 553)))
    with app.app_context():
        from app.services import reconciliation

        payout_id = db.session.scalar(sa.select(Payout.id))
        check = reconciliation.payout_check(payout_id)
        assert check is not None
        assert [line.state for line in check.lines] == ["matched", "missing", "differs"]
        # Ours: 941 + (0 - 50) + (500 - 47) = 1344; the bank got 2144.
        assert check.expected == 1344
        assert check.difference == 800  # the unknown charge's 7.00 and the 1.00 that differs
        assert check.unmatched == 2
    detail = finance_client.get(f"/staff/reconciliation/{payout_id}?lang=en").get_data(as_text=True)
    assert 'id="payout-difference" class="off">$8.00' in detail


def test_a_manual_payout_is_recorded_without_transactions(
    app: Flask, client: FlaskClient, gateway: PayoutGateway, finance_client: FlaskClient
) -> None:
    se.post(client, se.event("payout.paid", payout("po_manual", 5000, automatic=False)))
    assert gateway.calls == []  # Stripe lists no transactions for manual payouts: nothing to ask
    page = finance_client.get("/staff/reconciliation?from=2026-11-01&to=2026-11-30&lang=en").get_data(
        as_text=True
    )
    assert "manual payout" in page


# -- payouts the bank refused ----------------------------------------------------------------

NOW = int(time.time())


def finance_emails(app: Flask) -> list[EmailLog]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(EmailLog).where(EmailLog.kind == EmailKind.PAYOUT_FAILED)))
        for row in rows:
            db.session.expunge(row)
        return rows


def the_payout(app: Flask) -> Payout:
    with app.app_context():
        row = db.session.scalars(sa.select(Payout)).one()
        db.session.expunge(row)
        return row


def refused(payout_id: str = "po_week47", amount: int = 213) -> dict[str, Any]:
    return se.payout(
        payout_id,
        amount=amount,
        status="failed",
        arrival_date=ARRIVAL,
        failure_code="account_closed",
        failure_message="The bank account has been closed.",
    )


def test_a_payout_that_fails_after_it_was_paid_is_marked_and_finance_is_told_once(
    app: Flask,
    client: FlaskClient,
    gateway: PayoutGateway,
    payments: dict[str, int],
    finance_client: FlaskClient,
) -> None:
    se.post(client, se.event("payout.paid", matching_payout(gateway), created=NOW - 3 * 86400))
    # Stripe sends payout.updated and payout.failed for the same change; either may be repeated.
    failed = se.event("payout.failed", refused(), created=NOW - 60)
    for evt in (se.event("payout.updated", refused(), created=NOW - 60), failed, failed):
        assert se.post(client, evt).status_code == 200
    row = the_payout(app)
    assert (row.status, row.failure_code) == ("failed", "account_closed")
    assert row.failure_message == "The bank account has been closed."
    assert gateway.calls == [("payout_balance_transactions", "po_week47")]  # nothing more to fetch

    emails = finance_emails(app)
    assert len(emails) == 1
    assert (emails[0].to_address, emails[0].locale) == (
        app.config["FINANCE_NOTIFY_EMAIL"],
        app.config["FINANCE_NOTIFY_LOCALE"],
    )
    assert emails[0].about == f"payout:{row.id}" and emails[0].supporter_id is None

    # The list shows the status, and a payout that never reached the bank is not "matching".
    page = finance_client.get("/staff/reconciliation?from=2026-11-01&to=2026-11-30&lang=en").get_data(
        as_text=True
    )
    line = page.split('data-payout="po_week47"')[1].split("</tr>")[0]
    assert 'class="off" data-status="failed"' in page
    assert "Failed: the bank refused it" in line and "account_closed" in line
    detail = finance_client.get(f"/staff/reconciliation/{row.id}?lang=en").get_data(as_text=True)
    assert 'id="payout-status" class="off">Failed: the bank refused it' in detail
    assert "The bank account has been closed." in detail
    assert 'id="payout-returned"' in detail
    assert 'id="payout-difference" class="off">$0.00' in detail  # the transactions still match


@pytest.mark.parametrize("locale", ["ar", "en"])
def test_the_failed_payout_email_in_both_languages(
    app: Flask, client: FlaskClient, gateway: PayoutGateway, locale: str
) -> None:
    app.config["FINANCE_NOTIFY_LOCALE"] = locale
    se.post(client, se.event("payout.failed", refused(amount=125000), created=NOW - 60))
    (row,) = finance_emails(app)
    with app.app_context():
        message = emails.compose(db.session.get(EmailLog, row.id))
    text, html = parts(message)
    payout_id = the_payout(app).id
    assert message["To"] == app.config["FINANCE_NOTIFY_EMAIL"]
    assert message["Content-Language"] == locale
    assert message["Subject"] == i18n.subject(app, "A Stripe payout to the bank failed", locale)
    link = f"{app.config['BASE_URL']}/staff/reconciliation/{payout_id}"
    for body in (text, html):
        assert "po_week47" in body and "account_closed" in body and link in body
    if locale == "ar":
        assert '<html lang="ar" dir="rtl">' in html
        assert i18n.is_arabic(message["Subject"])
        assert "1,250.00" in text and "US$" in text
        prose = text.split("\n")[2]
        assert i18n.is_arabic(prose), prose
    else:
        assert "$1,250.00" in text and "The bank refused a payout from Stripe." in text


def test_a_failure_that_arrives_before_the_paid_event_stays_failed(
    app: Flask, client: FlaskClient, gateway: PayoutGateway, payments: dict[str, int]
) -> None:
    se.post(client, se.event("payout.failed", refused(), created=NOW - 60))
    row = the_payout(app)
    assert (row.status, row.transactions_loaded, row.amount) == ("failed", False, 213)
    assert gateway.calls == []  # its money went back to the balance: nothing to reconcile yet
    # The older payout.paid comes late: the transactions are loaded, the status stays.
    se.post(client, se.event("payout.paid", matching_payout(gateway), created=NOW - 3 * 86400))
    row = the_payout(app)
    assert (row.status, row.transactions_loaded) == ("failed", True)
    assert len(finance_emails(app)) == 1


def test_a_canceled_payout_is_recorded_without_an_email(
    app: Flask, client: FlaskClient, gateway: PayoutGateway, finance_client: FlaskClient
) -> None:
    canceled = se.payout("po_stopped", amount=5000, status="canceled", arrival_date=ARRIVAL)
    se.post(client, se.event("payout.canceled", canceled, created=NOW - 60))
    assert the_payout(app).status == "canceled"
    assert finance_emails(app) == []
    page = finance_client.get("/staff/reconciliation?from=2026-11-01&to=2026-11-30&lang=en").get_data(
        as_text=True
    )
    assert 'data-status="canceled"' in page and "Cancelled" in page
    # Final: a later "paid" for the same payout does not bring it back.
    later = se.payout("po_stopped", amount=5000, status="paid", arrival_date=ARRIVAL)
    gateway.payouts["po_stopped"] = []
    se.post(client, se.event("payout.paid", later, created=NOW))
    assert the_payout(app).status == "canceled"


def test_payout_updated_moves_only_a_payout_we_have_and_never_back_in_time(
    app: Flask, client: FlaskClient, gateway: PayoutGateway, payments: dict[str, int]
) -> None:
    in_transit = se.payout("po_week47", amount=213, status="in_transit", arrival_date=ARRIVAL)
    se.post(client, se.event("payout.updated", in_transit, created=NOW - 4 * 86400))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Payout)) == 0  # not ours yet
    se.post(client, se.event("payout.paid", matching_payout(gateway), created=NOW - 3 * 86400))
    # Delivered late, the older "in transit" does not undo "paid".
    se.post(client, se.event("payout.updated", in_transit, created=NOW - 4 * 86400))
    assert the_payout(app).status == "paid"


def test_an_old_failure_replayed_is_recorded_without_an_email(
    app: Flask, client: FlaskClient, gateway: PayoutGateway
) -> None:
    se.post(client, se.event("payout.failed", refused(), created=NOW - 20 * 86400))
    assert the_payout(app).status == "failed"
    assert finance_emails(app) == []


# -- the list is final at reconciliation_status "completed" (payout.reconciliation_completed) ---


def stripe_payout(payout_id: str, amount: int, reconciliation_status: str) -> dict[str, Any]:
    """Stripe's payout example (current shape) with our ids and its reconciliation status."""
    obj = se.payout(payout_id, amount=amount, arrival_date=ARRIVAL)
    obj["reconciliation_status"] = reconciliation_status
    return obj


def test_payout_paid_while_stripe_reconciles_waits_for_the_completed_event_then_reads_once(
    app: Flask,
    client: FlaskClient,
    gateway: PayoutGateway,
    payments: dict[str, int],
    finance_client: FlaskClient,
) -> None:
    gateway.payouts["po_late"] = [
        txn("txn_1", "charge", 1000, 59, "ch_ten"),
        txn("txn_2", "refund", -250, 0, {"id": "re_1", "object": "refund", "charge": "ch_five"}),
    ]
    paid = se.event("payout.paid", stripe_payout("po_late", 691, "in_progress"), created=NOW - 7200)
    assert se.post(client, paid).status_code == 200
    assert gateway.calls == []  # Stripe's list may still be incomplete: not read yet
    payout_id = the_payout(app).id
    detail = finance_client.get(f"/staff/reconciliation/{payout_id}?lang=en").get_data(as_text=True)
    assert 'id="payout-reconciling"' in detail
    assert 'id="payout-difference" class="off"' in detail
    listing = finance_client.get("/staff/reconciliation?from=2026-11-01&to=2026-11-30&lang=en")
    row = listing.get_data(as_text=True).split('data-payout="po_late"')[1].split("</tr>")[0]
    assert row.startswith(' class="off"') and "Stripe is still reconciling" in row

    completed = se.event(
        "payout.reconciliation_completed", stripe_payout("po_late", 691, "completed"), created=NOW
    )
    for evt in (completed, se.event("payout.reconciliation_completed", completed["data"]["object"]), paid):
        assert se.post(client, evt).status_code == 200
    assert gateway.calls == [("payout_balance_transactions", "po_late")]  # once, when complete
    detail = finance_client.get(f"/staff/reconciliation/{payout_id}?lang=en").get_data(as_text=True)
    assert 'id="payout-reconciling"' not in detail
    assert 'id="payout-difference" class="ok">$0.00' in detail
    assert detail.count('data-state="matched"') == 2
    assert the_payout(app).reconciliation_status == "completed"


def test_a_first_look_from_a_payload_that_does_not_say_is_read_again_when_completed(
    app: Flask, client: FlaskClient, gateway: PayoutGateway, payments: dict[str, int]
) -> None:
    # An older payload without reconciliation_status: read at once, the refund not in it yet.
    gateway.payouts["po_old"] = [txn("txn_1", "charge", 1000, 59, "ch_ten")]
    se.post(client, se.event("payout.paid", payout("po_old", 691), created=NOW - 7200))
    gateway.payouts["po_old"].append(
        txn("txn_2", "refund", -250, 0, {"id": "re_1", "object": "refund", "charge": "ch_five"})
    )
    se.post(client, se.event("payout.reconciliation_completed", stripe_payout("po_old", 691, "completed")))
    se.post(client, se.event("payout.reconciliation_completed", stripe_payout("po_old", 691, "completed")))
    assert gateway.calls == [("payout_balance_transactions", "po_old")] * 2
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PayoutTransaction)) == 2
        check = reconciliation.payout_check(the_payout(app).id)
        assert check is not None and check.difference == 0


def test_the_completed_event_before_payout_paid_records_the_payout_with_its_final_list(
    app: Flask, client: FlaskClient, gateway: PayoutGateway, payments: dict[str, int]
) -> None:
    gateway.payouts["po_first"] = [txn("txn_1", "charge", 1000, 59, "ch_ten")]
    completed = stripe_payout("po_first", 941, "completed")
    assert (
        se.post(client, se.event("payout.reconciliation_completed", completed, created=NOW)).status_code
        == 200
    )
    late = se.event("payout.paid", stripe_payout("po_first", 941, "in_progress"), created=NOW - 7200)
    assert se.post(client, late).status_code == 200
    assert gateway.calls == [("payout_balance_transactions", "po_first")]
    row = the_payout(app)
    assert (row.status, row.reconciliation_status, row.transactions_loaded) == ("paid", "completed", True)
    with app.app_context():
        check = reconciliation.payout_check(row.id)
        assert check is not None and check.difference == 0


def test_payout_paid_that_already_says_completed_reads_the_list_once(
    app: Flask, client: FlaskClient, gateway: PayoutGateway, payments: dict[str, int]
) -> None:
    gateway.payouts["po_done"] = [txn("txn_1", "charge", 1000, 59, "ch_ten")]
    se.post(client, se.event("payout.paid", stripe_payout("po_done", 941, "completed"), created=NOW - 60))
    se.post(client, se.event("payout.reconciliation_completed", stripe_payout("po_done", 941, "completed")))
    assert gateway.calls == [("payout_balance_transactions", "po_done")]
    assert the_payout(app).reconciliation_status == "completed"


def test_a_payout_whose_completed_event_never_came_is_asked_about_again_and_read_once(
    app: Flask, client: FlaskClient, gateway: PayoutGateway, payments: dict[str, int]
) -> None:
    gateway.payouts["po_quiet"] = [txn("txn_1", "charge", 1000, 59, "ch_ten")]
    se.post(client, se.event("payout.paid", stripe_payout("po_quiet", 941, "in_progress"), created=NOW - 60))
    gateway.payout_objects["po_quiet"] = stripe_payout("po_quiet", 941, "in_progress")
    later = datetime.now(UTC) + reconciliation.RECHECK_AFTER
    with app.app_context():
        assert reconciliation.recheck_unreconciled(gateway, now=datetime.now(UTC)) == 0  # too soon to ask
        assert reconciliation.recheck_unreconciled(gateway, now=later) == 0  # Stripe is still at it
        gateway.payout_objects["po_quiet"]["reconciliation_status"] = "completed"
        assert reconciliation.recheck_unreconciled(gateway, now=later) == 1
        db.session.commit()
        assert reconciliation.recheck_unreconciled(gateway, now=later) == 0  # completed: never again
    assert gateway.calls == [
        ("payout", "po_quiet"),
        ("payout", "po_quiet"),
        ("payout_balance_transactions", "po_quiet"),
    ]
    row = the_payout(app)
    assert (row.reconciliation_status, row.transactions_loaded) == ("completed", True)
