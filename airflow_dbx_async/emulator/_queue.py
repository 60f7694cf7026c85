"""Job-level concurrency: ``max_concurrent_runs`` and the ``queue`` setting.

Reference: https://docs.databricks.com/api/workspace/jobs/create (``max_concurrent_runs``: default 1, at
most 1000, 0 skips every new run; ``queue.enabled``: a run over the limit waits ``QUEUED`` instead of
being skipped) and the 2.1 to 2.2 update notes (queueing is on by default for jobs created with 2.2).
A run over the limit without queueing ends ``SKIPPED`` with "Skipping this run because the limit of N
maximum concurrent runs has been reached."; a queued one shows ``queue_reason`` "Queued due to reaching
maximum concurrent runs of N." and ``queue_details.code`` ``MAX_CONCURRENT_RUNS_REACHED``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_dbx_async.emulator._model import Run
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("admit", "may_start")


def _limit(settings: Mapping[str, Any]) -> int:
    try:
        return int(str(settings.get("max_concurrent_runs", 1)).strip())
    except ValueError:
        return 1


def _queue_enabled(settings: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    queue = body.get("queue") if isinstance(body.get("queue"), Mapping) else settings.get("queue")
    return isinstance(queue, Mapping) and queue.get("enabled") in (True, "true")


def _others(state: EmulatorState, run: Run) -> list[Run]:
    return [r for r in state.runs.values() if r.job_id == run.job_id and r is not run and state.is_active(r)]


def admit(state: EmulatorState, run: Run, settings: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """Mark a new job run as skipped or queued when its job is at ``max_concurrent_runs``."""
    limit = _limit(settings)
    run.concurrency_limit = limit
    active = _others(state, run)
    if len(active) < limit:
        return
    if limit == 0 or not _queue_enabled(settings, body):
        run.skip_message = (
            f"Skipping this run because the limit of {limit} maximum concurrent runs has been reached."
        )
        return
    run.queue_reason = f"Queued due to reaching maximum concurrent runs of {limit}."
    if state.runner is None:
        run.queued_until_ms = _first_free_slot(state, active, limit)


def _window(state: EmulatorState, run: Run) -> tuple[int, int]:
    ends = [t.end_ms or 0 for t in run.tasks]
    ends += [entry[3].end_ms or 0 for entry in state.future_attempts if entry[2] is run]
    return run.queued_until_ms or run.created_ms, max(ends, default=run.created_ms)


def _first_free_slot(state: EmulatorState, active: list[Run], limit: int) -> int:
    """Simulated runs have known timelines: the first instant fewer than ``limit`` of them are running."""
    now = state.now_ms()
    windows = [_window(state, r) for r in active]
    for instant in sorted({now, *(end for _, end in windows if end > now)}):
        if sum(1 for start, end in windows if start <= instant < end) < limit:
            return instant
    return now


def may_start(state: EmulatorState, run: Run) -> bool:
    """Whether a queued run of the real mode may leave the queue now (first come, first served)."""
    now = state.now_ms()
    others = _others(state, run)
    running = [r for r in others if not r.queued(now)]
    earlier = [r for r in others if r.queued(now) and r.run_id < run.run_id and not r.cancel_requested]
    return len(running) < run.concurrency_limit and not earlier
