"""How fast is the finance dashboard on a big database?

Seeds a PostgreSQL database of its own (``bench_dashboard`` by default, dropped
and made again) with N supporters, about 0.8 N memberships and 10 N payments
spread over two years, generated in the server with ``generate_series`` (no
rows cross the wire; the secondary indexes, unique and foreign keys are
dropped for the load and made again after it), builds the daily summaries as
``flask --app app reports rebuild`` does, then prints:

- the dashboard's server time: ``GET /staff/`` through the app (summaries for
  the whole past days, today live, then query, arithmetic and rendering, signed
  in as a finance user), and ``reports.dashboard`` alone;
- the time of one hand-written SQL query for the same figures over the raw
  tables (the baseline),

for this month, last month and the last twelve months, and checks that both
give the same numbers.  ``--dirty`` past days of each period are marked dirty
first (late refunds the beat task has not rebuilt yet), so those days are
computed live too.  Not part of the test suite.

    .venv/bin/python bench/dashboard.py                      # 1M supporters, 10M payments
    .venv/bin/python bench/dashboard.py --supporters 100000  # a tenth
    .venv/bin/python bench/dashboard.py --reuse              # measure again, no seeding

Needs a PostgreSQL server where the user may create databases
(``--server``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
and about 4 GB of disk at full size.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.extensions import db
from app.models import StaffRole
from app.services.reports import summaries
from app.services.reports.dashboard import Dashboard, dashboard, mrr
from app.services.reports.dirty_days import mark_days
from app.services.reports.periods import Period, coverage, table_days
from app.services.staff import accounts

PASSWORD = "bench password, not a secret"  # noqa: S105
TABLES = ("supporter", "membership", "payment")

SEED = """
SELECT setseed(0.42);
INSERT INTO supporter (id, email, name, locale, stripe_customer_id, created_at, updated_at)
SELECT i, 'reader' || i || '@example.org',
       CASE WHEN i % 3 = 0 THEN 'ليلى حداد ' || i ELSE 'Reader ' || i END,
       CASE WHEN i % 3 = 0 THEN 'en' ELSE 'ar' END,
       'cus_bench' || i,
       :now - (random() * 730) * interval '1 day', :now
FROM generate_series(1, :n) AS i;

-- Four supporters in five have a membership (id = supporter id); one in fifty a second, later one.
INSERT INTO membership (id, supporter_id, stripe_subscription_id, status, amount, currency, interval,
                        cancel_at_period_end, canceled_at, cancellation_reason, covers_fees, campaign,
                        started_at, created_at, updated_at)
SELECT i, i, 'sub_bench' || i,
       CASE WHEN r < 0.12 THEN 'canceled' WHEN r < 0.15 THEN 'past_due' WHEN r < 0.16 THEN 'unpaid'
            WHEN r < 0.17 THEN 'incomplete_expired' ELSE 'active' END,
       CASE WHEN c = 'try' THEN 5000 ELSE (ARRAY[100, 300, 500, 1000])[1 + i % 4] END
         * CASE WHEN i % 7 = 0 THEN 12 ELSE 1 END,
       c, CASE WHEN i % 7 = 0 THEN 'year' ELSE 'month' END,
       false,
       CASE WHEN r < 0.12 THEN created + (random() * (:now - created)) END,
       CASE WHEN r < 0.06 THEN 'cancellation_requested' WHEN r < 0.12 THEN 'payment_failed' END,
       false,
       (ARRAY['gaza-2026', 'ramadan', 'newsletter', NULL, NULL])[1 + i % 5],
       -- One in ten was imported by a sync: recorded here long after it started at Stripe.
       created,
       CASE WHEN i % 10 = 3 THEN least(:now, created + interval '90 days') ELSE created END,
       CASE WHEN r < 0.17 AND r >= 0.15 THEN created + (random() * (:now - created)) ELSE :now END
FROM (
    SELECT i, random() AS r, (ARRAY['usd', 'usd', 'usd', 'eur', 'try'])[1 + i % 5] AS c,
           :now - (random() * 730) * interval '1 day' AS created
    FROM generate_series(1, :n) AS i WHERE i % 5 <> 0
) AS m;
INSERT INTO membership (id, supporter_id, stripe_subscription_id, status, amount, currency, interval,
                        cancel_at_period_end, covers_fees, started_at, created_at, updated_at)
SELECT :n + i, i, 'sub_bench_again' || i, 'active', 300, 'usd', 'month', false, false,
       at, at, :now
FROM (SELECT i, :now - (random() * 60) * interval '1 day' AS at FROM generate_series(1, :n, 50) AS i) AS again;

