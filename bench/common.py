"""What the benchmarks share: the machine they ran on, gunicorn, wrk, databases, memory.

Every benchmark prints its figures beside a baseline measured in the same run
on the same machine; absolute numbers move from machine to machine, the ratio
is the figure.  Nothing here is imported by the service or the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness import free_port, wait_for_port  # noqa: E402

BIN = Path(sys.executable).parent
#: Where the benchmarks make their own databases (never ``test``).
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
#: The benchmarks' Redis database (emptied before and after each run; never db 14).
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/15")


# -- the machine -----------------------------------------------------------------------------


def load_average() -> float:
    return os.getloadavg()[0]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def postgres_version(url: str = POSTGRES_SERVER) -> str:
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            version = str(conn.execute(sa.text("SHOW server_version")).scalar())
        engine.dispose()
        return version
    except sa.exc.OperationalError:
        return "not reachable"


def redis_version(url: str = REDIS_URL) -> str:
    try:
        import redis

        return str(redis.Redis.from_url(url, socket_timeout=2).info("server")["redis_version"])
    except Exception:  # only a label on the report
        return "not reachable"


def machine(postgres: bool = False, redis: bool = False) -> dict[str, str]:
    facts = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{os.cpu_count()} x {_cpu_model()} (nproc {len(os.sched_getaffinity(0))})",
        "ram": f"{_ram_gb():.1f} GB",
        "python": platform.python_version(),
        "load average (1 min) at start": f"{load_average():.2f}",
    }
    if postgres:
        facts["postgresql"] = postgres_version()
    if redis:
        facts["redis"] = redis_version()
    return facts


def print_machine(facts: Mapping[str, str]) -> None:
    for key, value in facts.items():
        print(f"  {key}: {value}")


#: A timed run waits (with ``--wait-quiet MINUTES``) for the 1-minute load average to drop below this.
QUIET_LOAD = 1.5


def add_wait_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait-quiet", type=float, default=0, metavar="MINUTES", help=f"wait for load < {QUIET_LOAD}"
    )


def begin(
    title: str, wait_quiet: float, *, wrk: bool = False, postgres: bool = False, redis: bool = False
) -> None:
    """Check the tools, wait for a quiet machine if asked, and print the title and the machine."""
    if wrk:
        require_wrk()
    if wait_quiet:
        wait_until_quiet(QUIET_LOAD, wait_quiet)
    print(title)
    print_machine(machine(postgres=postgres, redis=redis))


def wait_until_quiet(max_load: float, max_minutes: float, every: float = 180.0) -> None:
    """Wait while the 1-minute load is at or above ``max_load``, at most ``max_minutes``."""
    deadline = time.monotonic() + max_minutes * 60
    while load_average() >= max_load and time.monotonic() < deadline:
        print(f"  load {load_average():.2f} >= {max_load}: waiting", flush=True)
        time.sleep(min(every, max(1.0, deadline - time.monotonic())))
    print(f"  load average (1 min) now {load_average():.2f}")


# -- processes -------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of one process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Stop a process this benchmark started (and its own children, by process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


def spawn(command: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own process group (so that stop() ends all of it)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            list(command),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextmanager
def gunicorn(
    app: str,
    env: Mapping[str, str],
    workers: int,
    log: Path,
    ready: str = "/",
    worker_class: str = "sync",
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``gunicorn -w WORKERS APP`` on a free port of 127.0.0.1; yields its address and process.

    Yields once ``GET ready`` has answered a few times (each worker loads the app
    after it starts, which takes seconds on a busy machine).
    """
    port = free_port()
    command = [
        str(BIN / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        app,
    ]
    proc = spawn(command, env, log)
    try:
        wait_for_port(port, timeout=60)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while len(children(proc.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(4 * workers):
            wait_for_answer(url + ready, deadline)
        yield url, proc
    finally:
        stop(proc)


def wait_for_answer(url: str, deadline: float) -> None:
    while True:
        try:
            get(url)
            return
        except (OSError, urllib.error.HTTPError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 - our own 127.0.0.1
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own 127.0.0.1
        return response.status, response.read(), dict(response.headers)


# -- wrk -------------------------------------------------------------------------------------

WRK_MISSING = """wrk is not installed.  On Debian or Ubuntu:  apt-get install -y wrk
(or run `make bench`, which installs it and runs every benchmark)."""

#: Appended to every wrk script: one line of JSON with what we report.
WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, " ..
    "\"max_us\": %d, \"connect\": %d, \"read\": %d, \"write\": %d, \"status\": %d, \"timeout\": %d}\n",
    summary.requests, summary.duration, math.floor(latency:percentile(50)),
    math.floor(latency:percentile(99)), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        print(WRK_MISSING, file=sys.stderr)
        sys.exit(2)
    return path


@dataclass(frozen=True)
class Load:
    """What wrk measured."""

    requests: int
    per_second: float  # answers of any status, per second
    p50_ms: float
    p99_ms: float
    errors: int  # connection errors, timeouts and answers that are not 2xx/3xx
    notes: tuple[str, ...] = ()  # what the script said (``WRK_NOTE ...`` lines)

    @property
    def good_per_second(self) -> float:
        """2xx/3xx answers per second."""
        return self.per_second * (self.requests - self.errors) / self.requests if self.requests else 0.0


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 2,
    script: str = "",
    script_env: Mapping[str, str] | None = None,
    warm_up: bool = False,
) -> Load:
    """Run wrk against ``url``; ``script`` is Lua (request generation) for wrk's ``-s``.

    A run with no answer at all fails, unless it only warms the server up.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script + "\n" + WRK_REPORT)
    try:
        command = [
            require_wrk(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            lua.name,
            url,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, **(script_env or {})}, check=False
        )
    finally:
        os.unlink(lua.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    if not data["requests"] and not warm_up:
        raise RuntimeError(f"wrk got no answer from {url}")
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Load(
        requests=data["requests"],
        per_second=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
        notes=tuple(
            x.removeprefix("WRK_NOTE ") for x in done.stdout.splitlines() if x.startswith("WRK_NOTE ")
        ),
    )


def median_load(loads: Sequence[Load]) -> Load:
    """The median of several rounds, figure by figure (runs on a shared machine are noisy)."""
    return Load(
        requests=sum(x.requests for x in loads),
        per_second=statistics.median(x.per_second for x in loads),
        p50_ms=statistics.median(x.p50_ms for x in loads),
        p99_ms=statistics.median(x.p99_ms for x in loads),
        errors=max(x.errors for x in loads),
    )


# -- databases -------------------------------------------------------------------------------


def fresh_postgres_database(name: str, server: str = POSTGRES_SERVER) -> str:
    """Drop and create database ``name`` on the server; its SQLAlchemy URL."""
    if name in ("test", "postgres"):
        raise ValueError(f"refusing to drop database {name!r}")
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def migrate(database_url: str, env: Mapping[str, str]) -> None:
    """``flask --app app db upgrade``, as an operator runs it."""
    subprocess.run(
        [str(BIN / "flask"), "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env={**os.environ, **env, "DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )


#: ``:count`` active monthly members, ids 1 to ``:count``, Stripe ids ``cus_bench<n>`` and
#: ``sub_bench<n>``, two in three Arabic; their last Stripe state is from ``:then``, their period
#: ends ``:now``.
MEMBERS = (
    """INSERT INTO supporter (id, email, name, locale, stripe_customer_id, created_at, updated_at)
       SELECT n, 'member' || n || '@example.org',
              CASE WHEN n % 3 = 0 THEN 'Reader ' || n ELSE 'ليلى حداد ' || n END,
              CASE WHEN n % 3 = 0 THEN 'en' ELSE 'ar' END, 'cus_bench' || n, :then, :then
       FROM generate_series(1, :count) AS n""",
    """INSERT INTO membership (id, supporter_id, stripe_subscription_id, status, amount, currency, interval,
                               current_period_end, cancel_at_period_end, covers_fees, stripe_state_at,
                               started_at, created_at, updated_at)
       SELECT n, n, 'sub_bench' || n, 'active', (ARRAY[100, 300, 500, 1000])[1 + n % 4], 'usd', 'month',
              :now, false, false, :then, :then, :then, :then
       FROM generate_series(1, :count) AS n""",
    "SELECT setval(pg_get_serial_sequence('supporter', 'id'), :count)",
    "SELECT setval(pg_get_serial_sequence('membership', 'id'), :count)",
)


def seed(database_url: str, statements: Sequence[str], **params: Any) -> None:
    """Run ``statements`` (``INSERT ... SELECT`` over ``generate_series``) in one transaction."""
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement), params)
    engine.dispose()


def flush_redis(url: str = REDIS_URL) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


# -- the report ------------------------------------------------------------------------------


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else 0.0


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print(
            "  "
            + "  ".join(
                c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


#: A wrk script that POSTs the lines of ``BENCH_REQUESTS`` (``signature<TAB>body``) in
#: turn, each thread its share; a thread that comes to the end of its share says so
#: (``WRK_NOTE wrapped``) and starts again (duplicates, which are cheaper).
WRK_POST_LINES = r"""
local threads = 0
function setup(thread)
  thread:set("index", threads)
  threads = threads + 1
end

function init(args)
  local count = tonumber(os.getenv("BENCH_THREADS"))
  local path = os.getenv("BENCH_PATH")
  reqs, n = {}, 0
  local line_no = 0
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    if line_no % count == index then
      local tab = line:find("\t", 1, true)
      reqs[#reqs + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json; charset=utf-8",
        ["Stripe-Signature"] = line:sub(1, tab - 1),
      }, line:sub(tab + 1))
    end
    line_no = line_no + 1
  end
end

function request()
  n = n + 1
  if n == #reqs + 1 then
    io.write("WRK_NOTE wrapped\n")
  end
  return reqs[(n - 1) % #reqs + 1]
end
"""


def wrk_post_lines(
    url: str,
    path: str,
    lines: Path,
    *,
    connections: int,
    seconds: float,
    threads: int = 2,
    warm_up: bool = False,
) -> Load:
    """POST the ``signature<TAB>body`` lines of ``lines`` in turn to ``url + path`` for ``seconds``."""
    return wrk(
        url,
        connections=connections,
        seconds=seconds,
        threads=threads,
        script=WRK_POST_LINES,
        script_env={"BENCH_THREADS": str(threads), "BENCH_PATH": path, "BENCH_REQUESTS": str(lines)},
        warm_up=warm_up,
    )
