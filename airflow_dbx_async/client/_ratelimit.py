"""A client-side request rate ceiling for one workspace.

Thousands of triggers share one workspace's API quota. A token bucket per workspace and event loop
keeps the sum of their requests under a configurable rate, so a busy triggerer slows itself down
instead of collecting 429 answers from Databricks.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from airflow_dbx_async.client.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("RateLimiter",)


class RateLimiter:
    """Token bucket: at most ``rate`` requests per second on average, bursts up to ``burst``.

    :param rate: sustained requests per second (must be positive).
    :param burst: how many requests may go at once after a quiet period.
    :param clock: monotonic clock in seconds, injectable for tests.
    """

    def __init__(self, rate: float, burst: int | None = None, *, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ConfigurationError("max_requests_per_second", f"must be positive, got {rate!r}")
        self.rate = float(rate)
        self.burst = max(1, burst if burst is not None else int(rate))
        self._clock = clock
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        """Wait until one request may be sent. Waiters are served in arrival order."""
        async with self._lock:
            self._refill()
            if self._tokens < 1.0:
                delay = (1.0 - self._tokens) / self.rate
                self.waited_seconds += delay
                await asyncio.sleep(delay)
                self._refill()
            self._tokens -= 1.0
