"""A client-side request gate for one workspace: a rate ceiling and the server's ``Retry-After``.

Thousands of triggers share one workspace's API quota. A token bucket per workspace and event loop
keeps the sum of their requests under a configurable rate, so a busy triggerer slows itself down
instead of collecting 429 answers from Databricks. When Databricks answers 429 or 503 with a
``Retry-After`` anyway, the gate holds every request of the workspace (the shared sweep and each
trigger's own ``runs/get`` alike) until then, and says so in one log line per back-off episode.

Two scopes, set by the caller around its requests (context variables: they follow the caller's task,
not the shared sweep's), bend the hold for one caller only:

- :func:`deadline_scope`: a task's deadline beats the hold. A request that would still be held when
  the caller's time runs out waits only until then and raises :class:`HoldPastDeadline`.
- :func:`through_hold`: the request passes a hold (the rate ceiling still applies). For a trigger's
  cancel at its deadline: one request, for a run the task owns, that ends work instead of adding it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from airflow_dbx_async.client.errors import ConfigurationError, DatabricksError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

__all__ = ("HoldPastDeadline", "RateLimiter", "deadline_scope", "through_hold")

log = logging.getLogger(__name__)

MAX_HOLD_SECONDS = 600.0
"""The longest pause one ``Retry-After`` can impose: a broken header must not stall polling for hours."""

_TIME_LEFT: ContextVar[Callable[[], float] | None] = ContextVar("databricks_time_left", default=None)
_THROUGH_HOLD: ContextVar[bool] = ContextVar("databricks_through_hold", default=False)


class HoldPastDeadline(DatabricksError):
    """The workspace is held (``Retry-After``) beyond the deadline of the request's caller; not retried.

    :param held_seconds: how much longer the hold lasts.
    """

    def __init__(self, held_seconds: float) -> None:
        super().__init__(held_seconds)
        self.held_seconds = held_seconds

    def __str__(self) -> str:
        return f"the workspace is held by Retry-After for {self.held_seconds:.0f} s more, past the deadline"


@contextmanager
def deadline_scope(time_left: Callable[[], float]) -> Iterator[None]:
    """Requests sent in this context wait out a hold only while ``time_left()`` is positive.

    Then they raise :class:`HoldPastDeadline` instead of waiting on (see the module docstring).
    """
    reset = _TIME_LEFT.set(time_left)
    try:
        yield
    finally:
        _TIME_LEFT.reset(reset)


@contextmanager
def through_hold() -> Iterator[None]:
    """Requests sent in this context are not held by ``Retry-After`` (the rate ceiling still applies)."""
    reset = _THROUGH_HOLD.set(True)
    try:
        yield
    finally:
        _THROUGH_HOLD.reset(reset)


class RateLimiter:
    """Token bucket: at most ``rate`` requests per second on average, bursts up to ``burst``.

    :param rate: sustained requests per second (must be positive), or ``None`` for no ceiling; the
        ``Retry-After`` hold applies either way.
    :param burst: how many requests may go at once after a quiet period.
    :param clock: monotonic clock in seconds, injectable for tests.
    :param sleep: the sleep function, default :func:`asyncio.sleep` (inject a fake one in tests).
    """

    def __init__(
        self,
        rate: float | None,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ):
        if rate is not None and rate <= 0:
            raise ConfigurationError("max_requests_per_second", f"must be positive, got {rate!r}")
        self.rate = float(rate) if rate is not None else None
        self.burst = max(1, burst if burst is not None else int(rate or 1))
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._stamp = clock()
        self._hold_until = float("-inf")
        self.waited_seconds = 0.0
        self.hold_episodes = 0

    def _refill(self) -> None:
        now = self._clock()
        if self.rate is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def hold(self, seconds: float, cause: str) -> None:
        """Let no request through for ``seconds`` (at most :data:`MAX_HOLD_SECONDS`), as the server asked.

        A hold that starts while none is in force opens a back-off episode and logs one line; holds
        asked for during an episode only extend it, silently.
        """
        now = self._clock()
        until = now + min(max(0.0, seconds), MAX_HOLD_SECONDS)
        if until <= self._hold_until:
            return
        if self._hold_until <= now:
            self.hold_episodes += 1
            log.warning(
                "Databricks asked to slow down (%s): holding every request to this workspace for %.0f s",
                cause,
                until - now,
            )
        self._hold_until = until

    @property
    def holding(self) -> bool:
        """True while a ``Retry-After`` hold is in force."""
        return self._hold_until > self._clock()

    async def acquire(self) -> None:
        """Wait until one request may be sent. Waiters are served in arrival order.

        Each waiter reserves its turn on arrival (the bucket goes into debt) and sleeps once until then,
        so a queue of a thousand requests costs a thousand timers, not a lock handed down a thousand
        times. A hold is waited out by each waiter for itself, before its turn and again after it if
        one began meanwhile: a waiter with a deadline (:func:`deadline_scope`) must not sit behind
        others sleeping out a long hold.
        """
        through, time_left = _THROUGH_HOLD.get(), _TIME_LEFT.get()
        if not through:
            await self._wait_out_hold(time_left)
        if self.rate is not None:
            self._refill()
            self._tokens -= 1.0
            if self._tokens < 0.0:
                delay = -self._tokens / self.rate
                self.waited_seconds += delay
                try:
                    await self._sleep(delay)
                except BaseException:
                    self._tokens += 1.0  # the turn is given back: a cancelled request sends nothing
                    raise
        if not through and self.holding:  # a hold began while this request waited for its turn
            await self._wait_out_hold(time_left)

    async def _wait_out_hold(self, time_left: Callable[[], float] | None) -> None:
        while (pause := self._hold_until - self._clock()) > 0:
            if time_left is not None:
                left = time_left()
                if left <= 0:
                    raise HoldPastDeadline(pause)
                pause = min(pause, left)
            self.waited_seconds += pause
            await self._sleep(pause)
