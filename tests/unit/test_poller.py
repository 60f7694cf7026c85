"""The batched poller: active and completed passes in the watched runs' window, bounded by runs/get's cost."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from airflow_dbx_async.client._poller import ListQuery, PassCost, RunPoller, RunWatch
from airflow_dbx_async.client.errors import ServerError
from airflow_dbx_async.client.models import LifeCycleState, Run, RunsPage, RunState
from tests.fake_time import FakeTime

_ENDED = {LifeCycleState.TERMINATED, LifeCycleState.SKIPPED, LifeCycleState.INTERNAL_ERROR}


def _run(run_id: int, lcs: str = "RUNNING", start: int = 0) -> Run:
    return Run(run_id=run_id, state=RunState(LifeCycleState(lcs)), start_time=start or run_id)


class FakeList:
    """runs/list over a set of runs: newest first, filtered like the API, ``per_page`` runs per page."""

    def __init__(
        self, runs: list[Run], per_page: int = 25, time: FakeTime | None = None, page_seconds: float = 0.0
    ) -> None:
        self.runs = runs
        self.per_page = per_page
        self.calls: list[tuple[ListQuery, str | None]] = []
        self.fail = False
        self.time = time  # when set, the simulated time of every call is kept in ``stamps``
        self.page_seconds = page_seconds
        self.stamps: list[float] = []

    def finish(self, *run_ids: int) -> None:
        ended = RunState(LifeCycleState.TERMINATED)
        self.runs = [replace(r, state=ended) if r.run_id in run_ids else r for r in self.runs]

    def _keep(self, query: ListQuery, run: Run) -> bool:
        ended = run.state.life_cycle_state in _ENDED
        if (query.active_only and ended) or (query.completed_only and not ended):
            return False
        low, high = query.start_time_from, query.start_time_to
        return (low is None or run.start_time >= low) and (high is None or run.start_time <= high)

    async def __call__(self, query: ListQuery, token: str | None) -> RunsPage:
        self.calls.append((query, token))
        if self.time is not None:
            self.stamps.append(self.time.now)
            await self.time.sleep(self.page_seconds)
        if self.fail:
            raise ServerError(503, "TEMPORARILY_UNAVAILABLE", "try later")
        listed = sorted((r for r in self.runs if self._keep(query, r)), key=lambda r: -r.start_time)
        offset = int(token or 0)
        more = offset + self.per_page < len(listed)
        return RunsPage(
            runs=tuple(listed[offset : offset + self.per_page]),
            next_page_token=str(offset + self.per_page) if more else "",
        )


def _poller(listing: FakeList, time: FakeTime | None = None, gap: float = 0.0) -> RunPoller:
    time = time or FakeTime()
    return RunPoller(listing, min_sweep_gap=gap, clock=time.clock, sleep=time.sleep)


async def _observe_all(watches: list[RunWatch], delay: float = 0.0) -> list[Run | None]:
    return list(await asyncio.gather(*(w.observe(delay, 60.0) for w in watches)))


async def _observe_all_at(watches: list[RunWatch], delays: tuple[float, ...]) -> list[Run | None]:
    return list(await asyncio.gather(*(w.observe(d, 60.0) for w, d in zip(watches, delays, strict=True))))


async def _close(poller: RunPoller, watches: list[RunWatch]) -> None:
    for watch in watches:
        watch.close()
    await poller.aclose()


@pytest.mark.asyncio
async def test_one_sweep_serves_every_watch() -> None:
    listing = FakeList([_run(i) for i in range(1, 101)])
    poller = _poller(listing)
    watches = [poller.watch(i) for i in range(1, 101)]
    results = await _observe_all(watches)
    assert sorted(r.run_id for r in results if r is not None) == list(range(1, 101))
    assert poller.sweeps == 1
    assert listing.calls[0] == (ListQuery(), None)  # new watches: the top of the list
    assert len(listing.calls) == 4  # 100 runs, 25 per page
    listing.calls.clear()
    assert all(await _observe_all(watches))
    assert listing.calls[0] == (ListQuery(active_only=True, start_time_from=1, start_time_to=100), None)
    assert len(listing.calls) == 4
    await _close(poller, watches)


@pytest.mark.asyncio
async def test_ended_runs_get_their_final_state_from_the_completed_pass_of_their_window() -> None:
    listing = FakeList([_run(i, start=1000 + i) for i in range(1, 51)])
    poller = _poller(listing)
    watches = [poller.watch(i) for i in range(1, 51)]
    await _observe_all(watches)  # learns every start time
    listing.finish(10, 11, 12)
    listing.calls.clear()
    results = await _observe_all(watches)
    ended = {
        r.run_id: r.state.life_cycle_state for r in results if r is not None and r.run_id in (10, 11, 12)
    }
    assert ended == dict.fromkeys((10, 11, 12), LifeCycleState.TERMINATED)
    assert all(r is not None for r in results)
    active, completed = listing.calls[0][0], listing.calls[-1][0]
    assert (active.active_only, active.start_time_from, active.start_time_to) == (True, 1001, 1050)
    assert (completed.completed_only, completed.start_time_from, completed.start_time_to) == (
        True,
        1010,
        1012,
    )
    assert len(listing.calls) == 3  # 47 active runs on two pages, the three ended ones on one
    await _close(poller, watches)


@pytest.mark.asyncio
async def test_foreign_runs_outside_the_watched_window_cost_nothing() -> None:
    watched = [_run(i, start=100 + i) for i in range(1, 11)]
    foreign = [_run(1000 + i, "TERMINATED" if i % 10 else "RUNNING", start=500 + i) for i in range(5000)]
    listing = FakeList(watched + foreign)
    poller = _poller(listing)
    watches = [poller.watch(i) for i in range(1, 11)]
    assert await _observe_all(watches) == [None] * 10  # start unknown, under 500 active foreign runs
    assert len(listing.calls) == 10  # never more pages than the ten runs/get it stands for
    for watch, run in zip(watches, watched, strict=True):
        watch.saw(run)  # what the callers' runs/get tell them
    listing.calls.clear()
    results = await _observe_all(watches)
    assert sorted(r.run_id for r in results if r is not None) == list(range(1, 11))
    assert len(listing.calls) == 1  # the window of the ten watched runs excludes every foreign run
    await _close(poller, watches)


@pytest.mark.asyncio
async def test_a_pass_never_fetches_more_pages_than_the_watches_it_answers() -> None:
    foreign = [_run(1000 + i, start=500 + i) for i in range(500)]  # active and newer than the watched run
    listing = FakeList([_run(1, start=100), *foreign])
    poller = _poller(listing)
    watch = poller.watch(1)
    assert await watch.observe(0.0, 60.0) is None  # start unknown: one page, then runs/get is cheaper
    assert len(listing.calls) == 1
    watch.saw(_run(1, start=100))  # what the caller's runs/get tells it
    listing.calls.clear()
    run = await watch.observe(0.0, 60.0)
    assert run is not None
    assert run.run_id == 1
    assert listing.calls == [(ListQuery(active_only=True, start_time_from=100, start_time_to=100), None)]
    await _close(poller, [watch])


def test_a_pass_dearer_than_runs_get_sits_out_then_is_measured_again() -> None:
    cost = PassCost()
    assert cost.worth_trying()
    cost.learn(pages=6, answered=3)
    skipped = 0
    while not cost.worth_trying():
        skipped += 1
    assert skipped == 8
    cost.learn(pages=1, answered=3)
    assert cost.worth_trying()


@pytest.mark.asyncio
async def test_watch_whose_run_is_missing_everywhere_is_left_to_runs_get() -> None:
    listing = FakeList([_run(i, start=100 + i) for i in range(1, 30)])
    poller = _poller(listing)
    lost, present = poller.watch(5000), poller.watch(3)
    lost_result, present_result = await _observe_all([lost, present])
    assert lost_result is None
    assert present_result is not None
    assert present_result.run_id == 3
    lost.saw(_run(5000, start=110))  # known now, but absent from both the active and the completed list
    assert (await _observe_all([lost]))[0] is None
    await _close(poller, [lost, present])


@pytest.mark.asyncio
async def test_failed_sweep_releases_waiters_for_fallback() -> None:
    listing = FakeList([_run(1)])
    listing.fail = True
    poller = _poller(listing)
    watch = poller.watch(1)
    assert await watch.observe(0.0, 60.0) is None
    listing.fail = False
    observed = await watch.observe(0.0, 60.0)
    assert observed is not None
    assert observed.state.life_cycle_state is LifeCycleState.RUNNING
    await _close(poller, [watch])


@pytest.mark.asyncio
async def test_sweep_task_ends_when_the_last_watch_closes() -> None:
    listing = FakeList([_run(1)])
    poller = _poller(listing)
    watch = poller.watch(1)
    await watch.observe(0.0, 60.0)
    task = poller._task
    assert task is not None
    watch.close()
    await task
    assert poller.watch_count == 0
    await poller.aclose()


@pytest.mark.asyncio
async def test_watch_is_served_when_it_asked_not_later() -> None:
    time = FakeTime()
    listing = FakeList([_run(1)])
    poller = _poller(listing, time, gap=1.0)
    watch = poller.watch(1)
    first = await watch.observe(0.2, 60.0)
    assert first is not None
    assert time.now == pytest.approx(0.2)
    assert await watch.observe(0.1, 60.0) is not None
    assert time.now == pytest.approx(1.2)  # the sweep gap, not the shorter delay, set the second one
    await _close(poller, [watch])


@pytest.mark.asyncio
async def test_a_sweep_serves_the_watches_due_soon_and_leaves_the_others_to_their_time() -> None:
    time = FakeTime()
    listing = FakeList([_run(1), _run(2), _run(3)], time=time)
    poller = _poller(listing, time)
    watches = [poller.watch(i) for i in (1, 2, 3)]
    # due at 4.0, 4.8 (within a quarter of its 4.8 s delay) and 30.0
    results = await _observe_all_at(watches, (4.0, 4.8, 30.0))
    assert [r.run_id for r in results if r is not None] == [1, 2, 3]
    assert listing.stamps == [pytest.approx(4.0), pytest.approx(30.0)]
    await _close(poller, watches)


@pytest.mark.asyncio
async def test_missed_sweeps_are_reported_at_most_once_per_fallback_gap() -> None:
    time = FakeTime()
    listing = FakeList([_run(1, "PENDING", start=100)])  # not running yet: never assumed unchanged
    poller = _poller(listing, time)
    watch = poller.watch(1, fallback_gap=10.0)
    assert await watch.observe(1.0, 60.0) is not None  # answered at t = 1
    listing.runs = []  # hidden from every list from now on
    assert await watch.observe(1.0, 60.0) is None
    assert time.now == pytest.approx(11.0)  # the quick check at t = 2 was not handed to runs/get
    await _close(poller, [watch])


@pytest.mark.asyncio
async def test_without_a_fallback_gap_a_missed_sweep_is_reported_at_once() -> None:
    time = FakeTime()
    listing = FakeList([_run(1, start=100)])
    poller = _poller(listing, time)
    watch = poller.watch(1)
    assert await watch.observe(1.0, 60.0) is not None
    listing.runs = []
    assert await watch.observe(1.0, 60.0) is None
    assert time.now == pytest.approx(2.0)
    await _close(poller, [watch])


@pytest.mark.asyncio
async def test_a_sweep_starts_early_by_the_last_sweeps_length() -> None:
    time = FakeTime()
    listing = FakeList([_run(1)], time=time, page_seconds=3.0)
    poller = _poller(listing, time)
    watch = poller.watch(1)
    assert await watch.observe(0.0, 60.0) is not None  # one page: 3 s
    assert time.now == pytest.approx(3.0)
    assert await watch.observe(10.0, 60.0) is not None
    assert listing.stamps == [0.0, pytest.approx(10.0)]  # due at 13, started 3 s early
    assert time.now == pytest.approx(13.0)
    await _close(poller, [watch])


@pytest.mark.asyncio
async def test_due_watches_far_apart_get_windows_of_their_own() -> None:
    time = FakeTime()
    listing = FakeList([_run(i) for i in range(1, 101)], time=time)
    poller = _poller(listing, time)
    watches = [poller.watch(i) for i in range(1, 101)]
    await _observe_all(watches)  # learns every start time
    listing.calls.clear()
    delays = tuple(1.0 if w.run_id in (1, 100) else 30.0 for w in watches)
    results = await _observe_all_at(watches, delays)
    assert all(results)
    first_sweep = [query for query, _ in listing.calls[:2]]
    # 98 watched runs that are not due lie between the two that are: two one-page windows, not four pages
    assert first_sweep == [
        ListQuery(active_only=True, start_time_from=1, start_time_to=1),
        ListQuery(active_only=True, start_time_from=100, start_time_to=100),
    ]
    await _close(poller, watches)


@pytest.mark.asyncio
async def test_a_watch_waits_for_a_sweep_still_reading_pages_past_its_grace() -> None:
    time = FakeTime()  # stands still: the sweep read its last page "just now"
    listing = FakeList([_run(i) for i in range(1, 76)])
    release = asyncio.Event()
    poller = _poller(listing, time)

    async def slow_second_page(query: ListQuery, token: str | None) -> RunsPage:
        if token is not None:
            await release.wait()
        return await listing(query, token)

    poller._list_page = slow_second_page
    watches = [poller.watch(i) for i in (1, 2, 3)]  # the oldest runs: on the third page
    observed = asyncio.ensure_future(asyncio.gather(*(w.observe(0.0, 0.01) for w in watches)))
    done, _ = await asyncio.wait((observed,), timeout=0.2)  # many graces pass, no runs/get asked for
    assert not done
    release.set()
    runs = await observed
    assert [r.run_id for r in runs if r is not None] == [1, 2, 3]
    await _close(poller, watches)


@pytest.mark.asyncio
async def test_the_completed_pass_skips_the_runs_it_already_saw_ended() -> None:
    listing = FakeList([_run(i) for i in range(1, 101)])
    poller = _poller(listing)
    watches = {i: poller.watch(i) for i in range(1, 101)}
    await _observe_all(list(watches.values()))  # learns every start time
    listing.finish(*range(2, 100))
    await _observe_all(list(watches.values()))  # 98 ended runs seen in the completed pass
    for i in range(2, 100):
        watches.pop(i).close()  # their triggers are done
    listing.finish(1, 100)
    listing.calls.clear()
    results = await _observe_all(list(watches.values()))
    assert [r.state.life_cycle_state for r in results if r is not None] == [LifeCycleState.TERMINATED] * 2
    completed = [query for query, _ in listing.calls if query.completed_only]
    # not the 100 completed runs between them again (four pages): one page around each
    assert completed == [
        ListQuery(completed_only=True, start_time_from=1, start_time_to=1),
        ListQuery(completed_only=True, start_time_from=100, start_time_to=100),
    ]
    await _close(poller, list(watches.values()))


@pytest.mark.asyncio
async def test_runs_last_seen_running_are_checked_with_a_page_of_completed_runs() -> None:
    time = FakeTime()
    listing = FakeList([_run(i) for i in range(1, 101)], time=time)
    poller = _poller(listing, time)
    watches = [poller.watch(i, fallback_gap=30.0) for i in range(1, 101)]
    assert all(await _observe_all(watches, 1.0))  # the top pass: 4 pages
    listing.calls.clear()
    quick = await _observe_all(watches, 3.0)
    # Nothing ended: one empty page of completed runs says so for all 100, instead of 4 active pages.
    assert listing.calls == [(ListQuery(completed_only=True, start_time_from=1, start_time_to=100), None)]
    assert [r.state.life_cycle_state if r else None for r in quick] == [LifeCycleState.RUNNING] * 100
    listing.finish(7, 42)
    listing.calls.clear()
    later = await _observe_all(watches, 3.0)
    assert len(listing.calls) == 1
    ended = {
        r.run_id for r in later if r is not None and r.state.life_cycle_state is LifeCycleState.TERMINATED
    }
    assert ended == {7, 42}
    assert all(r is not None for r in later)
    await _close(poller, watches)


@pytest.mark.asyncio
async def test_a_running_run_gone_from_every_list_is_found_out_within_the_gap() -> None:
    time = FakeTime()
    listing = FakeList([_run(1, start=100)], time=time)
    poller = _poller(listing, time)
    watch = poller.watch(1, fallback_gap=10.0)
    assert await watch.observe(1.0, 60.0) is not None  # listed for real at t = 1
    listing.runs = []  # deleted: no list shows it any more
    assumed = await watch.observe(1.0, 60.0)
    assert assumed is not None  # t = 2
    assert assumed.state.life_cycle_state is LifeCycleState.RUNNING
    results = [await watch.observe(3.0, 60.0) for _ in range(4)]  # t = 5, 8, then past the gap
    assert results[:2] == [assumed, assumed]
    assert None in results[2:]  # no real answer for 10 s: the caller asks runs/get
    assert time.now <= 1.0 + 10.0 + 3.0
    await _close(poller, [watch])
