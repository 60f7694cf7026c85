"""Encode and decode the payload of the trigger's one event.

Airflow stores the payload in its database and hands it to ``execute_complete``, so it holds
primitives only (str, int, bool, None, lists and dicts of them). Decoding is tolerant of missing keys
but refuses a payload that is not an object or names an unknown status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from airflow_dbx_async.client.models import Run

__all__ = ("STATUSES", "EventStatus", "FailedTask", "RunEvent", "state_payload")

EventStatus = Literal["success", "failed", "error"]
STATUSES: tuple[EventStatus, ...] = ("success", "failed", "error")


def _str(value: object) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0


def state_payload(run: Run) -> dict[str, Any]:
    """A run's ``state`` as primitives, in the shape Databricks sends it."""
    state = run.state
    result = state.raw_result_state or (state.result_state.value if state.result_state else None)
    return {
        "life_cycle_state": state.raw_life_cycle_state or state.life_cycle_state.value,
        "result_state": result,
        "state_message": state.state_message,
        "user_cancelled_or_timedout": state.user_cancelled_or_timedout,
    }


@dataclass(frozen=True)
class FailedTask:
    """What went wrong in one failed task run (its latest attempt)."""

    task_key: str
    run_id: int
    run_page_url: str = ""
    state_message: str = ""
    error: str = ""
    error_trace: str = ""
    notebook_result: str | None = None
    logs: str = ""
    logs_truncated: bool = False

    def to_payload(self) -> dict[str, Any]:
        """Return a dict of primitives."""
        return {
            "task_key": self.task_key,
            "run_id": self.run_id,
            "run_page_url": self.run_page_url,
            "state_message": self.state_message,
            "error": self.error,
            "error_trace": self.error_trace,
            "notebook_result": self.notebook_result,
            "logs": self.logs,
            "logs_truncated": self.logs_truncated,
        }

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> FailedTask:
        """Rebuild from :meth:`to_payload` output; missing keys become empty values."""
        result = data.get("notebook_result")
        return cls(
            task_key=_str(data.get("task_key")),
            run_id=_int(data.get("run_id")),
            run_page_url=_str(data.get("run_page_url")),
            state_message=_str(data.get("state_message")),
            error=_str(data.get("error")),
            error_trace=_str(data.get("error_trace")),
            notebook_result=result if isinstance(result, str) else None,
            logs=_str(data.get("logs")),
            logs_truncated=data.get("logs_truncated") is True,
        )


@dataclass(frozen=True)
class RunEvent:
    """The outcome of watching one Databricks run.

    :param status: ``success``, ``failed`` (the run ended badly) or ``error`` (we could not tell).
    :param run_id: the Databricks run id.
    :param run_page_url: link to the run in the Databricks UI.
    :param run_state: the final ``state`` object as Databricks sent it (primitives), or empty.
    :param reason: one short line saying why.
    :param failed_tasks: details of every failed task, latest attempts only.
    """

    status: EventStatus
    run_id: int
    run_page_url: str = ""
    run_state: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    failed_tasks: tuple[FailedTask, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        """Return a dict of primitives for ``TriggerEvent(payload)``."""
        return {
            "status": self.status,
            "run_id": self.run_id,
            "run_page_url": self.run_page_url,
            "run_state": dict(self.run_state),
            "reason": self.reason,
            "failed_tasks": [task.to_payload() for task in self.failed_tasks],
        }

    @classmethod
    def from_run(
        cls,
        status: EventStatus,
        run: Run,
        reason: str,
        failed_tasks: tuple[FailedTask, ...] = (),
        run_page_url: str = "",
    ) -> RunEvent:
        """The event for a run seen in a final (or given) state."""
        return cls(
            status=status,
            run_id=run.run_id,
            run_page_url=run.run_page_url or run_page_url,
            run_state=state_payload(run),
            reason=reason,
            failed_tasks=failed_tasks,
        )

    @classmethod
    def from_payload(cls, data: object) -> RunEvent:
        """Rebuild an event; raises ``ValueError`` for a payload that is not one of ours."""
        if not isinstance(data, Mapping):
            raise ValueError(f"trigger event payload must be an object, got {type(data).__name__}")
        status = data.get("status")
        if status not in STATUSES:
            raise ValueError(f"trigger event has unknown status {status!r}")
        state = data.get("run_state")
        tasks = data.get("failed_tasks")
        return cls(
            status=cast("EventStatus", status),
            run_id=_int(data.get("run_id")),
            run_page_url=_str(data.get("run_page_url")),
            run_state=dict(state) if isinstance(state, Mapping) else {},
            reason=_str(data.get("reason")),
            failed_tasks=tuple(FailedTask.from_payload(t) for t in tasks or () if isinstance(t, Mapping))
            if isinstance(tasks, list)
            else (),
        )
