"""What one sweep of the run poller asks ``runs/list`` for, and what its passes lately cost.

Pure pieces of :mod:`airflow_dbx_async.client._poller`: the filters of one pass, the start-time
windows the waiting watches are grouped into, and the learning that keeps each kind of pass no
dearer than one ``runs/get`` per watch it answers (see ``docs/polling.md``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ("PAGE_RUNS", "PROBE_AFTER", "ListQuery", "PassCost", "groups", "latest_start", "window")

PAGE_RUNS = 25
"""Runs per ``runs/list`` page, the documented maximum."""

PROBE_AFTER = 8
"""Sweeps a pass sits out after losing to ``runs/get``, before it is measured again."""


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The filters of one ``runs/list`` pass; start-time bounds in epoch ms, inclusive."""

    active_only: bool = False
    completed_only: bool = False
    start_time_from: int | None = None
    start_time_to: int | None = None


class PassCost:
    """What one kind of pass cost lately: pages fetched per watch it answered.

    A pass that needed more pages than it answered watches was dearer than one ``runs/get`` each; it
    then sits out :data:`PROBE_AFTER` sweeps and is measured again, since workspaces change.
    """

    __slots__ = ("pages_per_answer", "sat_out")

    def __init__(self) -> None:
        self.pages_per_answer = 0.0
        self.sat_out = 0

    def worth_trying(self) -> bool:
        """True when the pass should run in this sweep."""
        if self.pages_per_answer <= 1.0 or self.sat_out >= PROBE_AFTER:
            self.sat_out = 0
            return True
        self.sat_out += 1
        return False

    def learn(self, pages: int, answered: int) -> None:
        """Record one pass: ``pages`` fetched, ``answered`` watches it settled."""
        self.pages_per_answer = pages / max(answered, 1)


class _Started(Protocol):
    @property
    def start_time(self) -> int: ...


W = TypeVar("W", bound=_Started)


def latest_start(watches: Sequence[_Started]) -> int:
    """The run's start time as the watches of one run know it (0 when none knows it yet)."""
    return max(w.start_time for w in watches)


def groups(targets: Mapping[int, list[W]], others: Sequence[int]) -> list[dict[int, list[W]]]:
    """Targets by start time, split wherever a full page of other watched runs lies between two.

    ``others`` are the sorted start times of the watched runs not being asked about. Each group gets
    its own window: listing the watched runs in between would cost a page per 25 of them, splitting
    costs at most one page more.
    """
    found: list[dict[int, list[W]]] = [{}]
    last = 0
    for run_id, watches in sorted(targets.items(), key=lambda item: latest_start(item[1])):
        start = latest_start(watches)
        if last and bisect.bisect_left(others, start) - bisect.bisect_right(others, last) >= PAGE_RUNS:
            found.append({})
        found[-1][run_id] = watches
        last = start
    return found


def window(
    targets: Mapping[int, Sequence[_Started]], *, active_only: bool = False, completed_only: bool = False
) -> ListQuery:
    """The start-time window of ``targets`` (whose start times are all known)."""
    starts = [latest_start(ws) for ws in targets.values()]
    return ListQuery(
        active_only=active_only,
        completed_only=completed_only,
        start_time_from=min(starts),
        start_time_to=max(starts),
    )
