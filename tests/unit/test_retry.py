from __future__ import annotations

import logging
import random

import pytest

from airflow_dbx_async.client import (
    ApiError,
    AuthError,
    ConfigurationError,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    Timeout,
    TransportError,
    is_retryable,
)
from airflow_dbx_async.client._retry import (
    backoff_delay,
    backoff_delays,
    call_with_retry,
    is_safe_to_repeat,
)
from tests.fake_time import FakeTime

_SENT = TransportError("POST", "/p", "connection reset")
_NOT_SENT = TransportError("POST", "/p", "connection refused", request_sent=False)
_TABLE = [
    # error, retryable, safe to repeat without an idempotency token
    (RateLimited(429, "REQUEST_LIMIT_EXCEEDED", "slow down"), True, True),
    (ServerError(500, "INTERNAL_ERROR", "x"), True, False),
    (ServerError(502, "BAD_GATEWAY", "x"), True, False),
    (ServerError(503, "TEMPORARILY_UNAVAILABLE", "x"), True, True),
    (ServerError(504, "DEADLINE_EXCEEDED", "x"), True, False),
    (ServerError(501, "NOT_IMPLEMENTED", "x"), False, False),
    (ServerError(505, "HTTP_505", "x"), False, False),
    (_SENT, True, False),
    (_NOT_SENT, True, True),
    (Timeout("GET", "/p", "timed out"), True, False),
    (Timeout("GET", "/p", "connect timed out", request_sent=False), True, True),
    (ApiError(400, "COULD_NOT_ACQUIRE_LOCK", "busy"), True, True),
    (ApiError(400, "INVALID_PARAMETER_VALUE", "bad"), False, False),
    (ApiError(409, "RESOURCE_CONFLICT", "x"), False, False),
    (AuthError(401, "401", "no credential"), False, False),
    (AuthError(403, "PERMISSION_DENIED", "no"), False, False),
    (NotFound(404, "NOT_FOUND", "x"), False, False),
    (ConfigurationError("job_name", "x"), False, False),
    (ValueError("x"), False, False),
    (TimeoutError(), False, False),
    (KeyboardInterrupt(), False, False),
]


@pytest.mark.parametrize(("error", "retryable", "safe"), _TABLE, ids=lambda v: repr(v)[:40])
def test_retry_predicates(error, retryable, safe):
    assert is_retryable(error) is retryable
    assert is_safe_to_repeat(error) is safe


@pytest.mark.parametrize("seed", range(20))
def test_backoff_full_jitter_bounds(seed):
    policy = RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=4.0)
    delays = list(backoff_delays(policy, random.Random(seed)))
    assert len(delays) == 7
    for n, delay in enumerate(delays):
        assert 0.0 <= delay <= min(4.0, 0.5 * 2**n)


def test_backoff_honours_retry_after_and_huge_attempt_numbers():
    policy = RetryPolicy(base_delay=1.0, max_delay=2.0)
    assert backoff_delay(policy, 0, random.Random(1), retry_after=9.0) == 9.0
    assert 0.0 <= backoff_delay(policy, 10_000, random.Random(1)) <= 2.0


def _failing(errors, result="ok"):
    calls = []

    async def attempt():
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return attempt, calls


async def _run(attempt, policy, fake, **kwargs):
    return await call_with_retry(
        attempt, policy, rng=random.Random(0), sleep=fake.sleep, clock=fake.clock, **kwargs
    )


@pytest.mark.asyncio
async def test_retries_transient_errors_then_succeeds():
    fake = FakeTime()
    attempt, calls = _failing([ServerError(500, "INTERNAL_ERROR", "x"), _SENT])
    assert await _run(attempt, RetryPolicy(max_attempts=3), fake) == "ok"
    assert len(calls) == 3
    assert len(fake.slept) == 2


@pytest.mark.asyncio
async def test_gives_up_after_max_attempts_with_the_last_error():
    fake = FakeTime()
    errors = [ServerError(500, "INTERNAL_ERROR", str(n)) for n in range(5)]
    attempt, calls = _failing(errors)
    with pytest.raises(ServerError, match="INTERNAL_ERROR: 2"):
        await _run(attempt, RetryPolicy(max_attempts=3), fake)
    assert len(calls) == 3


@pytest.mark.asyncio
async def test_does_not_retry_permanent_errors():
    fake = FakeTime()
    attempt, calls = _failing([ApiError(400, "INVALID_PARAMETER_VALUE", "bad")])
    with pytest.raises(ApiError):
        await _run(attempt, RetryPolicy(), fake)
    assert (len(calls), fake.slept) == (1, [])


@pytest.mark.asyncio
async def test_respects_the_time_budget():
    fake = FakeTime()
    errors = [RateLimited(429, "REQUEST_LIMIT_EXCEEDED", "x", retry_after=40.0) for _ in range(10)]
    attempt, calls = _failing(errors)
    with pytest.raises(RateLimited):
        await _run(attempt, RetryPolicy(max_attempts=10, budget_seconds=100.0), fake)
    assert fake.slept == [40.0, 40.0]
    assert len(calls) == 3


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (ServerError(500, "INTERNAL_ERROR", "x"), 1),
        (_SENT, 1),
        (Timeout("POST", "/p", "timed out"), 1),
        (ServerError(503, "TEMPORARILY_UNAVAILABLE", "x"), 2),
        (RateLimited(429, "REQUEST_LIMIT_EXCEEDED", "x"), 2),
        (_NOT_SENT, 2),
    ],
)
async def test_non_idempotent_calls_retry_only_safe_failures(error, attempts):
    fake = FakeTime()
    attempt, calls = _failing([error])
    if attempts == 1:
        with pytest.raises(type(error)):
            await _run(attempt, RetryPolicy(), fake, idempotent=False)
    else:
        assert await _run(attempt, RetryPolicy(), fake, idempotent=False) == "ok"
    assert len(calls) == attempts


@pytest.mark.asyncio
async def test_each_retry_is_logged_at_warning(caplog):
    fake = FakeTime()
    attempt, _ = _failing([ServerError(503, "TEMPORARILY_UNAVAILABLE", "busy")])
    with caplog.at_level(logging.WARNING, logger="airflow_dbx_async.client._retry"):
        await _run(attempt, RetryPolicy(), fake, description="GET /api/2.2/jobs/runs/get")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "GET /api/2.2/jobs/runs/get failed (attempt 1 of 3)" in record.getMessage()
    assert "TEMPORARILY_UNAVAILABLE" in record.getMessage()
