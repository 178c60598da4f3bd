"""How fast the gateway may call Stripe, and how it waits after Stripe says "too many" (429).

Stripe limits requests per *account* (about 100/s live, 25/s in a sandbox), not
per process: the web and worker processes of one deployment share one budget.
Every call takes a token from a token bucket shared by all of them
(``STRIPE_MAX_REQUESTS_PER_SECOND`` tokens a second, at most
``STRIPE_PACING_BURST`` saved up), so in any window of ``t`` seconds they start
at most ``burst + rate * t`` calls together.  On a 429 the gateway *holds* the
bucket for a backoff with jitter: no process of the deployment takes a token
until it ends.

Where the bucket lives (``STRIPE_PACING``, empty means the first that fits):

- ``redis``: a hash in Redis at ``STRIPE_PACING_URL`` (by default
  ``CELERY_BROKER_URL`` when that is ``redis://``), refilled and taken from in
  one Lua script, so it is atomic and on Redis's clock;
- ``database``: a row of ``stripe_pacing``, locked with ``SELECT ... FOR
  UPDATE`` on PostgreSQL (SQLite serialises writers itself, but a process
  that holds a write while calling Stripe would wait on its own lock: SQLite
  deployments get ``process`` unless they ask);
- ``process``: in memory, for one process (the demo).

The bucket is named by a hash of the secret key (one per Stripe account and
mode), never the key itself.  If the shared store cannot be reached the call
is paced in the process instead, and that is logged: pacing never stops a gift.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import stripe

log = logging.getLogger(__name__)

#: On 429: tries in all, first wait and longest wait (seconds), with jitter.
RATE_LIMIT_TRIES = 5
RATE_LIMIT_BASE_DELAY = 0.5
RATE_LIMIT_MAX_DELAY = 8.0
#: Longest single sleep while waiting for a token: the bucket is asked again after it.
MAX_SLEEP = 1.0
#: A bucket nobody used for this long is dropped from Redis (it refills to full anyway).
IDLE_EXPIRY_SECONDS = 3600
BACKENDS = ("redis", "database", "process")


class RateLimited(Exception):
    """Stripe answered 429: the caller waits and tries again."""

    def __init__(self, error: stripe.RateLimitError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Take:
    """A bucket's answer: ``wait`` 0 means a token was taken at ``at`` (the bucket's clock);
    otherwise ask again in ``wait`` seconds."""

    wait: float
    at: float


class Bucket(Protocol):
    def take(self) -> Take:
        """Take one token if there is one and the bucket is not held."""

    def hold(self, seconds: float) -> None:
        """No token for anyone for ``seconds`` from now (after a 429)."""


def refill(tokens: float, refilled_at: float, now: float, rate: float, burst: float) -> float:
    return min(burst, tokens + max(0.0, now - refilled_at) * rate)


def decide(tokens: float, held_until: float, now: float, rate: float) -> tuple[float, float]:
    """(tokens left, seconds to wait) for one take; the same rule as the Lua script's."""
    if now < held_until:
        return tokens, held_until - now
    if tokens >= 1.0:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / rate


class ProcessBucket:
    """The bucket in this process's memory, shared by its threads."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._lock = threading.Lock()
        self.tokens = burst
        self.refilled_at = clock()
        self.held_until = 0.0
        self.taken = 0

    def take(self) -> Take:
        with self._lock:
            now = self.clock()
            self.tokens = refill(self.tokens, self.refilled_at, now, self.rate, self.burst)
            self.refilled_at = now
            self.tokens, wait = decide(self.tokens, self.held_until, now, self.rate)
            if wait == 0.0:
                self.taken += 1
            return Take(wait, now)

    def hold(self, seconds: float) -> None:
        with self._lock:
            self.held_until = max(self.held_until, self.clock() + seconds)
            self.tokens = 0.0


#: KEYS[1] the bucket; ARGV rate, burst, hold seconds (0: take a token), expiry.
#: Returns {wait, now, taken} as strings (Redis would cut Lua floats to integers).
TAKE_SCRIPT = """
local rate, burst, hold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'tokens', 'refilled_at', 'held_until', 'taken')
local tokens = tonumber(s[1]) or burst
local refilled = tonumber(s[2]) or now
local held = tonumber(s[3]) or 0
local taken = tonumber(s[4]) or 0
if now > refilled then tokens = math.min(burst, tokens + (now - refilled) * rate) end
local wait = 0
if hold > 0 then
  held = math.max(held, now + hold)
  tokens = 0
