"""The load balancer's checks under load: ``/healthz`` and ``/readyz`` beside a bare Flask page.

The service runs under gunicorn (2 sync workers) on PostgreSQL and Redis, as
in production: ``/readyz`` reads ``alembic_version`` through the pool and
opens a connection to the broker on every call.  The baseline is a bare Flask
page of a few bytes (``bench/baselines.py``) in the same run; they take turns
(``--rounds``) under wrk with 8 connections, and the median is reported.
Goal: a ``/readyz`` costs at most 10 ms of one worker (a balancer calling each
machine every second then takes at most 1% of one worker), p99 at most 50 ms.

    .venv/bin/python bench/health.py [--seconds 5] [--rounds 3]

Needs ``wrk`` (Debian: ``apt-get install -y wrk``), PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

CONNECTIONS = 8
WORKERS = 2
GOAL_MS_PER_CALL = 10.0
GOAL_P99_MS = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="turns each side takes")
    common.add_wait_quiet(parser)
    args = parser.parse_args()
    common.begin(
        "Health checks: /healthz and /readyz vs a bare page",
        args.wait_quiet,
        wrk=True,
        postgres=True,
        redis=True,
    )
    load_before = common.load_average()

    folder = Path(tempfile.mkdtemp(prefix="bench-health-"))
    database = common.fresh_postgres_database("bench_health")
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": common.REDIS_URL,
        "STRIPE_API_BASE": "http://127.0.0.1:9",
    }
    common.migrate(database, env)
    log = folder / "gunicorn.log"
    runs: dict[str, list[common.Load]] = {"bare page": [], "/healthz": [], "/readyz": []}
    for round_ in range(1, args.rounds + 1):
        with common.gunicorn(
            "bench.baselines:page_app()", {"BARE_PAGE_BYTES": "20"}, WORKERS, log, ready="/page"
        ) as (url, _):
            common.wrk(url + "/page", connections=CONNECTIONS, seconds=1, warm_up=True)
            runs["bare page"].append(common.wrk(url + "/page", connections=CONNECTIONS, seconds=args.seconds))
        with common.gunicorn("app:create_app()", env, WORKERS, log, ready="/readyz") as (url, _):
            for path in ("/healthz", "/readyz"):
                common.wrk(url + path, connections=CONNECTIONS, seconds=1, warm_up=True)
                runs[path].append(common.wrk(url + path, connections=CONNECTIONS, seconds=args.seconds))
        print(
            f"  round {round_}: "
            + "; ".join(f"{name} {loads[-1].per_second:.0f}/s" for name, loads in runs.items()),
            flush=True,
        )

    medians = {name: common.median_load(loads) for name, loads in runs.items()}
    bare = medians["bare page"]
    ready = medians["/readyz"]
    ms_per_call = 1000.0 * WORKERS / ready.per_second  # each worker serves one request at a time
    print()
    common.print_table(
        ("median of rounds", "requests/s", "ratio to bare", "p99", "errors"),
        [
            (
                name,
                f"{m.per_second:.0f}",
                f"{common.ratio(m.per_second, bare.per_second):.2f}",
                f"{m.p99_ms:.1f} ms",
                m.errors,
            )
            for name, m in medians.items()
        ],
    )
    met = ms_per_call <= GOAL_MS_PER_CALL and ready.p99_ms <= GOAL_P99_MS and ready.errors == 0
    print(
        f"\n  /readyz: {ms_per_call:.2f} ms of a worker per call (goal <= {GOAL_MS_PER_CALL:.0f} ms),"
        f" p99 {ready.p99_ms:.1f} ms (goal <= {GOAL_P99_MS:.0f} ms) {common.verdict(met)}"
    )
    print(f"  load average (1 min): {load_before:.2f} before, {common.load_average():.2f} after")
    common.flush_redis()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
