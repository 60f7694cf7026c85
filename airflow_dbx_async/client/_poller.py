"""Batched run polling: one ``runs/list`` sweep answers many triggers at once, never dearer than ``runs/get``.

A triggerer may hold thousands of deferred Databricks tasks against one workspace. Polling each run
with its own ``runs/get`` costs one request per run per poll. Instead, every trigger of a workspace
registers a :class:`RunWatch` with the workspace's :class:`RunPoller`; when any watch wants news, the
poller sweeps ``runs/list`` (25 runs per page) and hands each waiting watch the run it saw.

A sweep lists only what it needs, so its cost follows what Airflow watches, not what else the
workspace runs (see ``docs/polling.md``):

1. the **active pass**: ``active_only`` runs whose start lies within the start times of the waiting
   watches (``start_time_from``/``start_time_to``, learnt from earlier answers). A run it lists is
   still going; a watched run it does not list, when it got to the end of the list, has ended.
   While every run of a window was seen ``RUNNING`` within its watch's gap, the window's
   ``completed_only`` runs are listed instead: those are final, the others still running (one page
   while none has ended);
2. the **completed pass**: ``completed_only`` runs within the start times of just those ended runs,
   which shows their final state without one ``runs/get`` each;
3. the **top pass**, for new watches whose start time is not known yet: all runs, newest first,
   which is where a run submitted a moment ago is, even one that has already ended.

Each pass fetches at most as many pages as the watches it is meant to answer (the ``runs/get`` each
would cost otherwise), and a pass that cost more pages than it answered watches last time is skipped
for the next few sweeps (its watches ask ``runs/get``) before it is tried again.

The poller is only an accelerator. A watch whose run was not answered by a sweep (start time not yet
known, page budget spent, a failed sweep, a run hidden from the list) is told so at once, and the
caller falls back to its own ``runs/get``. A trigger alone in a fresh triggerer behaves as with many.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import logging
import time
from collections.abc import Awaitable, Callable

from airflow_dbx_async.client._sweep_plan import ListQuery, PassCost, groups, latest_start, window
from airflow_dbx_async.client._watch import MISSED, RunWatch
from airflow_dbx_async.client.errors import RateLimited, ServerError
from airflow_dbx_async.client.models import RunsPage

__all__ = ("ListPage", "ListQuery", "PassCost", "RunPoller", "RunWatch")

log = logging.getLogger(__name__)


ListPage = Callable[[ListQuery, str | None], Awaitable[RunsPage]]
"""Fetch one ``runs/list`` page (newest first) for a query, given the previous page's token."""

_Serving = dict[int, list[RunWatch]]


