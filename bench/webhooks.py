"""Stripe webhooks on a renewal day: events acknowledged per second, then applied per second.

On a PostgreSQL database of its own (``bench_webhooks``, dropped and made
again, migrated with ``flask --app app db upgrade``), with ``--members`` existing
monthly members per round, it builds each member's renewal, as Stripe sends it:
``customer.subscription.updated`` (the next period), ``invoice.paid`` and
``invoice.payment_succeeded`` (from Stripe's example objects, with
``tests/stripe_events.py``), shuffled, and signs them just before sending (the
signature holds a timestamp, valid 300 s).  Then:

1. Acknowledged: wrk (``--connections``) POSTs the events, once each, to
   ``/webhooks/stripe`` of the service under gunicorn (``--workers`` sync
   workers, the Celery broker on Redis): verified, stored, the workers woken
   (at most every 0.25 s per web process), 2xx.  Baseline, in turns with it:
   the same bodies POSTed to a bare Flask app under the same gunicorn that only
   inserts each as a row of the same table, ``webhook_event``, with its indexes
   (``bench/baselines.py``: no signature, no parsing, no duplicate check); also
   shown, the same into a table with a key and a ``json`` column only.  Events
   per second for ``--seconds`` after a warm-up, and p99.
2. Applied: a real Celery worker (``--concurrency`` processes, the service's
   task ``apply_stored_webhooks``: ``app/services/webhook_queue.apply_stored``, a
   batch of events in one transaction) applies what was stored; events per second from the first to the last ``processed_at``.
   Stripe is a stand-in that counts every request and refuses it (no call is
   expected: the members exist and no two events about one subscription tie).
   Email tasks go to a queue of their own, not sent (``bench/receipts.py``
   measures sending).  Baseline: the same worker inserting one row per event,
   a commit each.

Goal: at least 1,000 events/s acknowledged and 0.6 of the bare insert; at least
1,000 events/s applied by the worker and 0.3 of its baseline; no Stripe call to
apply a renewal day.  ``--apply-only`` stores the rounds' events directly (as
the endpoint stores them) and measures applying alone.

    .venv/bin/python bench/webhooks.py [--members 8000] [--rounds 3] [--seconds 10] [--apply-only]

Needs wrk, PostgreSQL (``BENCH_POSTGRES``, default postgres@127.0.0.1:5432) and
Redis (``BENCH_REDIS``, default redis://127.0.0.1:6379/15, emptied).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from celery import Celery

from bench import baselines, common
from tests import stripe_events as se

DATABASE = "bench_webhooks"
SECRET = "whsec_bench_webhooks"  # noqa: S105 - a benchmark's own, signs its own events
GOAL_PER_SECOND = 1000
GOAL_RATIO = 0.6
AMOUNTS = (100, 300, 500, 1000)
APPLY_QUEUE = "celery"
BARE_QUEUE = "bench-bare"
MAIL_QUEUE = "bench-mail"
#: The service's events, not the rows the baseline wrote into the same table (``baselines.BARE_TYPE``).
STORED = "SELECT count(*) FROM webhook_event WHERE type <> 'bench.bare'"
DONE = STORED + " AND (processed_at IS NOT NULL OR last_error IS NOT NULL)"
FAILED = STORED + " AND last_error IS NOT NULL"
IDS = "SELECT stripe_event_id FROM webhook_event WHERE type <> 'bench.bare' ORDER BY id"
APPLIED = (
    "SELECT count(*), min(processed_at), max(processed_at) FROM webhook_event"
    " WHERE type <> 'bench.bare' AND processed_at IS NOT NULL"
)
#: Members whose renewals warm each server up before it is measured (not counted).
WARM_UP_MEMBERS = 300
APPLY_STORED_TASK = "workers.tasks.apply_stored_webhooks"
GOAL_APPLIED = 1000
GOAL_APPLIED_RATIO = 0.3


# -- Stripe, standing in -----------------------------------------------------------------------


class CountingStripe:
    """Answers every request with an error and counts it: applying should need none."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                outer.calls.append(f"{self.command} {self.path.split('?')[0]}")
                body = json.dumps(
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "message": "benchmark: no Stripe call expected",
                        }
                    }
                ).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _refuse

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", common.free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()


# -- a renewal day ------------------------------------------------------------------------------


def seed_members(database_url: str, count: int, now: datetime) -> None:
    """``count`` active monthly members whose last Stripe state is a month old."""
    common.seed(database_url, common.MEMBERS, count=count, now=now, then=now - timedelta(days=30))