-- Ten payments per supporter; those of the one in five without a membership are one-time gifts.
-- Inserted in time order, as they arrive in production (the time grows with g: no sort).
INSERT INTO payment (id, supporter_id, membership_id, stripe_invoice_id, stripe_charge_id, amount, currency,
                     fee_cover, status, refunded_amount, failure_code, paid_at, campaign, created_at, updated_at)
SELECT g, s, CASE WHEN s % 5 <> 0 THEN s END, 'in_bench' || g, 'ch_bench' || g, amount,
       (ARRAY['usd', 'usd', 'usd', 'eur', 'try'])[1 + s % 5], 0,
       CASE WHEN r < 0.03 THEN 'failed' WHEN r < 0.05 THEN 'refunded' WHEN r < 0.055 THEN 'disputed'
            ELSE 'succeeded' END,
       CASE WHEN r >= 0.03 AND r < 0.05 THEN amount ELSE 0 END,
       CASE WHEN r < 0.03 THEN 'card_declined' END,
       CASE WHEN r >= 0.03 THEN at END,
       (ARRAY['gaza-2026', 'ramadan', 'newsletter', NULL, NULL])[1 + s % 5],
       at, at
FROM (
    SELECT g, 1 + (g % :n) AS s, random() AS r,
           CASE WHEN (1 + g % :n) % 5 = 4 THEN 5000 ELSE (ARRAY[100, 300, 500, 1000])[1 + g % 4] END AS amount,
           :now - ((:n * 10 - g)::float8 / (:n * 10) * 730) * interval '1 day' AS at
    FROM generate_series(1, :n * 10) AS g
) AS p;
SELECT setval(pg_get_serial_sequence('supporter', 'id'), (SELECT max(id) FROM supporter));
SELECT setval(pg_get_serial_sequence('membership', 'id'), (SELECT max(id) FROM membership));
SELECT setval(pg_get_serial_sequence('payment', 'id'), (SELECT max(id) FROM payment))
"""

#: The same figures as ``reports.dashboard``, in one statement written by hand, over the raw tables.
HAND_SQL = """
WITH m AS (
    SELECT id, supporter_id, status, amount, currency, interval, started_at, cancellation_reason,
           status IN ('canceled', 'unpaid', 'paused') AS ended,
           coalesce(canceled_at, updated_at) AS end_time
    FROM membership WHERE status NOT IN ('incomplete', 'incomplete_expired')
), ever AS (
    SELECT * FROM m WHERE NOT ended OR end_time >= started_at
), members AS (
    SELECT currency, interval,
           count(*) FILTER (WHERE started_at < :s AND (NOT ended OR end_time >= :s)) AS at_start,
           count(*) FILTER (WHERE started_at < :e AND (NOT ended OR end_time >= :e)) AS at_end,
           coalesce(sum(amount) FILTER (WHERE started_at < :e AND (NOT ended OR end_time >= :e)), 0) AS amount_end,
           count(*) FILTER (WHERE status = 'past_due') AS grace
    FROM ever GROUP BY currency, interval
), starts AS (
    SELECT date_trunc('month', started_at AT TIME ZONE 'UTC') AS month, count(*) AS started,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM membership p
               WHERE p.supporter_id = ever.supporter_id AND p.id <> ever.id
                 AND p.status IN ('canceled', 'unpaid', 'paused')
                 AND coalesce(p.canceled_at, p.updated_at) <= ever.started_at
                 AND coalesce(p.canceled_at, p.updated_at) >= p.started_at)) AS reactivated
    FROM ever WHERE started_at >= :s AND started_at < :e GROUP BY 1
), ends AS (
    SELECT date_trunc('month', end_time AT TIME ZONE 'UTC') AS month, cancellation_reason, count(*) AS churned
    FROM ever WHERE ended AND end_time >= :s AND end_time < :e GROUP BY 1, 2
), paid AS (
    SELECT date_trunc('month', p.paid_at AT TIME ZONE 'UTC') AS month, p.currency,
           CASE WHEN p.membership_id IS NULL THEN 'once' ELSE ms.interval END AS frequency, p.campaign,
           count(*) AS n, sum(p.amount) AS amount,
           count(*) FILTER (WHERE p.refunded_amount > 0) AS refunds, sum(p.refunded_amount) AS refunded,
           count(*) FILTER (WHERE p.status = 'disputed') AS disputes,
           coalesce(sum(p.amount) FILTER (WHERE p.status = 'disputed'), 0) AS disputed
    FROM payment p LEFT JOIN membership ms ON ms.id = p.membership_id
    WHERE p.paid_at >= :s AND p.paid_at < :e AND p.status IN ('succeeded', 'refunded', 'disputed')
    GROUP BY 1, 2, 3, 4
), failed AS (
    SELECT currency, failure_code, count(*) AS n, sum(amount) AS amount
    FROM payment WHERE status = 'failed' AND created_at >= :s AND created_at < :e GROUP BY 1, 2
)
SELECT
    (SELECT json_agg(members) FROM members),
    (SELECT json_agg(starts) FROM starts),
    (SELECT json_agg(ends) FROM ends),
    (SELECT json_agg(paid) FROM paid),
    (SELECT json_agg(failed) FROM failed)
