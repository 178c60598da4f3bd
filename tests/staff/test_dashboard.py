"""Every dashboard figure on one fixed data set, against numbers worked out by hand.

The period is January to March 2026 (UTC).  The comments next to each row say
what it should count as; the expectations below add them up.  Every test runs
three ways (the ``data`` fixture's parameter): with no daily summary (every day
computed live), with every day summarised, and with summaries built and then
every third day marked dirty (a mix of summarised and live days).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Interval, MembershipStatus, PaymentStatus
from app.services.reports import dashboard, periods, summaries
from app.services.reports.periods import Period
from tests.factories import MembershipFactory, PaymentFactory, SupporterFactory

PERIOD = Period(date(2026, 1, 1), date(2026, 3, 31))
JAN, FEB, MAR = (2026, 1), (2026, 2), (2026, 3)


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def membership(
    supporter, status, amount, currency, interval, created, canceled=None, reason=None, updated=None
):  # type: ignore[no-untyped-def]
    return MembershipFactory(
        supporter=supporter,
        status=status,
        amount=amount,
        currency=currency,
        interval=interval,
        created_at=created,
        updated_at=updated or created,
        canceled_at=canceled,
        cancellation_reason=reason,
    )


def paid(
    m, amount, currency, when, status=PaymentStatus.SUCCEEDED, refunded=0, campaign=None, supporter=None
):  # type: ignore[no-untyped-def]
    return PaymentFactory(
        membership=m,
        supporter=supporter or m.supporter,
        amount=amount,
        currency=currency,
        paid_at=when,
        created_at=when,
        status=status,
        refunded_amount=refunded,
        campaign=campaign,
    )


def failed(m, amount, currency, when, code, supporter=None):  # type: ignore[no-untyped-def]
    return PaymentFactory(
        membership=m,
        supporter=supporter or m.supporter,
        amount=amount,
        currency=currency,
        paid_at=None,
        created_at=when,
        status=PaymentStatus.FAILED,
        failure_code=code,
        receipt_number=None,
    )


#: Every day the data set touches, and a margin.
DATA_DAYS = (date(2025, 8, 1), date(2026, 5, 1))


def build_summaries(app: Flask, how: str) -> None:
    """``live``: none; ``summaries``: every day built; ``mixed``: built, then every third day dirty."""
    if how == "live":
        return
    with app.app_context():
        days = periods.table_days(*DATA_DAYS)
        assert summaries.build_days(days) == len(days)
        if how == "mixed":
            from app.services.reports.dirty_days import mark_days

            mark_days(db.session(), days[::3])
            db.session.commit()
            cover = periods.coverage(DATA_DAYS[1])
            assert cover.summarised and len(cover.live) > 10


@pytest.fixture(params=["live", "summaries", "mixed"])
def data(app: Flask, request: pytest.FixtureRequest) -> str:
    month, year = Interval.MONTH, Interval.YEAR
    S = MembershipStatus
    with app.app_context():
        a, b, c, d, e, f, g, h, i, j = (SupporterFactory(name=n) for n in "ABCDEFGHIJ")
        m1 = membership(a, S.ACTIVE, 100, "usd", month, at(2025, 12, 10))  # member throughout
        membership(b, S.ACTIVE, 1206, "usd", year, at(2025, 11, 5))  # member throughout; 1206/12 = 100.5
        m3 = membership(
            c, S.CANCELED, 500, "eur", month, at(2025, 10, 1), at(2026, 2, 15), "cancellation_requested"
        )
        m4 = membership(d, S.PAST_DUE, 300, "usd", month, at(2026, 1, 20))  # new in January, in grace now
        membership(
            e, S.CANCELED, 100, "usd", month, at(2025, 9, 1), at(2025, 12, 20)
        )  # ended before the period
        m6 = membership(
            e, S.ACTIVE, 200, "usd", month, at(2026, 2, 10)
        )  # E comes back: reactivated in February
        m7 = membership(f, S.CANCELED, 5000, "try", month, at(2026, 3, 1), at(2026, 3, 20), "payment_failed")
        membership(g, S.INCOMPLETE_EXPIRED, 100, "usd", month, at(2026, 1, 5))  # never a member
        # Unpaid: ended when we recorded it (no cancel date); no reason given.
        membership(h, S.UNPAID, 100, "eur", month, at(2025, 12, 1), updated=at(2026, 3, 5))
        membership(i, S.ACTIVE, 2500, "eur", year, at(2026, 4, 2))  # after the period
        m11 = membership(j, S.ACTIVE, 1000, "eur", year, at(2026, 3, 15))  # new in March; 1000/12 = 83.33

        paid(m1, 100, "usd", at(2026, 1, 10))
        paid(m1, 100, "usd", at(2026, 2, 10))
        paid(m1, 100, "usd", at(2026, 3, 10), PaymentStatus.REFUNDED, refunded=100)
        paid(m3, 500, "eur", at(2026, 1, 1, 0, 0, 0), campaign="gaza-2026")  # first instant: inside
        paid(m4, 300, "usd", at(2026, 1, 20), campaign="ramadan")
        failed(m4, 300, "usd", at(2026, 2, 20), "card_declined")
        paid(m6, 200, "usd", at(2026, 2, 10), PaymentStatus.DISPUTED, campaign="ramadan")
        paid(m7, 5000, "try", at(2026, 3, 1))
        paid(m11, 1000, "eur", at(2026, 3, 15))
        paid(None, 2500, "usd", at(2026, 2, 14), refunded=500, campaign="gaza-2026", supporter=c)  # one-time
        paid(None, 1500, "eur", at(2026, 3, 31, 23, 59, 59), supporter=j)  # one-time, last second: inside
        paid(None, 1000, "usd", at(2026, 4, 1, 0, 0, 0), supporter=a)  # the instant after: outside
        paid(None, 777, "usd", at(2025, 11, 5), supporter=b)  # before the period
        failed(None, 700, "eur", at(2026, 3, 3), "insufficient_funds", supporter=i)
        failed(None, 100, "usd", at(2025, 12, 31, 23, 59, 59), "card_declined", supporter=a)  # outside
        db.session.commit()
    build_summaries(app, request.param)
    return str(request.param)


def test_member_figures(app: Flask, data: str) -> None:
    with app.app_context():
        report = dashboard.dashboard(PERIOD)
    # Read from the summaries where there are any (all 90 days of the period, or two in three).
    assert report.summarised_days >= {"live": 0, "summaries": 90, "mixed": 60}[data]
    # At 1 January: m1, m2, m3, m9 (m5 ended in December, the rest started later).
    assert report.members_at_start == 4
    # At 1 April: m1, m2, m4 (past_due is a member), m6, m11.
    assert report.members_at_end == 5
    flows = {m.month: (m.members_at_start, m.new, m.reactivated, m.churned) for m in report.months}
    assert flows == {JAN: (4, 1, 0, 0), FEB: (5, 0, 1, 1), MAR: (5, 2, 0, 2)}
    assert (report.new, report.reactivated, report.churned) == (3, 1, 3)
    assert report.churn_rate == pytest.approx(3 / 4)
    assert [m.churn_rate for m in report.months] == [
        pytest.approx(0),
        pytest.approx(1 / 5),
        pytest.approx(2 / 5),
    ]
    # MRR: USD 100 + 300 + 200 monthly, plus 1206 / 12 = 100.5 rounded half up to 101;
    # EUR 1000 / 12 = 83.33 rounded to 83.
    assert report.mrr == {"eur": 83, "usd": 701}
    assert (report.in_grace.count, dict(report.in_grace.amounts)) == (1, {"usd": 300})
    assert report.cancellation_reasons == {"": 1, "cancellation_requested": 1, "payment_failed": 1}


def test_payment_figures(app: Flask, data: str) -> None:
    with app.app_context():
        report = dashboard.dashboard(PERIOD)
    assert report.revenue_by_month == {
        (JAN, "eur"): 500,
        (JAN, "usd"): 400,
        (FEB, "usd"): 2800,
        (MAR, "eur"): 2500,
        (MAR, "try"): 5000,
        (MAR, "usd"): 100,
    }
    assert (report.revenue.count, dict(report.revenue.amounts)) == (
        10,
        {"usd": 3300, "eur": 3000, "try": 5000},
    )
    by_frequency = {k: (v.count, v.amounts[k[1]]) for k, v in report.revenue_by_frequency.items()}
    assert by_frequency == {
        ("month", "eur"): (1, 500),
        ("month", "try"): (1, 5000),
        ("month", "usd"): (5, 800),
        ("year", "eur"): (1, 1000),
        ("once", "eur"): (1, 1500),
        ("once", "usd"): (1, 2500),
    }
    by_campaign = {k: (v.count, v.amounts[k[1]]) for k, v in report.revenue_by_campaign.items()}
    assert by_campaign == {
        ("ramadan", "usd"): (2, 500),
        ("gaza-2026", "eur"): (1, 500),
        ("gaza-2026", "usd"): (1, 2500),
        ("", "usd"): (3, 300),
        ("", "eur"): (2, 2500),
        ("", "try"): (1, 5000),
    }
    assert (report.one_time.count, dict(report.one_time.amounts)) == (2, {"usd": 2500, "eur": 1500})
    assert (report.refunds.count, dict(report.refunds.amounts)) == (2, {"usd": 600})
    assert (report.disputes.count, dict(report.disputes.amounts)) == (1, {"usd": 200})
    assert (report.failed.count, dict(report.failed.amounts)) == (2, {"usd": 300, "eur": 700})
    assert report.failure_codes == {"card_declined": 1, "insufficient_funds": 1}


def test_one_month_alone(app: Flask, data: str) -> None:
    """February on its own: the chain starts from February's own count."""
    with app.app_context():
        report = dashboard.dashboard(Period(date(2026, 2, 1), date(2026, 2, 28)))
    assert (report.members_at_start, report.members_at_end) == (5, 5)
    assert (report.new, report.reactivated, report.churned) == (0, 1, 1)
    assert report.churn_rate == pytest.approx(1 / 5)
    # At 1 March: m9 (EUR 100 a month) still counts; it ends on 5 March.
    assert report.mrr == {"eur": 100, "usd": 701}
    assert dict(report.revenue.amounts) == {"usd": 2800}