def renewal_events(members: range, now: int) -> list[bytes]:
    """Each member's renewal today: the subscription's next period, its invoice paid (twice over)."""
    bodies = []
    for n in members:
        customer, subscription = f"cus_bench{n}", f"sub_bench{n}"
        amount = AMOUNTS[n % 4]
        sub = se.subscription(subscription, customer, amount=amount, period_end=now + 30 * 86400)
        invoice = se.invoice(
            f"in_bench{n}", customer, subscription, amount=amount, paid_at=now,
            payment_intent=f"pi_bench{n}", charge=f"ch_bench{n}", shape=se.OLD,
        )  # fmt: skip
        for kind, obj in (
            ("customer.subscription.updated", sub),
            ("invoice.paid", invoice),
            ("invoice.payment_succeeded", invoice),
        ):
            event = se.event(kind, obj, created=now, event_id=f"evt_bench{n}_{kind.replace('.', '_')}")
            bodies.append(json.dumps(event, separators=(",", ":")).encode())
    random.Random(members.start).shuffle(bodies)
    return bodies


def write_signed(bodies: list[bytes], path: Path) -> Path:
    """``signature<TAB>body`` lines, signed now."""
    now = int(time.time())
    with path.open("wb") as out:
        for body in bodies:
            out.write(se.sign(body, SECRET, now).encode() + b"\t" + body + b"\n")
    return path


# -- the worker ---------------------------------------------------------------------------------


