"""The tab's cache: one read per run and period, shared by concurrent viewers; failures kept as long."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_dbx_async.workflow._ui_run import RunCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cache(seconds: float = 15.0, entries: int = 256) -> tuple[RunCache[str], Clock]:
    cache: RunCache[str] = RunCache(seconds, entries)
    clock = Clock()
    cache.clock = clock
    return cache, clock


@pytest.mark.asyncio
async def test_concurrent_viewers_share_one_read_until_it_expires() -> None:
    cache, clock = _cache()
    reads: list[str] = []
    release = asyncio.Event()

    async def load() -> str:
        reads.append("read")
        await release.wait()
        return f"answer {len(reads)}"

    viewers = [asyncio.create_task(cache.get("run 1", load)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*viewers) == ["answer 1"] * 5
    assert await cache.get("run 1", load) == "answer 1"
    assert await cache.get("run 2", load) == "answer 2"  # another run, another read
    clock.now += 15.1
    assert await cache.get("run 1", load) == "answer 3"
    assert len(reads) == 3


@pytest.mark.asyncio
async def test_a_failure_is_kept_as_long_as_an_answer() -> None:
    cache, clock = _cache()
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        raise RuntimeError(f"workspace down ({calls})")

    for _ in range(3):
        with pytest.raises(RuntimeError, match=r"\(1\)"):
            await cache.get("run", load)
    clock.now += 16
    with pytest.raises(RuntimeError, match=r"\(2\)"):
        await cache.get("run", load)


@pytest.mark.asyncio
async def test_a_cancelled_read_does_not_leave_its_waiters_hanging() -> None:
    cache, _ = _cache()
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    first = asyncio.create_task(cache.get("run", slow))
    await started.wait()
    second = asyncio.create_task(cache.get("run", slow))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(second, timeout=5)

    async def fast() -> str:
        return "read again"

    assert await cache.get("run", fast) == "read again"


@pytest.mark.asyncio
async def test_the_cache_holds_a_bounded_number_of_runs() -> None:
    cache, _ = _cache(entries=3)
    reads: list[int] = []

    def load(run: int) -> Any:
        async def read() -> str:
            reads.append(run)
            return f"run {run}"

        return read

    for run in range(10):
        await cache.get(run, load(run))
    assert await cache.get(9, load(9)) == "run 9"  # among the last three: kept
    assert await cache.get(0, load(0)) == "run 0"  # the oldest: dropped, read again
    assert reads == [*range(10), 0]
