"""How fast the gateway may call Stripe, and how it waits after Stripe says "too many" (429).

Stripe limits requests per account; the gateway spaces its calls
(``STRIPE_MAX_REQUESTS_PER_SECOND``) and, on a 429, holds every call of the
process for a backoff with jitter before trying again.
"""

from __future__ import annotations

import random
import threading
import time

import stripe

#: On 429: tries in all, first wait and longest wait (seconds), with jitter.
RATE_LIMIT_TRIES = 5
RATE_LIMIT_BASE_DELAY = 0.5
RATE_LIMIT_MAX_DELAY = 8.0


class RateLimited(Exception):
    """Stripe answered 429: the caller waits and tries again."""

    def __init__(self, error: stripe.RateLimitError) -> None:
        super().__init__(str(error))
        self.error = error


class Pacer:
    """Spaces calls at least ``1/rate`` seconds apart across threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)

    def hold(self, seconds: float) -> None:
        """No call starts for ``seconds`` (after a 429), in any thread."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


def backoff(attempt: int) -> float:
    """Seconds to hold every call after the ``attempt``-th 429 in a row (0-based), with jitter."""
    return min(RATE_LIMIT_BASE_DELAY * 2**attempt, RATE_LIMIT_MAX_DELAY) * random.uniform(0.5, 1.0)