class RunPoller:
    """Sweeps ``runs/list`` for the watched runs of one workspace on one event loop.

    :param list_page: fetches one page of ``runs/list`` for a query.
    :param min_sweep_gap: seconds between the starts of two sweeps, at least.
    :param max_pages: pages per pass at most; runs beyond are reported as not answered.
    :param clock: monotonic clock, injectable for tests.
    :param sleep: the sleep function, default :func:`asyncio.sleep`, injectable for tests.
    """

    def __init__(
        self,
        list_page: ListPage,
        *,
        min_sweep_gap: float = 1.0,
        max_pages: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._list_page = list_page
        self.min_sweep_gap = min_sweep_gap
        self.max_pages = max_pages
        self.clock = clock
        self._sleep = sleep
        self._watches: dict[int, list[RunWatch]] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_sweep = float("-inf")
        self._lead = 0.0  # how long the last sweep took
        self._sweeping = False
        self._last_page = float("-inf")
        self._done: list[int] = []  # start times of the ended runs seen in the windows, sorted
        self._done_ids: dict[int, int] = {}  # run id -> start time, of the same runs
        self._heap: list[tuple[float, int, RunWatch]] = []
        self._seq = 0
        self._planned = float("inf")  # when the loop plans its next sweep; -inf while sweeping
        self.active_cost = PassCost()
        self.completed_cost = PassCost()
        self.sweeps = 0
        self.pages = 0

    @property
    def watch_count(self) -> int:
        """How many watches are registered."""
        return sum(len(ws) for ws in self._watches.values())

    def watch(self, run_id: int, *, fallback_gap: float = 0.0) -> RunWatch:
        """Register interest in ``run_id``; close the returned watch when done.

        :param fallback_gap: seconds after an answer during which missed sweeps are not reported (the
            caller asks ``runs/get`` at most once per gap); the caller's polling period, typically.
        """
        watch = RunWatch(self, run_id, fallback_gap)
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

    def _schedule(self, watch: RunWatch, due: float, slack: float) -> None:
        watch._due, watch._slack = due, slack
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, watch))
        if due - self._lead < self._planned:
            self._wakeup.set()

    async def aclose(self) -> None:
        """Stop the sweep task; open watches are told their runs are not answered."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for watches in self._watches.values():
            for watch in watches:
                watch._deliver(MISSED)

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
            # Start early by the last sweep's length, so that a sweep has reached every run by the
            # time its watches asked for news, however many pages it reads.
            start_at = max(due - self._lead, self._last_sweep + self.min_sweep_gap)
            delay = start_at - self.clock()
            if delay > 0:
                self._planned = start_at
                if await self._nap(delay):
                    continue  # an earlier due time arrived, or the last watch left: recompute
            self._planned = float("-inf")
            self._last_sweep = self.clock()
            self._sweeping = True
            try:
                await self._sweep()
            finally:
                self._sweeping = False
            self._lead = self.clock() - self._last_sweep

    def _progressing(self, within: float) -> bool:
        """True while a sweep runs and has read a page in the last ``within`` seconds."""
        return self._sweeping and self.clock() - self._last_page < within

    async def _nap(self, delay: float) -> bool:
        """Sleep ``delay`` seconds unless woken first; True when woken."""
        waker = asyncio.ensure_future(self._wakeup.wait())
        sleeper = asyncio.ensure_future(self._sleep(delay))
        try:
            done, _ = await asyncio.wait((waker, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            sleeper.cancel()
        return waker in done

    async def _sweep(self) -> None:
        self.sweeps += 1
        horizon = self.clock() + self._lead
        known: _Serving = {}
        unknown: _Serving = {}
        others: list[int] = []  # start times of the waiting watches not due yet
        for run_id, watches in self._watches.items():
            waiting = [w for w in watches if w._due is not None]
            due = [w for w in waiting if w._due is not None and w._due - w._slack <= horizon]
            start = latest_start(waiting) if waiting else 0
            if due:
                (known if start else unknown)[run_id] = due
            elif start:
                others.append(start)
        others.sort()
        ended: _Serving = {}
        try:
            ended = await self._active_pass(known, others)
            if unknown:  # new watches: their runs started a moment ago, near the top of the list
                await self._pass(ListQuery(), unknown)
            if ended:
                await self._completed_pass(ended)
        except Exception as exc:  # the callers fall back to runs/get; never kill the loop
            if isinstance(exc, RateLimited | ServerError) and exc.retry_after is not None:
                log.debug("Run list sweep held back by the server: %s", exc)  # the gate logged it
            else:
                log.warning("Run list sweep failed, falling back to per-run polling: %s", exc)
        for watches in (*known.values(), *unknown.values(), *ended.values()):  # not answered
            for watch in watches:
                watch._miss()

    async def _active_pass(self, known: _Serving, others: list[int]) -> _Serving:
        """List the active runs in the windows of the known start times; take out and return the ended."""
        if not known or not self.active_cost.worth_trying():
            return {}
        before, pages = len(known), 0
        ended: _Serving = {}
        left: _Serving = {}
        for group in groups(known, others):
            if self._ended_first(group):
                pages += await self._completed_first(group, left)
                continue
            used, complete = await self._pass(window(group, active_only=True), group)
            pages += used
            # A complete pass listed every run in its window that is still going: the others ended.
            (ended if complete else left).update(group)
        known.clear()
        known.update(left)
        self.active_cost.learn(pages, before - len(known))
        return ended

    def _ended_first(self, group: _Serving) -> bool:
        """True when listing the group's completed runs should be cheaper than listing its active ones.

        So it is while every run of the group was just seen running and fewer runs of its window are
        known to have ended than it has runs (early in long runs, a page settles a whole window).
        """
        if not all(w._still_running() for ws in group.values() for w in ws):
            return False
        query = window(group)
        low = bisect.bisect_left(self._done, query.start_time_from or 0)
        high = bisect.bisect_right(self._done, query.start_time_to or 0)
        return high - low < len(group)

    async def _completed_first(self, group: _Serving, left: _Serving) -> int:
        """List the group's completed runs; returns the pages fetched.

        The runs found are final. When the list was seen whole, the others are still running and
        get their last state; otherwise they are left (in ``left``) to ``runs/get``.
        """
        used, complete = await self._pass(window(group, completed_only=True), group)
        if not complete:
            left.update(group)  # not answered: runs/get
            return used
        for watches in group.values():
            for watch in watches:
                watch._settle(watch.last)  # not re-noted with saw(): the next real answer is due in a gap
        group.clear()
        return used

    async def _completed_pass(self, ended: _Serving) -> None:
        """List the completed runs in the windows of the runs that have just ended: their final state.

        Windows split around runs already seen ended, which every later pass would list again.
        """
        if not self.completed_cost.worth_trying():
            return
        before, pages = len(ended), 0
        split = groups(ended, self._done)
        ended.clear()
        for group in split:
            pages += (await self._pass(window(group, completed_only=True), group))[0]
            ended.update(group)  # what the group did not find, to be told so
        self.completed_cost.learn(pages, before - len(ended))
        self._forget_done()

    def _forget_done(self) -> None:
        """Drop the ended runs started before every watched one: no window reaches them any more."""
        starts = [w.start_time for ws in self._watches.values() for w in ws if w.start_time]
        floor = min(starts) if starts else float("inf")
        cut = bisect.bisect_left(self._done, floor)
        if cut:
            del self._done[:cut]
            self._done_ids = {rid: start for rid, start in self._done_ids.items() if start >= floor}

    async def _pass(self, query: ListQuery, targets: _Serving) -> tuple[int, bool]:
        """Page through one query, answering (and removing) each target as its run shows up.

        Stops once every target is answered, at the end of the list, or after as many pages as there
        were targets (one ``runs/get`` each would have cost no more). Returns the pages fetched and
        whether the list was seen to its end (or every target was found).
        """
        budget = min(self.max_pages, len(targets))
        token: str | None = None
        pages = 0
        while targets and pages < budget:
            page = await self._list_page(query, token)
            pages += 1
            self.pages += 1
            self._last_page = self.clock()
            for run in page.runs:
                for watch in self._watches.get(run.run_id, ()):
                    watch.start_time = run.start_time or watch.start_time  # learnt on the way
                if query.completed_only and run.start_time and run.run_id not in self._done_ids:
                    self._done_ids[run.run_id] = run.start_time
                    bisect.insort(self._done, run.start_time)
                for watch in targets.pop(run.run_id, ()):
                    watch._deliver(run)
            if not page.next_page_token:
                return pages, True
            token = page.next_page_token
        return pages, not targets