def start_worker(queue: str, env: dict[str, str], concurrency: int, log: Path) -> Any:
    return common.spawn(
        [
            str(common.BIN / "celery"), "-A", "bench.worker", "worker", "-Q", queue,
            "--concurrency", str(concurrency), "--loglevel", "WARNING", "-n", f"bench-{queue}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
        env,
        log,
    )  # fmt: skip


def drain(
    queue: str,
    env: dict[str, str],
    concurrency: int,
    log: Path,
    engine: sa.Engine,
    done: str,
    target: int,
    seconds: float,
) -> list[float]:
    """Run a worker on ``queue`` until ``done`` (a count) reaches ``target``, at most ``seconds`` after
    the first task finished (or two minutes without progress); the worker's RSS at the end."""
    worker = start_worker(queue, env, concurrency, log)
    try:
        last, moved, began = -1, time.monotonic(), None
        while True:
            with engine.connect() as conn:
                count = int(conn.execute(sa.text(done)).scalar() or 0)
            now = time.monotonic()
            if count and began is None:
                began = now
            if count >= target or (began is not None and now - began > seconds):
                break
            if count != last:
                last, moved = count, now
            elif now - moved > 120:
                break
            time.sleep(0.5)
        return worker_rss(worker)
    finally:
        common.stop(worker)


def span_rate(engine: sa.Engine, query: str) -> tuple[int, float]:
    """(rows, rows per second between the first and the last timestamp) of ``query``."""
    with engine.connect() as conn:
        count, first, last = conn.execute(sa.text(query)).one()
    seconds = (last - first).total_seconds() if count and count > 1 else 0.0
    return int(count), (count - 1) / seconds if seconds else 0.0


def worker_rss(proc: Any) -> list[float]:
    pids = [proc.pid, *[c for p in common.children(proc.pid) for c in [p, *common.children(p)]]]
    return [common.rss_mb(p) for p in dict.fromkeys(pids)]


# -- the run -------------------------------------------------------------------------------------


def acknowledge(
    args: argparse.Namespace, env: dict[str, str], folder: Path, log: Path, count: Any, stamp: int
) -> tuple[list[common.Load], list[common.Load], list[common.Load], list[float]]:
    """The rounds of wrk: the service, the bare insert into ``webhook_event``, into a one-index table."""
    ours: list[common.Load] = []
    bare: list[common.Load] = []  # the same bodies into webhook_event: the goal's baseline
    bare_table: list[common.Load] = []  # into a table with a key and a json column only
    web_rss: list[float] = []
    block = args.members + WARM_UP_MEMBERS
    for round_ in range(args.rounds):
        first = 1 + round_ * block
        warm_up = renewal_events(range(first, first + WARM_UP_MEMBERS), stamp)
        bodies = renewal_events(range(first + WARM_UP_MEMBERS, first + block), stamp)
        if round_ == 0:
            print(
                f"  {args.rounds} round(s) of up to {len(bodies)} events ({args.members} renewals),"
                f" {sum(map(len, bodies)) // len(bodies)} bytes each on average; gunicorn {args.workers}"
                f" sync workers; wrk {args.connections} connections, {args.seconds:.0f} s a run"
                f" after 3 s of warm-up; Celery {args.concurrency} processes"
            )
        stored_before = count(STORED)
        for app, path, results in (
            ("bench.baselines:insert_app()", "/insert", bare_table),
            ("bench.baselines:insert_app()", "/insert-event", bare),
            ("app:create_app()", "/webhooks/stripe", ours),
        ):
            with common.gunicorn(app, env, args.workers, log) as (address, proc):
                # Each worker loads what its first event needs (the broker's client, ...).
                lines = write_signed(warm_up, folder / "warm-up.txt")
                common.wrk_post_lines(
                    address, path, lines, connections=args.connections, seconds=3, warm_up=True
                )
                if path == "/webhooks/stripe":
                    stored_before = count(STORED)
                lines = write_signed(bodies, folder / "events.txt")
                results.append(
                    common.wrk_post_lines(
                        address, path, lines, connections=args.connections, seconds=args.seconds
                    )
                )
                if results is ours:
                    web_rss = [common.rss_mb(p) for p in common.children(proc.pid)]
        stored = count(STORED) - stored_before
        print(
            f"  round {round_ + 1}: webhooks {ours[-1].good_per_second:.0f}/s p99 {ours[-1].p99_ms:.1f} ms"
            f" ({stored} stored{', list ran out: duplicates sent' if ours[-1].notes else ''});"
            f" bare insert into webhook_event {bare[-1].good_per_second:.0f}/s p99 {bare[-1].p99_ms:.1f} ms;"
            f" into a one-index table {bare_table[-1].good_per_second:.0f}/s",
            flush=True,
        )

    for signed in ("events.txt", "warm-up.txt"):  # about 100 MB; the servers' log stays
        (folder / signed).unlink(missing_ok=True)
    return ours, bare, bare_table, web_rss


def store_directly(engine: sa.Engine, args: argparse.Namespace, stamp: int) -> None:
    """``--apply-only``: the rounds' events stored as the endpoint stores them, without wrk."""
    insert = sa.text(
        "INSERT INTO webhook_event (stripe_event_id, type, livemode, created, payload, received_at, attempts)"
        " VALUES (:id, :type, false, to_timestamp(:created), CAST(:payload AS json), now(), 0)"
    )
    block = args.members + WARM_UP_MEMBERS
    for round_ in range(args.rounds):
        first = 1 + round_ * block + WARM_UP_MEMBERS
        rows = []
        for body in renewal_events(range(first, first + args.members), stamp):
            event = json.loads(body)
            rows.append({"id": event["id"], "type": event["type"], "created": event["created"],
                         "payload": body.decode()})  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert, rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--members", type=int, default=8000, help="members renewing per round (3 events each)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="turns the service and the baseline take")
    parser.add_argument("--seconds", type=float, default=10, help="length of each wrk run")
    parser.add_argument("--apply-seconds", type=float, default=60, help="longest a worker drains")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1, help="Celery processes")
    parser.add_argument(
        "--apply-only", action="store_true", help="store the events without wrk; measure applying only"
    )
    common.add_wait_quiet(parser)
    args = parser.parse_args()
    common.begin(
        "Stripe webhooks: a renewal day acknowledged, then applied",
        args.wait_quiet,
        wrk=not args.apply_only,
        postgres=True,
        redis=True,
    )

    folder = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    log = folder / "servers.log"
    url = common.fresh_postgres_database(DATABASE)
    stripe = CountingStripe()
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": common.REDIS_URL,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_API_BASE": stripe.url,
        "BENCH_MAIL_QUEUE": MAIL_QUEUE,
    }
    common.migrate(url, env)
    baselines.create_tables(url)
    now = datetime.now(UTC).replace(microsecond=0)
    seed_members(url, (args.members + WARM_UP_MEMBERS) * args.rounds, now)
    common.flush_redis()
    engine = sa.create_engine(url)

    def count(query: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(query)).scalar() or 0)

    stamp = int(now.timestamp())
    if args.apply_only:
        ours, bare, bare_table, web_rss = [], [], [], []
        store_directly(engine, args, stamp)
        for _ in range(2 * args.concurrency):  # as the endpoint's wake-ups ask
            Celery(broker=common.REDIS_URL).send_task(APPLY_STORED_TASK, queue=APPLY_QUEUE)
    else:
        ours, bare, bare_table, web_rss = acknowledge(args, env, folder, log, count, stamp)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # As autovacuum would within its minute: the planner's figures of a table made empty just now
        # chose to sort every waiting event for each claim instead of reading the index in order.
        conn.execute(sa.text("ANALYZE webhook_event"))
    stored = count(STORED)
    import redis

    queued = int(redis.Redis.from_url(common.REDIS_URL).llen(APPLY_QUEUE))
    print(f"  {stored} events stored; {queued} requests to apply them queued", flush=True)

    # Baseline: the same worker inserting one row per event, a commit each.
    client = Celery(broker=common.REDIS_URL)
    with engine.connect() as conn:
        ids = list(conn.execute(sa.text(IDS)).scalars())
    for chunk in range(0, len(ids), 200):
        client.send_task("bench.insert_rows", args=[ids[chunk : chunk + 200]], queue=BARE_QUEUE)
    bare_rss = drain(BARE_QUEUE, env, args.concurrency, log, engine, "SELECT count(*) FROM bare_apply",
                     len(ids), args.apply_seconds)  # fmt: skip
    bare_rows, bare_rate = span_rate(engine, "SELECT count(*), min(at), max(at) FROM bare_apply")

    # The service's worker applies what the endpoint queued.
    celery_rss = drain(
        APPLY_QUEUE, env, args.concurrency, log, engine,
        DONE,
        stored, args.apply_seconds,
    )  # fmt: skip
    applied, apply_rate = span_rate(
        engine,
        APPLIED,
    )
    failed = count(FAILED)
    payments = count("SELECT count(*) FROM payment")
    receipts = count("SELECT count(*) FROM email_log WHERE kind = 'receipt'")
    stripe.close()
    engine.dispose()
    common.flush_redis()

    calls = len(stripe.calls)
    applied_share = common.ratio(apply_rate, bare_rate)
    applied_met = apply_rate >= GOAL_APPLIED and applied_share >= GOAL_APPLIED_RATIO
    rows: list[tuple[object, ...]] = []
    ack_met = True
    if ours:
        a, b, t = common.median_load(ours), common.median_load(bare), common.median_load(bare_table)
        ack = statistics.median(x.good_per_second for x in ours)
        ack_bare = statistics.median(x.good_per_second for x in bare)
        ack_table = statistics.median(x.good_per_second for x in bare_table)
        share = common.ratio(ack, ack_bare)
        ack_met = ack >= GOAL_PER_SECOND and share >= GOAL_RATIO and all(x.errors == 0 for x in ours)
        rows += [
            ("acknowledged events/s", f"{ack:.0f}", f"{ack_bare:.0f}", f"{share:.2f}",
             f">= {GOAL_PER_SECOND}, >= {GOAL_RATIO} x", common.verdict(ack >= GOAL_PER_SECOND and share >= GOAL_RATIO)),
            ("  vs a one-index table", "", f"{ack_table:.0f}", f"{common.ratio(ack, ack_table):.2f}", "", ""),
            ("p99 of an acknowledgement", f"{a.p99_ms:.1f} ms", f"{b.p99_ms:.1f} ms",
             f"{common.ratio(a.p99_ms, b.p99_ms):.2f}", "", ""),
            ("  vs a one-index table", "", f"{t.p99_ms:.1f} ms", f"{common.ratio(a.p99_ms, t.p99_ms):.2f}", "", ""),
            ("answers not 2xx, socket errors", max(x.errors for x in ours), max(x.errors for x in bare), "", "0",
             common.verdict(all(x.errors == 0 for x in ours))),
        ]  # fmt: skip
    rows += [
        ("applied events/s (worker)", f"{apply_rate:.0f}", f"{bare_rate:.0f}", f"{applied_share:.2f}",
         f">= {GOAL_APPLIED}, >= {GOAL_APPLIED_RATIO} x", common.verdict(applied_met)),
        ("Stripe API calls to apply", calls, "", "", "0", common.verdict(calls == 0)),
    ]  # fmt: skip
    print()
    common.print_table(("median of rounds", "service", "baseline", "ratio", "goal", ""), rows)
    print(
        f"\n  applied {applied} of {stored} stored events ({failed} failed) in the worker's window:"
        f" {payments} renewal payments, {receipts} receipts queued; the baseline task wrote {bare_rows} rows"
    )
    if calls:
        print(f"  Stripe calls: {sorted(set(stripe.calls))[:10]}")
    if web_rss:
        print(f"  web worker RSS after the last run: {', '.join(f'{x:.0f} MiB' for x in web_rss)}")
    print(
        f"  Celery worker RSS after applying (main, pool): {', '.join(f'{x:.0f} MiB' for x in celery_rss)}"
        f" (baseline task's: {', '.join(f'{x:.0f} MiB' for x in bare_rss)})"
    )
    print(f"  load average (1 min) at the end: {common.load_average():.2f}")
    return 0 if ack_met and applied_met and calls == 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
