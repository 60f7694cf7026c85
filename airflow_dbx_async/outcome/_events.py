"""The trigger's one event: what it saw, as values, and their encoding as a payload of primitives.

Airflow stores the payload in its database and hands it to ``execute_complete``, so it holds
primitives only and stays small (a few KB): the run's final :class:`~airflow_dbx_async.client.RunState`
(through ``to_payload``/``from_payload``), why watching stopped, the reported failed tasks' identities
and states, and what the task did before (its repairs, the earlier attempts' one-line failures, already
masked): that travels with the trigger's kwargs and comes back here, because ``dag.test()`` replaces
a deferral's ``next_kwargs`` with the event. The tasks' bulky outputs are not in it; the worker fetches
them (:mod:`airflow_dbx_async.outcome._failure_details`). Decoding is tolerant of missing keys (a payload of
an earlier release decodes) but refuses a payload that is not an object or names an unknown status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, cast

from airflow_dbx_async.client import Outcome, ResultState, RunState, judge, lenient_int, truncate_head
from airflow_dbx_async.outcome._failure_details import FailedTask, reported_tasks, text_field
from airflow_dbx_async.outcome._verdict import StopReason

if TYPE_CHECKING:
    from airflow_dbx_async.client import Run

__all__ = ("MAX_EVENT_BYTES", "STATUSES", "EventStatus", "RunEvent")

EventStatus = Literal["success", "failed", "error"]
STATUSES: tuple[EventStatus, ...] = ("success", "failed", "error")
# Airflow stores the event and logs it whole in the task log: a final event's JSON stays under 8 KB
# (the run's state message is bounded, and the last reported tasks are left out when still too big).
MAX_EVENT_BYTES = 7_500
_MESSAGE_LIMIT = 1_000


@dataclass(frozen=True)
class RunEvent:
    """The outcome of watching one Databricks run.

    :param status: ``success``, ``failed`` (the run ended badly, or the deadline passed) or ``error``
        (we could not tell).
    :param run_id: the Databricks run id.
    :param run_page_url: link to the run in the Databricks UI.
    :param state: the run's last known state, or ``None``.
    :param reason: one short line saying why.
    :param failed_tasks: the reported failed tasks (latest attempts; the first few only).
    :param failed_total: how many tasks failed in all, reported or not.
    :param stopped: why watching stopped (see :func:`airflow_dbx_async.outcome._verdict.decide`).
    :param repairs: how many times the task repaired this run before this watch.
    :param earlier_failures: the one-line failure of each earlier attempt, masked.
    """

    status: EventStatus
    run_id: int
    run_page_url: str = ""
    state: RunState | None = None
    reason: str = ""
    failed_tasks: tuple[FailedTask, ...] = ()
    failed_total: int = 0
    stopped: StopReason = StopReason.FINAL
    repairs: int = 0
    earlier_failures: tuple[str, ...] = ()

    @classmethod
    def final(
        cls,
        run: Run,
        run_page_url: str = "",
        *,
        repairs: int = 0,
        earlier_failures: tuple[str, ...] = (),
        task_types: Mapping[int, str] | None = None,
    ) -> RunEvent:
        """The event for a run that ended, judged by :func:`judge`; ``run.tasks`` must be known.

        :param task_types: the kind of each task run (from the ``runs/get`` answer), when known.
        """
        state = replace(run.state, state_message=truncate_head(run.state.state_message, _MESSAGE_LIMIT))
        verdict = judge(state)
        status: EventStatus = "success" if verdict.outcome is Outcome.SUCCEEDED else "failed"
        # A run that succeeded with failures reports its failed tasks too: the task logs them as a warning.
        partial = state.result_state is ResultState.SUCCESS_WITH_FAILURES and bool(run.tasks)
        tasks, total = reported_tasks(run, task_types) if status == "failed" or partial else ((), 0)
        page = run.run_page_url or run_page_url
        stopped = StopReason.FINAL
        event = cls(
            status, run.run_id, page, state, verdict.reason, tasks, total, stopped, repairs, earlier_failures
        )
        while event.failed_tasks and len(json.dumps(event.to_payload())) > MAX_EVENT_BYTES:
            event = replace(event, failed_tasks=event.failed_tasks[:-1])  # the report says how many failed
        return event

    def to_payload(self) -> dict[str, Any]:
        """Return a dict of primitives for ``TriggerEvent(payload)``."""
        return {
            "status": self.status,
            "run_id": self.run_id,
            "run_page_url": self.run_page_url,
            "run_state": {} if self.state is None else self.state.to_payload(),
            "reason": self.reason,
            "failed_tasks": [task.to_payload() for task in self.failed_tasks],
            "failed_total": self.failed_total,
            "stopped": self.stopped.value,
            "repairs": self.repairs,
            "earlier_failures": list(self.earlier_failures),
        }

    @classmethod
    def from_payload(cls, data: object) -> RunEvent:
        """Rebuild an event; raises ``ValueError`` for a payload that is not one of ours."""
        if not isinstance(data, Mapping):
            raise ValueError(f"trigger event payload must be an object, got {type(data).__name__}")
        status = data.get("status")
        if status not in STATUSES:
            raise ValueError(f"trigger event has unknown status {status!r}")
        state = data.get("run_state")
        raw_tasks = data.get("failed_tasks")
        tasks = tuple(
            FailedTask.from_payload(t)
            for t in (raw_tasks if isinstance(raw_tasks, list) else ())
            if isinstance(t, Mapping)
        )
        run_state = RunState.from_payload(state) if isinstance(state, Mapping) and state else None
        earlier = data.get("earlier_failures")
        return cls(
            status=cast("EventStatus", status),
            run_id=lenient_int(data.get("run_id")),
            run_page_url=text_field(data.get("run_page_url")),
            state=run_state,
            reason=text_field(data.get("reason")),
            failed_tasks=tasks,
            failed_total=max(lenient_int(data.get("failed_total")), len(tasks)),
            stopped=_stop_reason(data.get("stopped"), cast("EventStatus", status), run_state),
            repairs=max(lenient_int(data.get("repairs")), 0),
            earlier_failures=tuple(str(m) for m in (earlier if isinstance(earlier, list) else ())),
        )


def _stop_reason(value: object, status: EventStatus, state: RunState | None) -> StopReason:
    """The event's stop reason; for an earlier release's event (none given), read from its status.

    Those fired ``error`` when they gave up, and ``failed`` with a state that is not final (or none)
    only when the deadline passed.
    """
    try:
        return StopReason(value)
    except ValueError:
        pass
    if status == "error":
        return StopReason.GAVE_UP
    if status == "failed" and (state is None or not judge(state).is_final):
        return StopReason.DEADLINE
    return StopReason.FINAL
