"""Which failures are worth retrying, and the backoff loop that retries them.

:func:`is_retryable` is a pure predicate over the error tree, tested as a table. The loop,
:func:`call_with_retry`, sleeps with exponential backoff and full jitter, honours the server's
``Retry-After`` and stops when the attempts or the time budget of the :class:`RetryPolicy` run out.

A request that is not idempotent (runs/submit or run-now without an ``idempotency_token``) is only
repeated when the failure proves that nothing was created: a 429, a 503, a 400 lock conflict, or a
connection that was never established. After any other failure the run may exist already, and a
second run would be worse than an error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, TypeVar

from airflow_dbx_async.client.errors import ApiError, RateLimited, ServerError, TransportError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from airflow_dbx_async.client.config import RetryPolicy

__all__ = ("backoff_delay", "backoff_delays", "call_with_retry", "is_retryable", "is_safe_to_repeat")

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_JITTER = random.Random()  # shared: seeding a new one per request reads os.urandom each time
_RETRYABLE_5XX = frozenset({500, 502, 503, 504})
_LOCK_CONFLICT = "COULD_NOT_ACQUIRE_LOCK"


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def is_retryable(exc: BaseException) -> bool:
    """True when ``exc`` is a transient failure that may succeed if the same request is sent again.

    Retryable: :class:`RateLimited`, :class:`ServerError` 500/502/503/504, any :class:`TransportError`
    (timeouts included), and a 400 ``COULD_NOT_ACQUIRE_LOCK``. Never any other 4xx.
    """
    if isinstance(exc, TransportError | RateLimited):
        return True
    if isinstance(exc, ServerError):
        return exc.status in _RETRYABLE_5XX
    if isinstance(exc, ApiError):
        return exc.status == 400 and exc.error_code == _LOCK_CONFLICT
    return False


def is_safe_to_repeat(exc: BaseException) -> bool:
    """True when ``exc`` proves the request had no effect, so even a non-idempotent one may be repeated."""
    if isinstance(exc, RateLimited):
        return True
    if isinstance(exc, ServerError):
        return exc.status == 503
    if isinstance(exc, TransportError):
        return not exc.request_sent
    if isinstance(exc, ApiError):
        return exc.status == 400 and exc.error_code == _LOCK_CONFLICT
    return False


def backoff_delay(
    policy: RetryPolicy, retry_number: int, rng: random.Random, retry_after: float | None = None
) -> float:
    """The sleep before retry ``retry_number`` (0 for the first retry).

    Full jitter: uniform in ``[0, min(max_delay, base_delay * 2**retry_number)]``. A server
    ``Retry-After`` is a lower bound: we never come back sooner than the server asked.
    """
    ceiling = min(policy.max_delay, policy.base_delay * (2 ** min(retry_number, 62)))
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def backoff_delays(policy: RetryPolicy, rng: random.Random) -> Iterator[float]:
    """The ``max_attempts - 1`` sleeps between attempts, ignoring any ``Retry-After``."""
    for retry_number in range(policy.max_attempts - 1):
        yield backoff_delay(policy, retry_number, rng)


def _retry_after(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, RateLimited | ServerError) else None


async def call_with_retry(
    attempt: Callable[[], Awaitable[_T]],
    policy: RetryPolicy,
    *,
    idempotent: bool = True,
    description: str = "Databricks request",
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[object]] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> _T:
    """Await ``attempt()`` until it succeeds, retrying transient failures within ``policy``.

    :param attempt: sends the request once.
    :param policy: attempts, delays and the total time budget.
    :param idempotent: ``False`` for requests that may create something twice (see the module doc).
    :param description: names the request in log lines, e.g. ``POST /api/2.2/jobs/runs/submit``.
    :param rng: the jitter source (inject a seeded one in tests).
    :param sleep: the sleep function, default :func:`asyncio.sleep` (inject a fake one in tests).
    :param clock: a monotonic clock for the budget.
    """
    rng = rng or _JITTER
    started = clock()
    retry_number = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            delay = _next_delay(exc, policy, retry_number, rng, idempotent, clock() - started)
            if delay is None:
                raise
            _log.warning(
                "%s failed (attempt %d of %d): %s; retrying in %.2f s",
                description,
                retry_number + 1,
                policy.max_attempts,
                exc,
                delay,
            )
        await (sleep or _sleep)(delay)
        retry_number += 1


def _next_delay(
    exc: Exception,
    policy: RetryPolicy,
    retry_number: int,
    rng: random.Random,
    idempotent: bool,
    elapsed: float,
) -> float | None:
    """The sleep before the next attempt, or ``None`` to give up and re-raise ``exc``."""
    if not is_retryable(exc) or (not idempotent and not is_safe_to_repeat(exc)):
        return None
    if retry_number + 1 >= policy.max_attempts:
        return None
    delay = backoff_delay(policy, retry_number, rng, _retry_after(exc))
    if elapsed + delay > policy.budget_seconds:
        return None
    return delay
