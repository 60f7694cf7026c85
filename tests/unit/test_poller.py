"""The batched poller: one runs/list sweep serves many watches; uncovered runs are reported as such."""

from __future__ import annotations

import asyncio

import pytest

from airflow_dbx_async.client._poller import RunPoller
from airflow_dbx_async.client._ratelimit import RateLimiter
from airflow_dbx_async.client.errors import ConfigurationError, ServerError
from airflow_dbx_async.client.models import LifeCycleState, Run, RunsPage, RunState


def _run(run_id: int, lcs: str = "RUNNING", start: int = 0) -> Run:
    return Run(run_id=run_id, state=RunState(LifeCycleState(lcs)), start_time=start or run_id)


class FakeList:
    """A runs/list over a fixed set of runs, newest first, ``per_page`` runs per page."""

    def __init__(self, runs: list[Run], per_page: int = 25) -> None:
        self.runs = sorted(runs, key=lambda r: r.start_time, reverse=True)
        self.per_page = per_page
        self.calls: list[str | None] = []
        self.fail = False

    async def __call__(self, token: str | None) -> RunsPage:
        self.calls.append(token)
        if self.fail:
            raise ServerError(503, "TEMPORARILY_UNAVAILABLE", "try later")
        offset = int(token or 0)
        chunk = self.runs[offset : offset + self.per_page]
        more = offset + self.per_page < len(self.runs)
        return RunsPage(runs=tuple(chunk), next_page_token=str(offset + self.per_page) if more else "")


@pytest.mark.asyncio
async def test_one_sweep_serves_every_watch() -> None:
    listing = FakeList([_run(i) for i in range(1, 101)])
    poller = RunPoller(listing, min_sweep_gap=0.0)
    watches = [poller.watch(i) for i in range(1, 101)]
    results = await asyncio.gather(*(w.observe(0.0, 5.0) for w in watches))
    assert [r.run_id for r in results if r is not None] == list(range(1, 101))
    assert poller.sweeps == 1
    assert len(listing.calls) == 4  # 100 runs, 25 per page
    for w in watches:
        w.close()
    await poller.aclose()


@pytest.mark.asyncio
async def test_sweep_stops_paging_once_all_watched_runs_are_seen() -> None:
    listing = FakeList([_run(i) for i in range(1, 1001)])
    poller = RunPoller(listing, min_sweep_gap=0.0)
    watch = poller.watch(990)  # near the newest end
    run = await watch.observe(0.0, 5.0)
    assert run is not None
    assert run.run_id == 990
    assert listing.calls == [None]
    watch.close()
    await poller.aclose()


@pytest.mark.asyncio
async def test_run_missing_from_the_list_is_reported_not_covered() -> None:
    listing = FakeList([_run(i) for i in range(1, 30)])
    poller = RunPoller(listing, min_sweep_gap=0.0)
    lost = poller.watch(5000)
    present = poller.watch(3)
    lost_result, present_result = await asyncio.gather(lost.observe(0.0, 5.0), present.observe(0.0, 5.0))
    assert lost_result is None
    assert present_result is not None
    assert present_result.run_id == 3
    lost.close()
    present.close()
    await poller.aclose()


@pytest.mark.asyncio
async def test_known_start_time_bounds_the_sweep() -> None:
    listing = FakeList([_run(i) for i in range(1, 201)])
    poller = RunPoller(listing, min_sweep_gap=0.0)
    watch = poller.watch(150)
    assert await watch.observe(0.0, 5.0) is not None
    listing.runs = [r for r in listing.runs if r.run_id != 150]  # the run vanishes from the list
    calls_before = len(listing.calls)
    assert await watch.observe(0.0, 5.0) is None
    # It started at 150, so the sweep stops at the first page reaching back past that start.
    assert len(listing.calls) - calls_before == 3
    watch.close()
    await poller.aclose()


@pytest.mark.asyncio
async def test_failed_sweep_releases_waiters_for_fallback() -> None:
    listing = FakeList([_run(1)])
    listing.fail = True
    poller = RunPoller(listing, min_sweep_gap=0.0)
    watch = poller.watch(1)
    assert await watch.observe(0.0, 5.0) is None
    listing.fail = False
    observed = await watch.observe(0.0, 5.0)
    assert observed is not None
    assert observed.state.life_cycle_state is LifeCycleState.RUNNING
    watch.close()
    await poller.aclose()


@pytest.mark.asyncio
async def test_sweep_task_ends_when_the_last_watch_closes() -> None:
    listing = FakeList([_run(1)])
    poller = RunPoller(listing, min_sweep_gap=0.0)
    watch = poller.watch(1)
    await watch.observe(0.0, 5.0)
    task = poller._task
    assert task is not None
    watch.close()
    await asyncio.wait_for(task, 5.0)
    assert poller.watch_count == 0
    await poller.aclose()


@pytest.mark.asyncio
async def test_watch_is_served_no_later_than_it_asked_when_idle() -> None:
    listing = FakeList([_run(1, "TERMINATED")])
    poller = RunPoller(listing, min_sweep_gap=0.0)
    watch = poller.watch(1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    run = await watch.observe(0.2, 5.0)
    assert run is not None
    assert 0.15 <= loop.time() - started < 2.0
    watch.close()
    await poller.aclose()


def test_rate_limiter_rejects_non_positive_rate() -> None:
    with pytest.raises(ConfigurationError, match="max_requests_per_second"):
        RateLimiter(0)


@pytest.mark.asyncio
async def test_rate_limiter_holds_the_ceiling() -> None:
    now = [0.0]
    limiter = RateLimiter(10, burst=2, clock=lambda: now[0])
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)
        now[0] += delay
        await real_sleep(0)

    mp = pytest.MonkeyPatch()
    mp.setattr(asyncio, "sleep", fake_sleep)
    try:
        for _ in range(12):
            await limiter.acquire()
    finally:
        mp.undo()
    # 2 requests from the burst, then 10 more at 10/s: one simulated second in total.
    assert now[0] == pytest.approx(1.0)
    assert limiter.waited_seconds == pytest.approx(1.0)


@pytest.mark.asyncio
async def test_a_sweep_serves_every_waiting_watch_before_its_due_time() -> None:
    listing = FakeList([_run(1), _run(2)])
    poller = RunPoller(listing, min_sweep_gap=0.0)
    first, second = poller.watch(1), poller.watch(2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    results = await asyncio.gather(first.observe(0.2, 5.0), second.observe(30.0, 5.0))
    assert [r.run_id for r in results if r is not None] == [1, 2]
    assert poller.sweeps == 1  # the sweep due for the first watch answered the second one too
    assert loop.time() - started < 5.0
    first.close()
    second.close()
    await poller.aclose()
