"""Every page in Arabic and in English, as a reader or a staff member reaches it, in Chromium:
axe-core finds no violation, an Arabic page has no English left on it, and the main pages are
photographed at 360 px and 1280 px into ``var/screenshots/`` (``<page>-<lang>-<width>.png``;
``make screenshots`` refreshes the committed copies in ``docs/screenshots/``).

One browser context per language walks the whole service (give, remind, unsubscribe, sign in,
change, card, cancel, erase; the demo mailbox; staff sign-in with two-factor, every staff page),
running axe once per page: one walk is much faster than a test per page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask, request
from playwright.sync_api import Browser, Page, expect

from app.extensions import db
from app.models import EmailKind, EmailLog, Reminder, StaffRole
from app.services import emails, reconciliation
from app.services.staff import accounts
from tests.account_helpers import latest_link
from tests.conftest import empty_tables, make_app, screenshot_dir
from tests.e2e.reach import english_on_page, money_drawn_wrong, run_axe, unisolated_runs
from tests.factories import MembershipFactory, PaymentFactory, SupporterFactory
from tests.harness import CARDS
from tests.mail import parts

pytestmark = pytest.mark.browser

PASSWORD = "a long staff passphrase for the tour"
NAMES = {"ar": "ليلى حداد", "en": "Layla Haddad"}

#: GET pages that are not HTML, or that only redirect: nothing for axe to read.
NOT_PAGES = {
    "static",
    "favicon",  # an icon, not a page
    "ops.healthz",  # JSON for load balancers
    "ops.readyz",
    "metrics.metrics",  # Prometheus text, behind a token
    "root.root",
    "account.data",
    "account.receipt",
    "account.statement",
    "staff.export_payments",
    "staff.export_members",
}


@pytest.fixture()
def live_app(database_url: str, localstripe_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The live server's app, with the demo mailbox on, noting every page it serves."""
    app = make_app(database_url, localstripe_url, DEMO_MAIL_DIR=str(tmp_path / "mail"))
    (tmp_path / "mail").mkdir()
    seen: set[str] = set()
    app.extensions["pages_seen"] = seen

    @app.before_request
    def note_page() -> None:
        if request.method == "GET" and request.endpoint:
            seen.add(request.endpoint)

    yield app
    empty_tables(app)


class Tour:
    """Walks pages in one language; ``check`` runs axe (and the English scan) on the page."""

    def __init__(self, page: Page, base: str, lang: str) -> None:
        self.page, self.base, self.lang = page, base, lang
        self.violations: dict[str, list[str]] = {}
        self.english: dict[str, set[str]] = {}
        self.too_wide: list[str] = []
        self.money_wrong: dict[str, list[str]] = {}
        self.unisolated: dict[str, list[str]] = {}

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def check(self, name: str, shot: bool = False) -> None:
        page = self.page
        page.wait_for_load_state()
        found = run_axe(page)
        if found:
            self.violations[name] = found
        if self.lang == "ar":
            english = english_on_page(page)
            if english:
                self.english[name] = english
            wrong = money_drawn_wrong(page)
            if wrong:
                self.money_wrong[name] = wrong
            loose = unisolated_runs(page)
            if loose:
                self.unisolated[name] = loose
        if shot:
            self.screenshots(name)

    def screenshots(self, name: str) -> None:
        page = self.page
        size = page.viewport_size
        page.evaluate("document.activeElement && document.activeElement.blur()")
        for width, height in ((360, 740), (1280, 900)):
            page.set_viewport_size({"width": width, "height": height})
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > width:
                culprit = page.evaluate(STICKING_OUT, width)
                self.too_wide.append(f"{name} is {wide}px wide in a {width}px window ({culprit})")
            page.screenshot(path=screenshot_dir() / f"{name}-{self.lang}-{width}.png", full_page=True)
        if size:
            page.set_viewport_size(size)


