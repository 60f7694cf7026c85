"""One trigger's interest in one run, answered by the workspace's run poller or left to ``runs/get``.

A :class:`RunWatch` asks its :class:`~airflow_dbx_async.client._poller.RunPoller` for news within a
delay, waits on one bare future (thousands live in one triggerer), and remembers what it last saw
for real: the run's start time bounds later sweeps, and its time sets when a missed sweep is
reported and how long a running run may be taken as unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from airflow_dbx_async.client.models import LifeCycleState, Run

__all__ = ("MISSED", "RunWatch")

MISSED = object()
"""What a watch is handed when no sweep answered for its run: the caller asks ``runs/get``."""

_EARLY_SHARE = 0.25  # a sweep also answers the watches due within this share of their delay


class _Sweeper(Protocol):
    """What a watch needs of its poller (the poller's side of the pair; no import cycle)."""

    def clock(self) -> float: ...

    def _schedule(self, watch: RunWatch, due: float, slack: float) -> None: ...

    def _progressing(self, within: float) -> bool: ...

    def _unwatch(self, watch: RunWatch) -> None: ...


class RunWatch:
    """One trigger's interest in one run; created by :meth:`RunPoller.watch`."""

    # Thousands of these live in one triggerer: slots, and one bare future per wait, no Event.
    __slots__ = (
        "_answered_at",
        "_due",
        "_poller",
        "_slack",
        "_waiter",
        "closed",
        "fallback_gap",
        "last",
        "run_id",
        "start_time",
    )

    def __init__(self, poller: _Sweeper, run_id: int, fallback_gap: float = 0.0) -> None:
        self.run_id = run_id
        self.start_time = 0
        self.fallback_gap = fallback_gap
        self._poller = poller
        self._due: float | None = None
        self._slack = 0.0
        self._waiter: asyncio.Future[object] | None = None
        self._answered_at: float | None = None
        self.last: Run | None = None  # the latest answer that was really listed or fetched
        self.closed = False

    async def observe(self, delay: float, grace: float) -> Run | None:
        """Ask for a sweep within ``delay`` seconds and return the run it saw.

        Returns ``None`` when the sweep did not answer for this run, failed, or did not come within
        ``delay + grace`` seconds: the caller should then ask ``runs/get`` itself (and pass the
        answer to :meth:`saw`). A sweep still reading pages is waited for, ``grace`` at a time: when
        a slow workspace makes sweeps long, thousands of ``runs/get`` at once would only slow it more.
        """
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        now, delay = self._poller.clock(), max(0.0, delay)
        # A sweep shortly before the due time answers this watch too (the early share of its delay),
        # so watches due close together share one sweep; no check comes later than asked.
        self._poller._schedule(self, now + delay, delay * _EARLY_SHARE)
        try:
            wait = delay + grace
            while not (await asyncio.wait((waiter,), timeout=wait))[0]:  # no extra task per watch
                if not self._poller._progressing(grace):
                    self._due = None
                    return None
                wait = grace
            result = waiter.result()
        finally:
            self._waiter = None
        return result if isinstance(result, Run) else None

    def saw(self, run: Run) -> None:
        """Take note of an answer about the run (listed, or fetched by the caller).

        Its start time bounds later sweeps; its time sets when a missed sweep is next reported.
        """
        if run.start_time:
            self.start_time = run.start_time
        self.last = run
        self._answered_at = self._poller.clock()

    def _still_running(self) -> bool:
        """True when a complete list of the window's completed runs without this run proves it running.

        Only for a run last seen ``RUNNING`` (its next change is its end, which the completed list
        shows), and only within ``fallback_gap`` of that answer: at least once per gap the run must be
        listed or fetched for real, so a run that vanished from every list (deleted) is still found.
        """
        last, gap_ends = self.last, self._gap_ends()
        return (
            last is not None
            and gap_ends is not None
            and last.state.life_cycle_state is LifeCycleState.RUNNING
            and self._poller.clock() < gap_ends
        )

    def _gap_ends(self) -> float | None:
        """When ``fallback_gap`` since the last real answer is over; ``None`` before any answer."""
        return None if self._answered_at is None else self._answered_at + self.fallback_gap

    def _miss(self) -> None:
        """A sweep did not answer: report it, unless the last answer is younger than ``fallback_gap``.

        Then the watch waits for the sweep due at the end of the gap instead, so the caller's own
        ``runs/get`` come no more often than once per gap: quick checks are only made when shared.
        """
        due = self._gap_ends()
        if self._due is not None and due is not None and due > self._poller.clock():
            self._poller._schedule(self, due, 0.0)
            return
        self._deliver(MISSED)

    def _deliver(self, result: object) -> None:
        if isinstance(result, Run):
            self.saw(result)
        self._settle(result)

    def _settle(self, result: object) -> None:
        """Hand ``result`` to the waiting caller, if it still waits."""
        waiter = self._waiter
        if self._due is not None and waiter is not None and not waiter.done():
            self._due = None
            waiter.set_result(result)

    def close(self) -> None:
        """Stop watching; idempotent."""
        if not self.closed:
            self.closed = True
            self._poller._unwatch(self)
