"""Issue 6's "done when", in headless Chromium: a finance person signs in with two-factor,
reads this month's figures in Arabic, exports the payments CSV and reconciles last
week's payout; a reader with no account reaches none of it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import StaffRole
from app.services import reconciliation
from app.services.staff import accounts
from tests.factories import MembershipFactory, PaymentFactory, SupporterFactory

pytestmark = pytest.mark.browser

PASSWORD = "finance passphrase for the browser"


class OnePayoutGateway:
    """Stripe's list of the payout's balance transactions (localstripe has none)."""

    def __init__(self, transactions: list[dict[str, Any]]) -> None:
        self.transactions = transactions

    def payout_balance_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        return self.transactions


def seed(app: Flask) -> str:
    """This month's members and gifts, last week's payout of two of them; returns the TOTP secret."""
    now = datetime.now(UTC)
    recent = max(now - timedelta(hours=1), now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    secret = pyotp.random_base32()
    with app.app_context():
        names = ["ليلى حداد", "سامي خوري", "نور الهدى", "Maya Haddad"]
        charges = []
        for number, name in enumerate(names):
            supporter = SupporterFactory(name=name)
            membership = MembershipFactory(
                supporter=supporter,
                amount=(100, 500, 1000, 300)[number],
                currency=("usd", "usd", "eur", "usd")[number],
                created_at=recent,
                campaign="gaza-2026" if number % 2 else None,
            )
            payment = PaymentFactory(
                membership=membership,
                amount=membership.amount,
                currency=membership.currency,
                paid_at=recent,
                created_at=recent,
                campaign=membership.campaign,
            )
            charges.append((payment.stripe_charge_id, payment.amount))
        PaymentFactory(membership=None, supporter=supporter, amount=2500, paid_at=recent, created_at=recent)
        user = accounts.create_staff("finance@newsroom.example", StaffRole.FINANCE, PASSWORD, "رنا")
        user.totp_secret = secret
        user.totp_enabled_at = now
        arrival = int((now - timedelta(days=5)).timestamp())
        transactions = [
            {"id": f"txn_{i}", "type": "charge", "amount": amount, "fee": 30, "net": amount - 30,
             "currency": "usd", "source": charge, "created": arrival - 86400}
            for i, (charge, amount) in enumerate(charges[:2])
        ]  # fmt: skip
        reconciliation.record_payout(
            {"id": "po_last_week", "amount": 100 + 500 - 60, "currency": "usd", "status": "paid",
             "automatic": True, "arrival_date": arrival, "created": arrival - 86400},
            OnePayoutGateway(transactions),  # type: ignore[arg-type]
        )  # fmt: skip
        db.session.commit()
    return secret


def test_finance_signs_in_with_two_factor_reads_arabic_figures_exports_and_reconciles(
    live_app: Flask, live_server: str, page: Page
) -> None:
    secret = seed(live_app)

    # A reader with no account is sent to the sign-in page from every staff address.
    for path in ("/staff/", "/staff/export/payments.csv", "/staff/reconciliation", "/staff/supporters"):
        page.goto(live_server + path)
        expect(page).to_have_url(f"{live_server}/staff/sign-in?next={path}")

    page.goto(f"{live_server}/staff/sign-in?lang=ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    page.fill("#email", "finance@newsroom.example")
    page.fill("#password", PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page).to_have_url(f"{live_server}/staff/sign-in/code")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(f"{live_server}/staff/")

    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.locator("#fig-members .big")).to_have_text("4")
    expect(page.locator("#fig-one-time .big")).to_have_text("1")
    assert page.locator("svg.chart").count() == 3  # members, USD revenue, EUR revenue

    with page.expect_download() as download:
        page.click("#export-payments")
    body = Path(download.value.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == 1 + 5
    assert {"ليلى حداد", "سامي خوري", "نور الهدى"} <= {row[3] for row in rows[1:]}

    page.click("nav a[href='/staff/reconciliation']")
    row = page.locator("tr[data-payout='po_last_week']")
    expect(row).to_have_class("ok")
    row.locator("a").click()
    expect(page.locator("#payout-difference")).to_have_class("ok")
    assert page.locator("tr[data-state='matched']").count() == 2
