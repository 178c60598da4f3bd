"""The support page under load: requests/s and p99 of ``GET /ar/support``, beside a bare page.

Both are served by gunicorn with 2 (sync) workers on 127.0.0.1 and loaded by
wrk with 32 connections; they take turns (``--rounds``) and the median of the
rounds is reported.  The service runs as in development (``APP_ENV=development``)
on a migrated SQLite file; ``STRIPE_API_BASE`` points at a closed port, since
the page calls Stripe for nothing.  The baseline (``bench/baselines.py``)
renders one Jinja template page of the same length with plain Flask.  After the
runs, the RSS of each web worker.  Goal (issue 19): at least 0.9 of the bare page's
requests/s, and a p99 of at most 50 ms.

    .venv/bin/python bench/support_page.py [--seconds 10] [--rounds 5]

Needs ``wrk`` (Debian: ``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

PATH = "/ar/support"
CONNECTIONS = 32
WORKERS = 2
GOAL_RATIO = 0.9
GOAL_P99_MS = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="turns each side takes")
    common.add_wait_quiet(parser)
    args = parser.parse_args()
    common.begin("Support page: GET /ar/support vs a bare Flask template page", args.wait_quiet, wrk=True)

    folder = Path(tempfile.mkdtemp(prefix="bench-support-"))
    database = f"sqlite:///{folder / 'support.db'}"
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": database,
        "STRIPE_API_BASE": "http://127.0.0.1:9",  # nothing listens: the page makes no Stripe call
        "CELERY_BROKER_URL": "memory://",
    }
    common.migrate(database, env)
    log = folder / "gunicorn.log"

    ours: list[common.Load] = []
    bare: list[common.Load] = []
    rss: list[float] = []
    bare_rss: list[float] = []
    with common.gunicorn("app:create_app()", env, WORKERS, log, ready=PATH) as (url, proc):
        status, page, _ = common.get(url + PATH)
        assert status == 200, status
    page_bytes = len(page)
    print(f"  page: {page_bytes} bytes of HTML; wrk: {CONNECTIONS} connections, {args.seconds:.0f} s a run")
    for round_ in range(1, args.rounds + 1):
        with common.gunicorn(
            "bench.baselines:page_app()", {"BARE_PAGE_BYTES": str(page_bytes)}, WORKERS, log, ready="/page"
        ) as (url, bare_proc):
            common.wrk(url + "/page", connections=CONNECTIONS, seconds=2, warm_up=True)
            bare.append(common.wrk(url + "/page", connections=CONNECTIONS, seconds=args.seconds))
            bare_rss = [common.rss_mb(pid) for pid in common.children(bare_proc.pid)]
        with common.gunicorn("app:create_app()", env, WORKERS, log, ready=PATH) as (url, proc):
            common.wrk(url + PATH, connections=CONNECTIONS, seconds=2, warm_up=True)
            ours.append(common.wrk(url + PATH, connections=CONNECTIONS, seconds=args.seconds))
            rss = [common.rss_mb(pid) for pid in common.children(proc.pid)]
        print(
            f"  round {round_}: support {ours[-1].per_second:.0f}/s p99 {ours[-1].p99_ms:.1f} ms;"
            f" bare {bare[-1].per_second:.0f}/s p99 {bare[-1].p99_ms:.1f} ms",
            flush=True,
        )

    a, b = common.median_load(ours), common.median_load(bare)
    share = common.ratio(a.per_second, b.per_second)
    print()
    common.print_table(
        ("median of rounds", "support page", "bare page", "ratio", "goal", ""),
        [
            (
                "requests/s",
                f"{a.per_second:.0f}",
                f"{b.per_second:.0f}",
                f"{share:.2f}",
                f">= {GOAL_RATIO}",
                common.verdict(share >= GOAL_RATIO),
            ),
            (
                "p99 latency",
                f"{a.p99_ms:.1f} ms",
                f"{b.p99_ms:.1f} ms",
                f"{common.ratio(a.p99_ms, b.p99_ms):.2f}",
                f"<= {GOAL_P99_MS:.0f} ms",
                common.verdict(a.p99_ms <= GOAL_P99_MS),
            ),
            ("p50 latency", f"{a.p50_ms:.1f} ms", f"{b.p50_ms:.1f} ms", "", "", ""),
            ("errors (non-2xx, socket)", a.errors, b.errors, "", "0", common.verdict(a.errors == 0)),
        ],
    )
    print(
        f"\n  web worker RSS after the last run: {', '.join(f'{x:.0f} MiB' for x in rss)}"
        f" (bare page's: {', '.join(f'{x:.0f} MiB' for x in bare_rss)})"
    )
    print(f"  load average (1 min) at the end: {common.load_average():.2f}")
    met = share >= GOAL_RATIO and a.p99_ms <= GOAL_P99_MS and a.errors == 0
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