elseif now < held then
  wait = held - now
elseif tokens >= 1 then
  tokens = tokens - 1
  taken = taken + 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
  'refilled_at', string.format('%.6f', now), 'held_until', string.format('%.6f', held), 'taken', taken)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return {string.format('%.6f', wait), string.format('%.6f', now), tostring(taken)}
"""


class RedisBucket:
    """The bucket as a Redis hash; each take or hold is one atomic script run."""

    def __init__(self, url: str, key: str, rate: float, burst: float) -> None:
        import redis

        self.key, self.rate, self.burst = key, rate, burst
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.client.register_script(TAKE_SCRIPT)

    def _run(self, hold: float) -> Take:
        wait, now, _taken = self.script(
            keys=[self.key], args=[self.rate, self.burst, hold, IDLE_EXPIRY_SECONDS]
        )
        return Take(float(wait), float(now))

    def take(self) -> Take:
        return self._run(0.0)

    def hold(self, seconds: float) -> None:
        self._run(max(seconds, 1e-6))

    def state(self) -> dict[str, float]:
        """What the bucket holds now (tokens, refilled_at, held_until, taken)."""
        raw = self.client.hgetall(self.key)
        return {k.decode(): float(v) for k, v in raw.items()}  # type: ignore[union-attr]


class DatabaseBucket:
    """The bucket as a row of ``stripe_pacing``, read and written under a row lock.

    It uses its own connection and transaction (committed at once), never the
    caller's session, so pacing neither commits nor waits for the caller's work.
    """

    def __init__(self, engine: Callable[[], Any], key: str, rate: float, burst: float) -> None:
        self.engine, self.key, self.rate, self.burst = engine, key, rate, burst

    def _run(self, hold: float) -> Take:
        import sqlalchemy as sa
        from sqlalchemy.exc import IntegrityError

        from app.models import StripePacing

        table = StripePacing.__table__
        for _ in range(3):
            try:
                with self.engine().begin() as conn:
                    return self._in_transaction(conn, table, hold, sa)
            except IntegrityError:
                continue  # another process made the row first: take from it
        raise RuntimeError("stripe_pacing row could not be made")  # pragma: no cover

    def _in_transaction(self, conn: Any, table: Any, hold: float, sa: Any) -> Take:
        postgres = conn.dialect.name == "postgresql"
        query = sa.select(table.c.tokens, table.c.refilled_at, table.c.held_until).where(
            table.c.bucket == self.key
        )
        if not postgres:
            # SQLite: write first, so this transaction holds the write lock before it reads (a
            # read then a write would fail at once, "database is locked", against another writer).
            conn.execute(table.update().where(table.c.bucket == self.key).values(bucket=table.c.bucket))
        row = conn.execute(query.with_for_update() if postgres else query).first()
        # The clock is read under the lock (a time read before it would be stale once granted),
        # the database server's where it has one: one clock for every process.
        now = (
            float(conn.scalar(sa.select(sa.func.extract("epoch", sa.func.clock_timestamp()))))
            if postgres
            else time.time()
        )
        if row is None:
            conn.execute(
                table.insert().values(
                    bucket=self.key, tokens=self.burst, refilled_at=now, held_until=0.0, taken=0
                )
            )
            tokens, held = self.burst, 0.0
        else:
            now = max(now, row.refilled_at)  # never back in time (a clock set back)
            tokens = refill(row.tokens, row.refilled_at, now, self.rate, self.burst)
            held = row.held_until
        wait = 0.0
        values: dict[str, Any] = {"refilled_at": now}
        if hold > 0:
            values.update(held_until=max(held, now + hold), tokens=0.0)
        else:
            tokens, wait = decide(tokens, held, now, self.rate)
            values["tokens"] = tokens
            if wait == 0.0:
                values["taken"] = table.c.taken + 1
        conn.execute(table.update().where(table.c.bucket == self.key).values(**values))
        return Take(wait, now)

    def take(self) -> Take:
        return self._run(0.0)

    def hold(self, seconds: float) -> None:
        self._run(max(seconds, 1e-6))


class Pacer:
    """Waits for a token before each call; ``hold`` after a 429 stops every sharer.

    A shared bucket that fails (Redis or the database unreachable) is replaced,
    for that call, by this process's own bucket: calls go on, paced locally.
    """

    def __init__(
        self,
        bucket: Bucket | None,
        fallback: Bucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket = bucket
        self.fallback = fallback
        self.sleep = sleep
        #: Without a bucket (pacing off) a 429 still holds this process's calls.
        self._held_until = 0.0

    def _ask(self, action: Callable[[Bucket], Any]) -> Any:
        assert self.bucket is not None
        try:
            return action(self.bucket)
        except Exception as exc:  # a pacing store (Redis, the database) must never stop a payment
            if self.fallback is None or self.bucket is self.fallback:
                raise
            log.warning(
                "stripe pacing: shared bucket unavailable (%s); pacing in this process", type(exc).__name__
            )
            return action(self.fallback)

    def wait(self) -> float | None:
        """Block until a token is taken; returns when, on the bucket's clock (None: no pacing)."""
        if self.bucket is None:
            while (left := self._held_until - time.monotonic()) > 0:
                self.sleep(min(left, MAX_SLEEP))
            return None
        while True:
            take: Take = self._ask(lambda bucket: bucket.take())
            if take.wait <= 0:
                return take.at
            self.sleep(min(take.wait, MAX_SLEEP))

    def hold(self, seconds: float) -> None:
        """No call starts for ``seconds``, in any process sharing the bucket."""
        if self.bucket is None:
            self._held_until = max(self._held_until, time.monotonic() + seconds)
        else:
            self._ask(lambda bucket: bucket.hold(seconds))


