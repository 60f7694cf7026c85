"""Read the event of the official provider's ``DatabricksExecutionTrigger``.

A task that deferred with the official operator before the import swap resumes in our
``execute_complete`` with the official payload: ``run_id``, ``run_page_url``, ``run_state`` (a JSON
string of ``life_cycle_state``, ``result_state`` and ``state_message``), ``errors`` (one
``{task_key, run_id, error}`` per failed task) and ``repair_run``. It is turned into our
:class:`~airflow_dbx_async.outcome._events.RunEvent`, judged by the same rule as our own events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_dbx_async.client import Outcome, RunState, judge, lenient_int
from airflow_dbx_async.outcome._events import RunEvent
from airflow_dbx_async.outcome._failure_details import FailedTask

__all__ = ("OfficialEvent", "is_official_event", "read_official_event")


@dataclass(frozen=True)
class OfficialEvent:
    """An official trigger event, read: the run's outcome and whether it asked for a repair."""

    event: RunEvent
    repair_run: bool


def is_official_event(payload: object) -> bool:
    """True for the official trigger's payload (a JSON-string ``run_state`` and no ``status``)."""
    return (
        isinstance(payload, Mapping) and "status" not in payload and isinstance(payload.get("run_state"), str)
    )


def _failed_task(error: Mapping[str, Any], page: str) -> FailedTask:
    """A failed task of the official event; the worker fetches its output like any other's."""
    return FailedTask(
        task_key=str(error.get("task_key") or ""),
        run_id=lenient_int(error.get("run_id")),
        run_page_url=page,
    )


def read_official_event(payload: Mapping[str, Any]) -> OfficialEvent:
    """Convert the official payload; raises ``ValueError`` when it is not one."""
    try:
        raw_state = json.loads(payload["run_state"])
        run_id = int(payload["run_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an official Databricks trigger event: {exc}") from None
    if not isinstance(raw_state, Mapping):
        raise ValueError("the official event's run_state is not a JSON object")
    state = RunState.from_api(raw_state)
    verdict = judge(state)
    page = str(payload.get("run_page_url") or "")
    errors = payload.get("errors")
    failed = tuple(_failed_task(e, page) for e in errors or () if isinstance(e, Mapping))
    succeeded = verdict.outcome is Outcome.SUCCEEDED
    event = RunEvent(
        status="success" if succeeded else "failed",
        run_id=run_id,
        run_page_url=page,
        state=state,
        reason=verdict.reason,
        failed_tasks=() if succeeded else failed,
        failed_total=0 if succeeded else len(failed),
    )
    return OfficialEvent(event=event, repair_run=payload.get("repair_run") is True)
