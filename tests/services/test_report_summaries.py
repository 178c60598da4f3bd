"""The dashboard's daily summaries stay right when data arrives late.

A refund or a dispute weeks after the charge changes the day it was charged; a
cancellation that reaches us late changes the day the membership ended; a sync
import changes the day it started at Stripe.  Each is applied here the way it
arrives in production (a signed webhook, a sync step) after the summaries were
built, and the figures are checked before the rebuild (the changed day is
marked dirty in the same transaction and computed live) and after it (the
summary is rebuilt and the mark gone).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask

from app.extensions import db
from app.models import (
    DailyPayments,
    Membership,
    ReportDay,
    ReportDirtyDay,
    Supporter,
    WebhookEvent,
)
from app.services import sync
from app.services.reports import dashboard, periods, summaries
from app.services.reports.periods import Period
from tests import stripe_events as se
from tests.services.conftest import World

NOW = int(time.time())
DAY = 86400
TODAY = datetime.now(UTC).date()


def day_of(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


def figures(app: Flask, period: Period) -> dashboard.Dashboard:
    with app.app_context():
        report = dashboard.dashboard(period)
        db.session.rollback()
        return report


def dirty_days(app: Flask) -> set[date]:
    with app.app_context():
        return set(db.session.scalars(sa.select(ReportDirtyDay.day)))


def summarised(app: Flask, day: date) -> bool:
    with app.app_context():
        cover = periods.coverage(day + timedelta(days=1))
        return any(a <= day < b for a, b in cover.summarised)


def rebuild_all(app: Flask) -> None:
    with app.app_context():
        summaries.rebuild()
        assert not dirty_days(app)


def refresh(app: Flask) -> summaries.Refresh:
    with app.app_context():
        return summaries.refresh(wait=True)


def subscribe(world: World, started: int, paid: int, *, amount: int = 1000, invoice: str = "in_1") -> None:
    """A monthly member since ``started`` whose first invoice was paid at ``paid`` (charge ``ch_<invoice>``)."""
    subscription = world.subscription(amount=amount)
    subscription.update(start_date=started, created=started)
    world.send("customer.subscription.created", subscription, created=started)
    world.send(
        "invoice.paid",
        world.invoice(invoice, amount=amount, paid_at=paid, charge=f"ch_{invoice}", shape=se.OLD),
        created=paid,
    )


def test_a_membership_starts_on_stripes_start_date_not_when_we_heard_of_it(app: Flask, world: World) -> None:
    started = NOW - 70 * DAY
    subscription = world.subscription()
    subscription.update(start_date=started, created=started)
    world.send("customer.subscription.created", subscription, created=NOW - 60)  # heard of it today
    with app.app_context():
        membership = db.session.scalars(sa.select(Membership)).one()
        assert membership.started_at == datetime.fromtimestamp(started, UTC)
        assert membership.created_at.date() == TODAY
    report = figures(app, Period(day_of(started) - timedelta(days=3), TODAY))
    assert report.new == 1
    assert {m.month: m.new for m in report.months}[(day_of(started).year, day_of(started).month)] == 1
    assert figures(app, periods.this_month(TODAY)).new == 0  # not on the day we heard of it


def test_a_late_refund_counts_on_the_day_of_the_charge_before_and_after_the_rebuild(
    app: Flask, world: World
) -> None:
    paid = NOW - 45 * DAY
    subscribe(world, NOW - 46 * DAY, paid)
    rebuild_all(app)
    charged = day_of(paid)
    assert summarised(app, charged)
    period = Period(charged - timedelta(days=2), TODAY)
    before = figures(app, period)
    assert (before.refunds.count, before.revenue.count) == (0, 1)

    # Six weeks later the refund arrives.
    world.send("charge.refunded", se.charge("ch_in_1", None, amount=1000, amount_refunded=400), created=NOW)
    assert charged in dirty_days(app)  # marked in the event's transaction
    assert not summarised(app, charged)
    late = figures(app, period)
    assert (late.refunds.count, dict(late.refunds.amounts)) == (1, {"usd": 400})
    assert (late.revenue.count, dict(late.revenue.amounts)) == (1, {"usd": 1000})  # still charged that day

    done = refresh(app)
    assert (done.dirty, done.built) == (1, 1)
    assert charged not in dirty_days(app) and summarised(app, charged)
    rebuilt = figures(app, period)
    assert (rebuilt.refunds.count, dict(rebuilt.refunds.amounts)) == (1, {"usd": 400})
    with app.app_context():
        row = db.session.scalars(sa.select(DailyPayments).where(DailyPayments.day == charged)).one()
        assert (row.charged, row.refunded, row.refunded_amount) == (1, 1, 400)


def test_a_late_dispute_counts_on_the_day_of_the_charge(app: Flask, world: World) -> None:
    paid = NOW - 30 * DAY
    subscribe(world, NOW - 31 * DAY, paid, amount=500)
    rebuild_all(app)
    period = Period(day_of(paid), TODAY)
    world.send(
        "charge.dispute.created", se.dispute("dp_1", "ch_in_1", None, status="needs_response"), created=NOW
    )
    assert day_of(paid) in dirty_days(app)
    for _ in ("before", "after"):
        report = figures(app, period)
        assert (report.disputes.count, dict(report.disputes.amounts)) == (1, {"usd": 500})
        refresh(app)


def test_a_late_cancellation_counts_on_the_day_it_ended(app: Flask, world: World) -> None:
    started, ended = NOW - 80 * DAY, NOW - 20 * DAY
    subscribe(world, started, started + 60)
    rebuild_all(app)
    period = Period(day_of(started), TODAY)
    assert (figures(app, period).members_at_end, figures(app, period).mrr) == (1, {"usd": 1000})

    # Stripe canceled it twenty days ago; the event reaches us only now.
    subscription = world.subscription(status="canceled", canceled_at=ended)
    subscription.update(start_date=started, created=started)
    subscription["cancellation_details"]["reason"] = "cancellation_requested"
    world.send("customer.subscription.deleted", subscription, created=NOW)
    assert day_of(ended) in dirty_days(app)
    for when in ("before", "after"):
        report = figures(app, period)
        assert (report.members_at_end, report.churned, report.mrr) == (0, 1, {}), when
        assert report.cancellation_reasons == {"cancellation_requested": 1}, when
        month = (day_of(ended).year, day_of(ended).month)
        assert {m.month: m.churned for m in report.months}[month] == 1, when
        # Members at the end of each earlier day are unchanged: one until the day it ended.
        assert (
            figures(
                app, Period(day_of(ended) - timedelta(days=1), day_of(ended) - timedelta(days=1))
            ).members_at_end
            == 1
        )
        refresh(app)
    assert not dirty_days(app)


def test_a_late_cancellation_turns_a_later_start_into_a_reactivation(app: Flask, world: World) -> None:
    """The reader left (we hear it late) and came back with a second membership before we heard."""
    first_start, ended, second_start = NOW - 90 * DAY, NOW - 50 * DAY, NOW - 40 * DAY
    subscribe(world, first_start, first_start + 60)
    second = se.subscription(se.new_id("sub"), world.customer_id, amount=300)
    second.update(start_date=second_start, created=second_start)
    world.send("customer.subscription.created", second, created=second_start)
    rebuild_all(app)
    period = Period(day_of(first_start), TODAY)
    assert (figures(app, period).new, figures(app, period).reactivated) == (2, 0)

    gone = world.subscription(status="canceled", canceled_at=ended)
    gone.update(start_date=first_start, created=first_start)
    world.send("customer.subscription.deleted", gone, created=NOW)
    assert {day_of(ended), day_of(second_start)} <= dirty_days(app)
    for when in ("before", "after"):
        report = figures(app, period)
        assert (report.new, report.reactivated, report.churned, report.members_at_end) == (1, 1, 1, 1), when
        refresh(app)


def test_a_sync_import_counts_on_the_day_it_started_at_stripe(app: Flask, world: World) -> None:
    # Something to summarise first: a member since long ago.
    subscribe(world, NOW - 200 * DAY, NOW - 200 * DAY + 60)
    rebuild_all(app)
    started = NOW - 100 * DAY
    other = se.new_id("cus")
    world.gateway.customers[other] = se.customer(other, "imported@example.org", "Imported", ["en"])
    subscription = se.subscription(se.new_id("sub"), other, amount=2500, currency="eur", interval="year")
    subscription.update(start_date=started, created=started)
    with app.app_context():  # one step of `flask stripe sync`, as it applies a listed subscription
        sync._apply_object("subscriptions", subscription, datetime.now(UTC), world.gateway, sync._Changes())
        imported = db.session.scalars(sa.select(Membership).where(Membership.currency == "eur")).one()
        assert imported.started_at == datetime.fromtimestamp(started, UTC)
    assert day_of(started) in dirty_days(app)
    month = (day_of(started).year, day_of(started).month)
    for when in ("before", "after"):
        report = figures(app, Period(day_of(started) - timedelta(days=10), TODAY))
        assert ({m.month: m.new for m in report.months}[month], report.new) == (1, 1), when
        assert report.mrr == {"eur": 208, "usd": 1000}, when  # 2500 / 12 = 208.33
        # Not new today, when it was imported.
        assert figures(app, Period(TODAY, TODAY)).new == 0, when
        refresh(app)
    assert not dirty_days(app)


def test_marks_belong_to_the_transaction_that_made_them(app: Flask, world: World) -> None:
    paid = NOW - 10 * DAY
    subscribe(world, paid - 60, paid)
    rebuild_all(app)
    with app.app_context():
        from app.models import Payment

        payment = db.session.scalars(sa.select(Payment)).one()
        payment.refunded_amount = 100
        db.session.flush()
        assert day_of(paid) in set(db.session.scalars(sa.select(ReportDirtyDay.day)))
        db.session.rollback()  # the change and its mark go together
    assert not dirty_days(app)
    assert figures(app, Period(day_of(paid), day_of(paid))).refunds.count == 0


def test_applied_events_are_linked_to_their_supporter(app: Flask, world: World) -> None:
    paid = NOW - 5 * DAY
    subscribe(world, paid - 60, paid)
    world.send(
        "charge.dispute.created", se.dispute("dp_9", "ch_in_1", None, status="needs_response"), created=NOW
    )
    world.send("invoice.paid", se.invoice("in_else", "cus_unknown_elsewhere", None), created=NOW)
    with app.app_context():
        supporter = db.session.scalars(sa.select(Supporter)).one()
        links = db.session.execute(
            sa.select(WebhookEvent.type, WebhookEvent.supporter_id).order_by(WebhookEvent.id)
        ).all()
    assert [tuple(link) for link in links] == [
        ("customer.subscription.created", supporter.id),
        ("invoice.paid", supporter.id),
        ("charge.dispute.created", supporter.id),  # names only the charge: found through the payment
        ("invoice.paid", None),  # a customer we cannot know: not applied, not linked
    ]


def cli(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def test_the_rebuild_command_builds_from_a_day(app: Flask, world: World) -> None:
    subscribe(world, NOW - 40 * DAY, NOW - 40 * DAY + 60)
    first = TODAY - timedelta(days=10)
    result = cli(app, "reports", "rebuild", "--from", first.isoformat())
    assert result.exit_code == 0, result.output
    assert result.output.startswith("built 10 days")
    with app.app_context():
        days = list(db.session.scalars(sa.select(ReportDay.day).order_by(ReportDay.day)))
    assert (days[0], days[-1], len(days)) == (first, TODAY - timedelta(days=1), 10)
    # The beat task's command fills in the rest, from the first day with data.
    result = cli(app, "reports", "refresh")
    assert result.exit_code == 0 and "never built: 30" in result.output, result.output
    assert "built: 40 days" in cli(app, "reports", "status").output


def test_the_beat_task_is_scheduled_and_rebuilds(app: Flask, world: World, monkeypatch: Any) -> None:
    from workers.schedule import BEAT_SCHEDULE
    from workers.tasks import refresh_report_summaries

    assert BEAT_SCHEDULE["refresh-report-summaries"]["task"] == "workers.tasks.refresh_report_summaries"
    subscribe(world, NOW - 3 * DAY, NOW - 3 * DAY + 60)
    with app.app_context():
        done = refresh_report_summaries.run()
    assert done == {"dirty": 1, "missing": 3, "built": 3, "busy": 0}


@pytest.mark.parametrize("how", ["live", "summaries"])
def test_the_page_reads_the_same_either_way(app: Flask, world: World, how: str) -> None:
    subscribe(world, NOW - 35 * DAY, NOW - 35 * DAY + 60)
    if how == "summaries":
        rebuild_all(app)
    report = figures(app, Period(TODAY - timedelta(days=40), TODAY))
    assert (report.new, report.members_at_end, report.revenue.count) == (1, 1, 1)


def test_a_change_committed_while_a_day_is_rebuilt_keeps_it_live(app: Flask, world: World) -> None:
    """The builder reads one snapshot: a refund committed after it keeps its mark, so the day stays live."""
    paid = NOW - 12 * DAY
    subscribe(world, paid - 60, paid)
    rebuild_all(app)
    charged = day_of(paid)
    world.send("charge.refunded", se.charge("ch_in_1", None, amount=1000, amount_refunded=300), created=NOW)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("snapshots of a REPEATABLE READ builder: PostgreSQL")
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.execute(sa.text("SELECT 1"))  # the builder's snapshot is taken here
                # Meanwhile a second refund arrives and commits, with its mark.
                world.send(
                    "charge.refunded",
                    se.charge("ch_in_1", None, amount=1000, amount_refunded=700),
                    created=NOW + 1,
                )
                summaries._build_range(conn, charged, charged + timedelta(days=1))
    assert charged in dirty_days(app)  # the first mark went with the build; the second stays
    report = figures(app, Period(charged, charged))
    assert dict(report.refunds.amounts) == {"usd": 700}  # live: right at once
    refresh(app)
    assert not dirty_days(app)
    assert dict(figures(app, Period(charged, charged)).refunds.amounts) == {"usd": 700}
