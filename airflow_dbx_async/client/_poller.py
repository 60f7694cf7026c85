"""Batched run polling: one ``runs/list`` sweep answers many triggers at once.

A triggerer may hold thousands of deferred Databricks tasks against one workspace. Polling each run
with its own ``runs/get`` costs one request per run per poll. Instead, every trigger of a workspace
registers a :class:`RunWatch` with the workspace's :class:`RunPoller`; when any watch wants news, the
poller pages through ``runs/list`` (newest first, 25 runs per page) until it has seen every watched
run, and hands each watch the run it saw. Finished runs show their final state in the same list, so
a successful run costs no extra request at all.

The poller is only an accelerator. A watch whose run was not covered by a sweep (paging limit,
a run hidden from the list, a failed sweep) is told so at once, and the caller falls back to its own
``runs/get``. A trigger alone in a fresh triggerer therefore behaves exactly as with many.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable

from airflow_dbx_async.client.models import Run, RunsPage

__all__ = ("ListPage", "RunPoller", "RunWatch")

log = logging.getLogger(__name__)

ListPage = Callable[[str | None], Awaitable[RunsPage]]
"""Fetch one ``runs/list`` page (newest first) given the previous page's token."""

_MISSED = object()


class RunWatch:
    """One trigger's interest in one run; created by :meth:`RunPoller.watch`."""

    # Thousands of these live in one triggerer: slots, and one bare future per wait, no Event.
    __slots__ = ("_due", "_poller", "_waiter", "closed", "run_id", "start_time")

    def __init__(self, poller: RunPoller, run_id: int) -> None:
        self.run_id = run_id
        self.start_time = 0
        self._poller = poller
        self._due: float | None = None
        self._waiter: asyncio.Future[object] | None = None
        self.closed = False

    async def observe(self, delay: float, grace: float) -> Run | None:
        """Ask for a sweep within ``delay`` seconds and return the run it saw.

        Returns ``None`` when the sweep did not cover this run, failed, or did not finish within
        ``delay + grace`` seconds: the caller should then ask ``runs/get`` itself.
        """
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        now, delay = self._poller.clock(), max(0.0, delay)
        # Any sweep before the due time answers this watch too: sweeps are shared by every waiting
        # watch (a sweep costs the same however many it serves), and no check comes later than asked.
        self._poller._schedule(self, now + delay)
        try:
            async with asyncio.timeout(delay + grace):  # no extra task per waiting watch
                result = await waiter
        except TimeoutError:
            self._due = None
            return None
        finally:
            self._waiter = None
        return result if isinstance(result, Run) else None

    def _note(self, result: object) -> None:
        if isinstance(result, Run) and result.start_time:
            self.start_time = result.start_time

    def _deliver(self, result: object) -> None:
        self._note(result)
        waiter = self._waiter
        if self._due is not None and waiter is not None and not waiter.done():
            self._due = None
            waiter.set_result(result)

    def close(self) -> None:
        """Stop watching; idempotent."""
        if not self.closed:
            self.closed = True
            self._poller._unwatch(self)


class RunPoller:
    """Sweeps ``runs/list`` for the watched runs of one workspace on one event loop.

    :param list_page: fetches one page of ``runs/list``.
    :param min_sweep_gap: seconds between the starts of two sweeps, at least.
    :param max_pages: pages per sweep at most; runs beyond are reported as not covered.
    :param clock: monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        list_page: ListPage,
        *,
        min_sweep_gap: float = 1.0,
        max_pages: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._list_page = list_page
        self.min_sweep_gap = min_sweep_gap
        self.max_pages = max_pages
        self.clock = clock
        self._watches: dict[int, list[RunWatch]] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_sweep = float("-inf")
        self._heap: list[tuple[float, int, RunWatch]] = []
        self._seq = 0
        self._planned = float("inf")  # when the loop plans its next sweep; -inf while sweeping
        self.sweeps = 0
        self.pages = 0

    @property
    def watch_count(self) -> int:
        """How many watches are registered."""
        return sum(len(ws) for ws in self._watches.values())

    def watch(self, run_id: int) -> RunWatch:
        """Register interest in ``run_id``; close the returned watch when done."""
        watch = RunWatch(self, run_id)
        self._watches.setdefault(run_id, []).append(watch)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="databricks-run-poller")
        return watch

    def _unwatch(self, watch: RunWatch) -> None:
        watches = self._watches.get(watch.run_id, [])
        if watch in watches:
            watches.remove(watch)
        if not watches:
            self._watches.pop(watch.run_id, None)
        self._wakeup.set()

    def _schedule(self, watch: RunWatch, due: float) -> None:
        watch._due = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, watch))
        if due < self._planned:
            self._wakeup.set()

    async def aclose(self) -> None:
        """Stop the sweep task; open watches are told their runs are not covered."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._release_waiting(_MISSED)

    def _next_due(self) -> float | None:
        """The earliest due time of a waiting watch (stale heap entries are dropped on the way)."""
        heap = self._heap
        while heap and (heap[0][2].closed or heap[0][2]._due != heap[0][0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    async def _loop(self) -> None:
        while self._watches:
            due = self._next_due()
            self._wakeup.clear()
            if due is None:
                self._planned = float("inf")
                await self._wakeup.wait()
                continue
            # No need to start early by the sweep's length: a watch keeps its place in the newest-first
            # list from sweep to sweep, so the time between two of its checks stays its own delay.
            start_at = max(due, self._last_sweep + self.min_sweep_gap)
            delay = start_at - self.clock()
            if delay > 0:
                self._planned = start_at
                try:
                    await asyncio.wait_for(self._wakeup.wait(), delay)
                except TimeoutError:
                    pass
                else:
                    continue  # an earlier due time arrived, or the last watch left: recompute
            self._planned = float("-inf")
            self._last_sweep = self.clock()
            await self._sweep()

    async def _sweep(self) -> None:
        self.sweeps += 1
        serving: dict[int, list[RunWatch]] = {}
        for run_id, watches in self._watches.items():
            waiting = [w for w in watches if w._due is not None]
            if waiting:
                serving[run_id] = waiting
        try:
            await self._collect(serving)
        except Exception as exc:  # the callers fall back to runs/get; never kill the loop
            log.warning("Run list sweep failed, falling back to per-run polling: %s", exc)
        for watches in serving.values():  # whatever the sweep did not find
            for watch in watches:
                watch._deliver(_MISSED)

    async def _collect(self, serving: dict[int, list[RunWatch]]) -> None:
        """Page through runs/list, answering each serving watch as soon as its run shows up."""
        starts = [w.start_time for ws in serving.values() for w in ws]
        oldest = min(starts) if starts and 0 not in starts else 0
        token: str | None = None
        for _ in range(self.max_pages):
            if not serving:
                return
            page = await self._list_page(token)
            self.pages += 1
            for run in page.runs:
                for watch in self._watches.get(run.run_id, ()):
                    watch._note(run)  # idle watches learn their run's start time on the way
                for watch in serving.pop(run.run_id, ()):
                    watch._deliver(run)
            if not page.next_page_token or (oldest and page.runs and page.runs[-1].start_time < oldest):
                return  # the end of the list, or past the start of every run still missing
            token = page.next_page_token

    def _release_waiting(self, result: object) -> None:
        for watches in self._watches.values():
            for watch in watches:
                watch._deliver(result)
