"""Receipts: emails per second through a real Celery worker to a local SMTP server.

On a PostgreSQL database of its own (``bench_receipts``, dropped and made
again, migrated), ``--emails`` renewal payments of existing members (two in
three Arabic, one in three English) each have a pending receipt in the outbox,
as applying ``invoice.paid`` leaves them.  Their tasks are published to Redis
(``BENCH_REDIS``, default db 15, emptied), then a real Celery worker
(``celery -A bench.worker worker``, the service's ``send_email`` task,
``--concurrency`` processes) composes each (HTML and text in the member's
language, the PDF receipt attached) and sends it to an SMTP server on
127.0.0.1 (aiosmtpd, in this process, counting what it receives).  Emails per
second from the first to the last received; the time to mail 100,000
renewals is extrapolated from that rate (not measured).

Baseline: the same message, composed once, sent ``--emails`` times with plain
``smtplib`` from one process over one connection (each worker process keeps one).

Goal (issue 19): at least 167 emails/s (100,000 renewals within 10 minutes),
and a pool process under 150 MiB after the run.

    .venv/bin/python bench/receipts.py [--emails 2000] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import os
import smtplib
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from bench import common

DATABASE = "bench_receipts"
RENEWALS = 100_000
GOAL_PER_SECOND = 167
GOAL_RSS_MIB = 150

#: Each member's renewal, paid today, with its receipt number and its receipt pending in the outbox.
RENEWALS_PAID = (
    """INSERT INTO payment (id, supporter_id, membership_id, stripe_invoice_id, stripe_payment_intent_id,
                            stripe_charge_id, amount, currency, fee_cover, status, refunded_amount, paid_at,
                            receipt_number, created_at, updated_at)
       SELECT n, n, n, 'in_receipt' || n, 'pi_receipt' || n, 'ch_receipt' || n,
              (ARRAY[100, 300, 500, 1000])[1 + n % 4], 'usd', 0, 'succeeded', 0, :now,
              to_char(:now, 'YYYY') || '-' || lpad(n::text, 7, '0'), :now, :now
       FROM generate_series(1, :count) AS n""",
    """INSERT INTO email_log (id, kind, about, supporter_id, to_address, locale, status, attempts, created_at)
       SELECT n, 'receipt', 'payment:' || n, n, 'member' || n || '@example.org',
              CASE WHEN n % 3 = 0 THEN 'en' ELSE 'ar' END, 'pending', 0, :now
       FROM generate_series(1, :count) AS n""",
    "SELECT setval(pg_get_serial_sequence('payment', 'id'), :count)",
    "SELECT setval(pg_get_serial_sequence('email_log', 'id'), :count)",
)


class Counter:
    """An aiosmtpd handler that only counts and times what it receives."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.bytes = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.times.append(time.monotonic())
            self.bytes += len(envelope.content)
        return "250 Message accepted for delivery"

    def rate(self) -> float:
        with self._lock:
            times = list(self.times)
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0

    def reset(self) -> None:
        with self._lock:
            self.times.clear()
            self.bytes = 0


def seed(database_url: str, count: int) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(microsecond=0)
    common.seed(
        database_url, (*common.MEMBERS, *RENEWALS_PAID), count=count, now=now, then=now - timedelta(days=30)
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--emails", type=int, default=2000, help="receipts to send (2,000 to 5,000 is enough)"
    )
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1, help="Celery processes")
    common.add_wait_quiet(parser)
    args = parser.parse_args()
    common.begin(
        "Receipts: emails through a Celery worker to a local SMTP server",
        args.wait_quiet,
        postgres=True,
        redis=True,
    )

    folder = Path(tempfile.mkdtemp(prefix="bench-receipts-"))
    url = common.fresh_postgres_database(DATABASE)
    counter = Counter()
    smtp = Controller(counter, hostname="127.0.0.1", port=common.free_port())
    smtp.start()
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": common.REDIS_URL,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "STRIPE_API_BASE": "http://127.0.0.1:9",  # sending a receipt asks Stripe for nothing
    }
    common.migrate(url, env)
    seed(url, args.emails)
    common.flush_redis()
    os.environ.update(env)

    from app import create_app
    from app.extensions import db
    from app.models import EmailLog
    from app.services import emails, outbox

    app = create_app()
    with app.app_context():
        # Baseline: one message, composed once, sent again and again with smtplib.
        first = db.session.get(EmailLog, 1)
        assert first is not None
        message = emails.compose(first)
        size = len(message.as_bytes())
        began = time.monotonic()
        with smtplib.SMTP(
            "127.0.0.1", smtp.port, timeout=20
        ) as client:  # one connection, as each worker keeps
            for _ in range(args.emails):
                client.send_message(message)
        baseline = args.emails / (time.monotonic() - began)
        counter.reset()
        # The service: publish every receipt's task, then let a worker send them.
        published = outbox.publish(list(range(1, args.emails + 1)))
        db.session.remove()
    print(f"  {args.emails} receipts ({size:,} bytes for the first, PDF included), {published} tasks published;"
          f" worker: {args.concurrency} processes", flush=True)  # fmt: skip

    engine = sa.create_engine(url)
    worker = common.spawn(
        [
            str(common.BIN / "celery"), "-A", "bench.worker", "worker", "-Q", "celery",
            "--concurrency", str(args.concurrency), "--loglevel", "WARNING", "-n", "bench-receipts@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
        env,
        folder / "worker.log",
    )  # fmt: skip
    try:
        last, moved = -1, time.monotonic()
        while len(counter.times) < args.emails:
            if len(counter.times) != last:
                last, moved = len(counter.times), time.monotonic()
            elif time.monotonic() - moved > 120:
                break
            time.sleep(0.5)
        time.sleep(1)  # the last tasks mark their rows sent
        rss = [common.rss_mb(p) for p in [worker.pid, *common.children(worker.pid)]]
    finally:
        common.stop(worker)
        smtp.stop()
    with engine.connect() as conn:
        sent = int(
            conn.execute(sa.text("SELECT count(*) FROM email_log WHERE status = 'sent'")).scalar() or 0
        )
    engine.dispose()
    common.flush_redis()

    rate = counter.rate()
    received = len(counter.times)
    pool = max(rss[1:], default=0.0)
    hours = RENEWALS / rate / 3600 if rate else float("inf")
    print()
    common.print_table(
        ("", "service (Celery)", "baseline (smtplib)", "ratio", "goal", ""),
        [
            (
                "emails/s",
                f"{rate:.1f}",
                f"{baseline:.1f}",
                f"{common.ratio(rate, baseline):.3f}",
                f">= {GOAL_PER_SECOND}",
                common.verdict(rate >= GOAL_PER_SECOND),
            ),
            (
                "RSS of a pool process after the run",
                f"{pool:.0f} MiB",
                "",
                "",
                f"< {GOAL_RSS_MIB} MiB",
                common.verdict(0 < pool < GOAL_RSS_MIB),
            ),
            (
                f"time to mail {RENEWALS:,} renewals (extrapolated)",
                f"{hours:.1f} h",
                f"{RENEWALS / baseline / 3600:.2f} h",
                "",
                "<= 0.17 h",
                common.verdict(hours <= 1 / 6),
            ),
        ],
    )
    print(f"\n  received {received} of {args.emails}; {sent} marked sent; none twice: {received == sent}")
    print(f"  Celery worker RSS after the run (main, pool): {', '.join(f'{x:.0f} MiB' for x in rss)}")
    print(f"  load average (1 min) at the end: {common.load_average():.2f}")
    return 0 if received == args.emails == sent else 1


if __name__ == "__main__":
    sys.exit(main())