#: The innermost element drawn past the window's edges (what makes a page scroll sideways).
STICKING_OUT = """(width) => {
  let found = "";
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if ((box.right > width + 1 || box.left < -1) && !el.closest(".scroll")) {
      found = `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className ? "." + el.className : ""}`
        + ` ${Math.round(box.left)}..${Math.round(box.right)}: ${(el.textContent || "").trim().slice(0, 40)}`;
    }
  }
  return found;
}"""


def fill_card(page: Page, number: str = CARDS["visa"]) -> None:
    card = page.locator("#payment-element, #card-element")  # the support page's, the account's
    card.locator("input[placeholder=number]").fill(number)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("12345")


class OnePayoutGateway:
    def __init__(self, transactions: list[dict[str, Any]]) -> None:
        self.transactions = transactions

    def payout_balance_transactions(self, payout_id: str) -> list[dict[str, Any]]:
        return self.transactions


def seed_staff_side(app: Flask, lang: str) -> tuple[str, str]:
    """Members, gifts and a reconciled payout; an admin (no second factor yet) and a finance user."""
    now = datetime.now(UTC)
    recent = max(now - timedelta(hours=1), now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    with app.app_context():
        charges = []
        for number, name in enumerate(["سامي خوري", "نور الهدى", "رنا حداد"]):
            membership = MembershipFactory(
                supporter=SupporterFactory(name=name, locale=lang),
                amount=(100, 500, 1000)[number],
                currency=("usd", "usd", "eur")[number],
                created_at=recent,
                campaign="gaza-2026" if number == 1 else None,
                cancel_at_period_end=number == 2,
                cancellation_reason="الميزانية ضيقة" if number == 2 else None,
            )
            payment = PaymentFactory(
                membership=membership,
                amount=membership.amount,
                currency=membership.currency,
                paid_at=recent,
                created_at=recent,
                campaign=membership.campaign,
                receipt_number=f"2026-9{number:06d}",  # apart from the tour's own gift
            )
            charges.append((payment.stripe_charge_id, payment.amount))
        arrival = int((now - timedelta(days=3)).timestamp())
        transactions = [
            {"id": f"txn_{i}", "type": "charge", "amount": amount, "fee": 30, "net": amount - 30,
             "currency": "usd", "source": charge, "created": arrival - 86400}
            for i, (charge, amount) in enumerate(charges[:2])
        ]  # fmt: skip
        reconciliation.record_payout(
            {"id": "po_tour", "amount": 600 - 60, "currency": "usd", "status": "paid",
             "automatic": True, "arrival_date": arrival, "created": arrival - 86400},
            OnePayoutGateway(transactions),  # type: ignore[arg-type]
        )  # fmt: skip
        admin = accounts.create_staff(f"admin-{lang}@newsroom.example", StaffRole.ADMIN, PASSWORD, "هالة")
        finance = accounts.create_staff(
            f"finance-{lang}@newsroom.example", StaffRole.FINANCE, PASSWORD, "رنا"
        )
        db.session.commit()
        return admin.email, finance.email


def catch_emails(app: Flask) -> None:
    """Every email queued so far, composed and saved where the demo mailbox reads them."""
    folder = Path(app.config["DEMO_MAIL_DIR"])
    with app.app_context():
        for row in db.session.scalars(sa.select(EmailLog).order_by(EmailLog.id)):
            (folder / f"{row.id:04d}-{row.kind.value}.eml").write_bytes(emails.compose(row).as_bytes())


def receipt_email_shot(tour: Tour, app: Flask) -> None:
    """The receipt email's HTML part as a 400 px wide mail client draws it
    (``email-receipt-<lang>-400.png``), refreshed with the pages' screenshots."""
    with app.app_context():
        row = db.session.scalars(sa.select(EmailLog).where(EmailLog.kind == EmailKind.RECEIPT)).first()
        assert row is not None, "the tour's gift sent no receipt"
        _, html = parts(emails.compose(row))
    page, size = tour.page, tour.page.viewport_size
    page.set_viewport_size({"width": 400, "height": 740})
    page.set_content(html)
    page.screenshot(path=screenshot_dir() / f"email-receipt-{tour.lang}-400.png", full_page=True)
    if size:
        page.set_viewport_size(size)


def staff_sign_in(tour: Tour, email: str) -> None:
    page = tour.page
    tour.go(f"/staff/sign-in?lang={tour.lang}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()


def reader_side(tour: Tour, app: Flask) -> None:
    page, lang = tour.page, tour.lang
    email = f"reader-{lang}@example.org"

    tour.go(f"/{lang}/support")
    expect(page.locator("#payment-element input").first).to_be_visible()
    tour.check("support", shot=True)

    # Errors are announced and tied to their field (Stripe's own fields say theirs).
    fill_card(page)
    page.fill("#email", "not an address")
    page.locator("#submit").click()
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-error")).not_to_be_empty()
    assert "email-error" in (page.locator("#email").get_attribute("aria-describedby") or "")
    expect(page.locator("#email")).to_be_focused()
    tour.check("support-errors")

    # "Remind me later", then the unsubscribe page of that reminder.
    page.fill("#remind-email", email)
    page.locator("#remind-form button[type=submit]").click()
    expect(page.locator(".remind [role=status]")).to_be_visible()
    tour.check("support-reminded")
    with app.app_context():
        token = db.session.scalars(sa.select(Reminder.token)).first()
    tour.go(f"/{lang}/reminders/unsubscribe/{token}")
    tour.check("unsubscribe")
    page.locator("main form button[type=submit]").click()
    tour.check("unsubscribed")

    # Give $1 a month.
    tour.go(f"/{lang}/support")
    expect(page.locator("#payment-element input").first).to_be_visible()
    page.fill("#email", email)
    page.fill("#name", NAMES[lang])
    fill_card(page)
    page.locator("#submit").click()
    page.wait_for_url(re.compile(rf"/{lang}/support/thank-you/"))
    tour.check("thank-you", shot=True)
    # The "back" arrow points the way the page reads.
    arrow = page.evaluate("getComputedStyle(document.querySelector('a.back'), '::before').transform")
    assert arrow.startswith("matrix(-1") if lang == "ar" else arrow == "none", arrow

    tour.go(f"/{lang}/support/thank-you/not-a-token")
    tour.check("not-found")

    # A payment the bank has not confirmed yet (tests/blueprints/test_no_double_charge.py gets here).
    tour.go(f"/{lang}/support/confirming")
    tour.check("confirming")

    # The account: sign in by link, then every page of it.
    tour.go(f"/{lang}/account")
    page.locator("#sign-in-form button[type=submit]").click()  # empty: an error on the field
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    tour.check("account-sign-in", shot=True)
    page.fill("#email", email)
    page.locator("#sign-in-form button[type=submit]").click()
    expect(page.locator("#link-sent")).to_be_visible()
    tour.check("account-link-sent")
    tour.go(latest_link(app, email, lang))
    tour.check("account-link")
    page.locator("#sign-in-button").click()
    page.wait_for_url(re.compile(rf"/{lang}/account$"))
    tour.check("account", shot=True)

    page.locator("#change").click()
    tour.check("account-change", shot=True)
    page.locator("label.choice:has(input[name=amount][value='5'])").click()
    page.locator("#review").click()
    expect(page.locator("#change-summary")).to_be_visible()
    tour.check("account-review")
    page.locator("#confirm-change").click()
    page.wait_for_url(re.compile(rf"/{lang}/account$"))
    tour.check("account-changed")

    page.locator("#update-card").click()
    expect(page.locator("#card-element input").first).to_be_visible()
    tour.check("account-card", shot=True)
    tour.go(f"/{lang}/account")
    page.locator("#cancel").click()
    tour.check("account-cancel", shot=True)
    tour.go(f"/{lang}/account/erase")
    tour.check("account-erase")

    catch_emails(app)
    receipt_email_shot(tour, app)
    tour.go("/demo/mail")
    tour.check("demo-mail", shot=True)
    page.locator(".mailbox a").first.click()
    tour.check("demo-message", shot=True)

    tour.go(f"/{lang}/account/erase")
    page.locator("#confirm").check()
    page.locator("#confirm-erase").click()
    page.wait_for_url(re.compile(rf"/{lang}/account"))
    tour.check("account-erased")


def staff_side(tour: Tour, app: Flask) -> None:
    page, lang = tour.page, tour.lang
    admin, finance = seed_staff_side(app, lang)

    tour.go(f"/staff/sign-in?lang={lang}")
    tour.check("staff-sign-in", shot=True)
    staff_sign_in(tour, admin)
    expect(page).to_have_url(re.compile(r"/staff/sign-in/enrol"))
    tour.check("staff-enrol")
    secret = (page.locator("#totp-secret").text_content() or "").replace(" ", "")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    if page.locator("main code").count() and not page.url.endswith("/staff/"):
        tour.check("staff-recovery-codes")  # shown once, after two-factor is turned on
        page.locator("main a[href$='/staff/']").click()
    expect(page).to_have_url(re.compile(r"/staff/$"))
    tour.check("staff-dashboard", shot=True)

    tour.go("/staff/supporters?q=حداد")
    expect(page.locator("#table-supporters")).to_be_visible()
    tour.check("staff-supporters", shot=True)
    page.locator("#table-supporters tbody a").first.click()
    tour.check("staff-supporter", shot=True)
    tour.go("/staff/reconciliation")
    tour.check("staff-reconciliation", shot=True)
    # Two charges in the payout: Arabic says "two payments" with the dual, and no number.
    expect(page.locator("tr[data-payout='po_tour']")).to_contain_text(
        "دفعتان" if lang == "ar" else "2 payments"
    )
    page.locator("tr[data-payout='po_tour'] a").click()
    tour.check("staff-payout", shot=True)
    tour.go("/staff/account")
    tour.check("staff-account")
    tour.go("/staff/users")
    tour.check("staff-users", shot=True)
    tour.go("/staff/audit")
    tour.check("staff-audit")

    page.locator("form[action$='/staff/sign-out'] button").click()
    staff_sign_in(tour, admin)
    expect(page).to_have_url(re.compile(r"/staff/sign-in/code"))
    tour.check("staff-sign-in-code")

    tour.go(f"/staff/sign-in?lang={lang}")
    staff_sign_in(tour, finance)
    tour.go("/staff/users")  # admins only
    tour.check("staff-forbidden")


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_every_page_is_accessible_in_both_languages(
    browser: Browser, live_server: str, live_app: Flask, lang: str
) -> None:
    # bypass_csp: axe-core is injected as an inline script, which the pages' CSP (rightly) refuses.
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale=lang, device_scale_factor=1, bypass_csp=True
    )
    context.set_default_timeout(15_000)
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("http://127.0.0.1:", "data:", "blob:"))
            else route.abort()
        ),
    )
    page = context.new_page()
    uncaught: list[str] = []
    page.on("pageerror", lambda error: uncaught.append(str(error)))
    tour = Tour(page, live_server, lang)
    try:
        reader_side(tour, live_app)
        page.set_viewport_size({"width": 1280, "height": 900})
        staff_side(tour, live_app)
    finally:
        context.close()

    report = "\n".join(f"{name}:\n  " + "\n  ".join(lines) for name, lines in tour.violations.items())
    assert not tour.violations, f"axe-core found violations ({lang}):\n{report}"
    assert not tour.too_wide, tour.too_wide
    assert not tour.english, f"English on Arabic pages: {tour.english}"
    assert not tour.money_wrong, f"amounts drawn out of order in Arabic: {tour.money_wrong}"
    loose = "\n".join(f"{name}:\n  " + "\n  ".join(lines) for name, lines in tour.unisolated.items())
    assert not tour.unisolated, f"codes and amounts not isolated in Arabic text:\n{loose}"
    assert not uncaught, uncaught
    get_pages = {
        rule.endpoint
        for rule in live_app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and not rule.endpoint.startswith("webhooks.")
    } - NOT_PAGES
    missed = get_pages - live_app.extensions["pages_seen"]
    assert not missed, f"pages the tour never opened (add them to it): {sorted(missed)}"
