"""The workspace request gate: a rate ceiling, and the server's Retry-After held for every request."""

from __future__ import annotations

import asyncio
import logging

import pytest

from airflow_dbx_async.client._ratelimit import (
    MAX_HOLD_SECONDS,
    HoldPastDeadline,
    RateLimiter,
    deadline_scope,
    through_hold,
)
from airflow_dbx_async.client.errors import ConfigurationError
from tests.fake_time import FakeTime


def _limiter(time: FakeTime, rate: float | None = 10, burst: int | None = 2) -> RateLimiter:
    return RateLimiter(rate, burst=burst, clock=time.clock, sleep=time.sleep)


def test_rate_limiter_rejects_non_positive_rate() -> None:
    with pytest.raises(ConfigurationError, match="max_requests_per_second"):
        RateLimiter(0)


@pytest.mark.asyncio
async def test_rate_limiter_holds_the_ceiling() -> None:
    time = FakeTime()
    limiter = _limiter(time)
    for _ in range(12):
        await limiter.acquire()
    # 2 requests from the burst, then 10 more at 10/s: one simulated second in total.
    assert time.now == pytest.approx(1.0)
    assert limiter.waited_seconds == pytest.approx(1.0)


@pytest.mark.asyncio
async def test_retry_after_holds_every_request_until_then(caplog: pytest.LogCaptureFixture) -> None:
    time = FakeTime()
    limiter = _limiter(time, rate=None)
    sent: list[float] = []

    async def request() -> None:
        await limiter.acquire()
        sent.append(time.now)

    with caplog.at_level(logging.WARNING, logger="airflow_dbx_async.client._ratelimit"):
        limiter.hold(30, "429 on GET /api/2.2/jobs/runs/list")
        limiter.hold(10, "429 on GET /api/2.2/jobs/runs/get")  # shorter: changes nothing
        await asyncio.gather(*(request() for _ in range(5)))
    assert sent == [pytest.approx(30.0)] * 5
    assert not limiter.holding
    assert len(caplog.records) == 1
    assert "holding every request to this workspace for 30 s" in caplog.records[0].getMessage()


@pytest.mark.asyncio
async def test_one_log_line_per_back_off_episode(caplog: pytest.LogCaptureFixture) -> None:
    time = FakeTime()
    limiter = _limiter(time, rate=None)
    with caplog.at_level(logging.WARNING, logger="airflow_dbx_async.client._ratelimit"):
        for _ in range(20):  # many polls answered 429 during one episode
            limiter.hold(30, "429 on GET /api/2.2/jobs/runs/get")
            time.now += 1
        await limiter.acquire()  # the episode ends 30 s after the last answer
        assert time.now == pytest.approx(49.0)
        limiter.hold(5, "503 on GET /api/2.2/jobs/runs/list")  # a new episode
    assert limiter.hold_episodes == 2
    assert len(caplog.records) == 2


def test_a_hold_is_capped() -> None:
    time = FakeTime()
    limiter = _limiter(time)
    limiter.hold(10**9, "429 on GET /api/2.2/jobs/runs/list")
    time.now = MAX_HOLD_SECONDS - 1
    assert limiter.holding
    time.now = MAX_HOLD_SECONDS
    assert not limiter.holding


@pytest.mark.asyncio
async def test_a_deadline_beats_a_hold() -> None:
    time = FakeTime()
    limiter = _limiter(time, rate=None)
    limiter.hold(10**6, "429 on GET /api/2.2/jobs/runs/get")  # capped at 600 s
    with deadline_scope(lambda: 30.0 - time.now), pytest.raises(HoldPastDeadline, match="570 s more"):
        await limiter.acquire()
    assert time.now == pytest.approx(30.0)  # waited until the deadline, no longer
    assert limiter.holding  # the hold stays in force for every other request
    await limiter.acquire()  # outside the scope: the hold is waited out
    assert time.now == pytest.approx(MAX_HOLD_SECONDS)


@pytest.mark.asyncio
async def test_a_request_through_the_hold_is_sent_at_once_under_the_rate_ceiling() -> None:
    time = FakeTime()
    limiter = _limiter(time, rate=10, burst=1)
    limiter.hold(300, "429 on GET /api/2.2/jobs/runs/get")
    with through_hold():
        await limiter.acquire()
        await limiter.acquire()  # the ceiling still applies: 0.1 s later
    assert time.now == pytest.approx(0.1)
    assert limiter.holding
    with deadline_scope(lambda: 50.0 - time.now), pytest.raises(HoldPastDeadline):
        await limiter.acquire()  # outside through_hold(), held again
    assert time.now == pytest.approx(50.0)


@pytest.mark.asyncio
async def test_concurrent_waiters_go_in_arrival_order_each_sleeping_once() -> None:
    """A queue costs one timer per waiter: turns are reserved on arrival, none is handed down a lock."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the clock stands still: all twelve arrive at once
        slept.append(seconds)
        await asyncio.sleep(0)

    limiter = RateLimiter(10, burst=2, clock=lambda: 0.0, sleep=sleep)
    sent: list[int] = []

    async def request(i: int) -> None:
        await limiter.acquire()
        sent.append(i)

    await asyncio.gather(*(request(i) for i in range(12)))
    assert sent == list(range(12))
    # Two from the burst at once; each later one sleeps once, until its own turn at 10/s.
    assert slept == pytest.approx([k / 10 for k in range(1, 11)])


@pytest.mark.asyncio
async def test_a_cancelled_waiter_gives_its_turn_back() -> None:
    time = FakeTime()
    limiter = _limiter(time, rate=10, burst=1)
    await limiter.acquire()  # the burst
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await limiter.acquire()
    assert time.now == pytest.approx(0.1)  # the next request waits one turn, not two