"""


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median wall time in milliseconds over ``runs`` (after one warm-up), and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def hand_figures(rows: tuple[Any, ...]) -> dict[str, Any]:
    members, starts, ends, paid, failed = (r or [] for r in rows)
    monthly: dict[str, int] = {}
    yearly: dict[str, int] = {}
    for row in members:
        target = monthly if row["interval"] == "month" else yearly
        target[row["currency"]] = target.get(row["currency"], 0) + int(row["amount_end"])
    revenue: dict[str, int] = {}
    for row in paid:
        revenue[row["currency"]] = revenue.get(row["currency"], 0) + int(row["amount"])
    return {
        "members_at_start": sum(r["at_start"] for r in members),
        "members_at_end": sum(r["at_end"] for r in members),
        "in_grace": sum(r["grace"] for r in members),
        "new": sum(r["started"] - r["reactivated"] for r in starts),
        "reactivated": sum(r["reactivated"] for r in starts),
        "churned": sum(r["churned"] for r in ends),
        "mrr": {
            c: mrr(monthly.get(c, 0), yearly.get(c, 0))
            for c in sorted(set(monthly) | set(yearly))
            if monthly.get(c, 0) or yearly.get(c, 0)
        },
        "revenue": dict(sorted(revenue.items())),
        "payments": sum(r["n"] for r in paid),
        "one_time": sum(r["n"] for r in paid if r["frequency"] == "once"),
        "refunds": sum(r["refunds"] for r in paid),
        "disputes": sum(r["disputes"] for r in paid),
        "failed": sum(r["n"] for r in failed),
    }


def app_figures(report: Dashboard) -> dict[str, Any]:
    return {
        "members_at_start": report.members_at_start,
        "members_at_end": report.members_at_end,
        "in_grace": report.in_grace.count,
        "new": report.new,
        "reactivated": report.reactivated,
        "churned": report.churned,
        "mrr": {c: v for c, v in report.mrr.items() if v},
        "revenue": dict(sorted(report.revenue.amounts.items())),
        "payments": report.revenue.count,
        "one_time": report.one_time.count,
        "refunds": report.refunds.count,
        "disputes": report.disputes.count,
        "failed": report.failed.count,
    }


def _keys_and_indexes(conn: sa.Connection) -> tuple[list[str], list[str]]:
    """DDL to drop and to make again the unique and foreign keys and secondary indexes of TABLES."""
    rows = conn.execute(
        sa.text(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
            FROM pg_constraint c
            WHERE c.conrelid::regclass::text IN ('supporter', 'membership', 'payment')
              AND c.contype IN ('u', 'f')
            """
        )
    ).all()
    drop = [
        f'ALTER TABLE {t} DROP CONSTRAINT "{name}"' for t, name, _, kind in sorted(rows, key=lambda r: r[3])
    ]
    make = [
        f'ALTER TABLE {t} ADD CONSTRAINT "{name}" {definition}'
        for t, name, definition, kind in sorted(rows, key=lambda r: r[3], reverse=True)  # unique first
    ]
    indexes = conn.execute(
        sa.text(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename IN ('supporter', 'membership', 'payment') AND i.schemaname = 'public'
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """
        )
    ).all()
    drop += [f'DROP INDEX "{name}"' for name, _ in indexes]
    make += [definition for _, definition in indexes]
    return drop, make


def seed(server: str, name: str, supporters: int) -> str:
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "APP_ENV": "test"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        started = time.perf_counter()
        now = datetime.now(UTC)
        with db.engine.begin() as conn:
            drop, make = _keys_and_indexes(conn)
            for statement in drop:
                conn.execute(sa.text(statement))
        with db.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
            for statement in filter(str.strip, SEED.split(";\n")):
                conn.execute(sa.text(statement), {"n": supporters, "now": now})
        loaded = time.perf_counter()
        print(f"rows loaded in {loaded - started:.0f} s", flush=True)
        with db.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL maintenance_work_mem = '1GB'"))
            for statement in make:
                conn.execute(sa.text(statement))
        indexed = time.perf_counter()
        print(f"keys and indexes made in {indexed - loaded:.0f} s", flush=True)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        counts = {
            t: db.session.scalar(sa.text(f"SELECT count(*) FROM {t}"))  # noqa: S608 (fixed names)
            for t in TABLES
        }
        db.session.rollback()
        size = db.session.scalar(sa.text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
        print(
            f"seeded {counts} in {time.perf_counter() - started:.0f} s "
            f"(load {loaded - started:.0f} s, keys and indexes {indexed - loaded:.0f} s, then VACUUM ANALYZE); "
            f"database {size}",
            flush=True,
        )
        started = time.perf_counter()
        built = summaries.rebuild()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
        print(
            f"summaries of {built} days built in {time.perf_counter() - started:.0f} s "
            "(flask --app app reports rebuild)",
            flush=True,
        )
        accounts.create_staff("bench@newsroom.example", StaffRole.FINANCE, PASSWORD)
        db.session.commit()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--supporters", type=int, default=1_000_000, help="payments: ten times as many")
    parser.add_argument(
        "--server",
        default=os.environ.get("BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--database", default="bench_dashboard")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dirty", type=int, default=3, help="past days of each period marked dirty")
    parser.add_argument("--reuse", action="store_true", help="skip seeding; use the database as it is")
    args = parser.parse_args()

    if args.reuse:
        url = make_url(args.server).set(database=args.database).render_as_string(hide_password=False)
    else:
        url = seed(args.server, args.database, args.supporters)

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "APP_ENV": "test", "WTF_CSRF_ENABLED": False})
    with app.app_context():
        # Bring the summaries up to yesterday (a --reuse run on a later day), as the beat task does.
        summaries.refresh(wait=True)
        payments = db.session.scalar(
            sa.text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'payment'")
        )
        version = db.session.scalar(sa.text("SHOW server_version"))
        db.session.rollback()
    print(f"PostgreSQL {version}, about {payments:,} payments, {os.cpu_count()} cores")
    client = app.test_client()
    signed = client.post("/staff/sign-in", data={"email": "bench@newsroom.example", "password": PASSWORD})
    assert signed.status_code == 302, signed.status_code

    today = datetime.now(UTC).date()
    first = today.replace(day=1)
    last_month_end = first - timedelta(days=1)
    year, month = (first.year, 1) if first.month == 12 else (first.year - 1, first.month + 1)
    periods = {  # as the dashboard's presets
        "this month": Period(first, today),
        "last month": Period(last_month_end.replace(day=1), last_month_end),
        "last 12 months": Period(date(year, month, 1), today),
    }
    print(
        f"{'period':28} {'GET /staff/':>12} {'reports.dashboard':>18} {'hand SQL':>10} {'ratio':>6}"
        "  live days  same figures"
    )
    rng = random.Random(42)
    for label, period in periods.items():
        past = table_days(period.first, min(period.last + timedelta(days=1), today))
        for dirty in (0, args.dirty):
            if dirty:
                if not past:
                    continue
                with app.app_context():
                    mark_days(db.session(), rng.sample(past, min(dirty, len(past))))
                    db.session.commit()
            query = f"/staff/?from={period.first.isoformat()}&to={period.last.isoformat()}"

            def page(query: str = query) -> int:
                response = client.get(query)
                assert response.status_code == 200
                return len(response.data)

            request_ms, _ = timed(page, args.runs)
            with app.app_context():
                service_ms, report = timed(lambda period=period: dashboard(period), args.runs)  # type: ignore[misc]
                cover = coverage(period.last + timedelta(days=1))
                live_days = sum(
                    (b - max(a or period.first, period.first)).days for a, b in cover.live if b > period.first
                )
                db.session.rollback()
                if not dirty:
                    with db.engine.connect() as conn:
                        hand_ms, rows = timed(
                            lambda conn=conn, period=period: conn.execute(  # type: ignore[misc]
                                sa.text(HAND_SQL), {"s": period.start, "e": period.end}
                            ).one(),
                            args.runs,
                        )
                    theirs = hand_figures(tuple(rows))
                if dirty:  # the beat task's work: rebuild them
                    summaries.refresh(wait=True)
            ours = app_figures(report)
            same = ours == theirs
            name = label if not dirty else f"  with {dirty} dirty days"
            print(
                f"{name:28} {request_ms:10.0f} ms {service_ms:16.0f} ms {hand_ms:8.0f} ms "
                f"{request_ms / hand_ms:5.2f}x  {live_days:9}  {'yes' if same else 'NO'}",
                flush=True,
            )
            if not same:
                for key in ours:
                    if ours[key] != theirs[key]:
                        print(f"    {key}: dashboard {ours[key]} / hand SQL {theirs[key]}")
            if not dirty:
                print(f"    {ours}")


if __name__ == "__main__":
    main()