def _tile(page: str, name: str) -> str:
    match = re.search(rf'id="fig-{name}">.*?<p class="big">(.*?)</p>', page, re.S)
    assert match, name
    return re.sub(r"<[^>]+>|\s+", " ", match.group(1)).strip()


def test_the_page_shows_the_figures_in_arabic(app: Flask, data: str, finance_client: FlaskClient) -> None:
    response = finance_client.get("/staff/?lang=ar&from=2026-01-01&to=2026-03-31")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="ar" dir="rtl">' in page
    assert _tile(page, "members") == "5"
    assert _tile(page, "new") == "3"
    assert _tile(page, "reactivated") == "1"
    assert _tile(page, "churned") == "3"
    assert _tile(page, "churn-rate") == "75.0%"
    mrr = _tile(page, "mrr")
    assert "7.01" in mrr and "US$" in mrr and "0.83" in mrr and "€" in mrr
    assert _tile(page, "grace") == "1"
    assert "آذار 2026" in page and "كانون الثاني 2026" in page  # months named in Arabic
    # Two server-side charts for members and one per currency for revenue; no script at all.
    assert page.count("<svg") == 4
    assert "<script" not in page
    # The language choice sticks for the next page.
    assert '<html lang="ar" dir="rtl">' in finance_client.get("/staff/supporters").get_data(as_text=True)
    english = finance_client.get("/staff/?lang=en&from=2026-01-01&to=2026-03-31").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in english
    assert "March 2026" in english
    assert _tile(english, "mrr").split() == ["€0.83", "$7.01"]


def test_presets_and_bad_dates(app: Flask, finance_client: FlaskClient) -> None:
    today = datetime.now(UTC).date()
    page = finance_client.get("/staff/?preset=last_month&lang=en").get_data(as_text=True)
    assert 'name="to" type="date" value="' in page
    first = today.replace(day=1)
    assert f'value="{first.isoformat()}"' not in page.split('name="from"')[1][:80]
    bad = finance_client.get("/staff/?from=2026-03-01&to=2026-01-01&lang=en").get_data(as_text=True)
    assert 'class="flash error"' in bad
    assert f'id="from" name="from" type="date" value="{first.isoformat()}"' in bad  # back to this month