def backoff(attempt: int) -> float:
    """Seconds to hold every call after the ``attempt``-th 429 in a row (0-based), with jitter."""
    return min(RATE_LIMIT_BASE_DELAY * 2**attempt, RATE_LIMIT_MAX_DELAY) * random.uniform(0.5, 1.0)


def bucket_key(secret_key: str) -> str:
    """The bucket's name: a hash of the key (one per account and mode), never the key."""
    return "stripe-pacing:" + hashlib.sha256(secret_key.encode()).hexdigest()[:32]


def redis_url(config: Mapping[str, Any]) -> str:
    """``STRIPE_PACING_URL``, else Celery's broker when that is Redis, else ''."""
    url = str(config.get("STRIPE_PACING_URL") or "")
    broker = str(config.get("CELERY_BROKER_URL") or "")
    if not url and broker.startswith(("redis://", "rediss://")):
        url = broker
    return url


def backend(config: Mapping[str, Any]) -> str:
    """Where the bucket lives: ``STRIPE_PACING`` if set, else the first that fits."""
    chosen = str(config.get("STRIPE_PACING") or "")
    if chosen:
        if chosen not in BACKENDS:
            raise ValueError(f"STRIPE_PACING must be one of {', '.join(BACKENDS)}")
        return chosen
    if redis_url(config):
        return "redis"
    database = str(config.get("SQLALCHEMY_DATABASE_URI") or config.get("DATABASE_URL") or "")
    return "database" if database.startswith("postgresql") else "process"


def pacer_from_config(config: Mapping[str, Any], engine: Callable[[], Any] | None = None) -> Pacer:
    """The pacer for this deployment: no pacing when the rate is 0 (the test suite)."""
    rate = float(config.get("STRIPE_MAX_REQUESTS_PER_SECOND", 20.0))
    if rate <= 0:
        return Pacer(None)
    burst = max(1.0, float(config.get("STRIPE_PACING_BURST", 5)))
    local = ProcessBucket(rate, burst)
    where = backend(config)
    key = bucket_key(str(config.get("STRIPE_SECRET_KEY") or ""))
    if where == "redis":
        if not redis_url(config):
            raise ValueError("STRIPE_PACING=redis needs STRIPE_PACING_URL (or a redis:// CELERY_BROKER_URL)")
        return Pacer(RedisBucket(redis_url(config), key, rate, burst), fallback=local)
    if where == "database" and engine is not None:
        return Pacer(DatabaseBucket(engine, key, rate, burst), fallback=local)
    return Pacer(local)
