"""Which tasks of a failed run to report, and what Databricks has about each of them.

The data path of a failed run is split in two on purpose:

1. Where the failure is seen (the trigger, or the operator when the run ended before it deferred),
   :func:`reported_tasks` picks the failed tasks from the run: the latest attempt of each task that
   failed, at most :data:`MAX_REPORTED_TASKS`, plus how many failed in total. These small
   :class:`FailedTask` values (key, run id, page, state) travel in the trigger event.
2. In the worker, where Airflow's secret masker knows the task's secrets, :func:`fetch_details` asks
   Databricks for each reported task's bulky output and returns one :class:`TaskDetails` per task;
   :mod:`airflow_dbx_async._failure_report` renders them.

Each per-task fetch is a :data:`TaskSource` in :data:`SOURCES`: it receives the details gathered so
far and returns them with its own fields filled in (``runs/get-output`` today). Adding a source, such
as the run export of a notebook task, means adding a field to :class:`TaskDetails`, a function to
:data:`SOURCES` and its lines to the report. A source never raises for its task: it records what it
could not fetch in ``problems``, since the report must still name the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client import RunOutput, RunState, lenient_int, truncate_head

if TYPE_CHECKING:
    from airflow_dbx_async.client import JobsClient, Run, TaskRun

__all__ = (
    "MAX_REPORTED_TASKS",
    "SOURCES",
    "FailedTask",
    "TaskDetails",
    "TaskSource",
    "add_output",
    "fetch_details",
    "reported_tasks",
    "text_field",
)

MAX_REPORTED_TASKS = 20
_STATE_MESSAGE_LIMIT = 500  # keeps the event small: 20 tasks stay within a few KB
_CONCURRENCY = 8


def text_field(value: object) -> str:
    """A payload field read as text: a string as is, ``None`` as empty, anything else as ``str()``."""
    return value if isinstance(value, str) else ("" if value is None else str(value))


@dataclass(frozen=True)
class FailedTask:
    """One failed task run (its latest attempt), as the event carries it: who, where, which state.

    :param task_key: the task's key in the job (the run's name for a run without tasks).
    :param run_id: the task run's id, whose output tells what went wrong.
    :param run_page_url: the task run's page.
    :param state: the task run's final state (its message bounded for the event).
    """

    task_key: str
    run_id: int
    run_page_url: str = ""
    state: RunState | None = None

    @classmethod
    def from_task(cls, task: TaskRun) -> FailedTask:
        """The failed task as the event carries it."""
        message = truncate_head(task.state.state_message, _STATE_MESSAGE_LIMIT)
        state = replace(task.state, state_message=message)
        return cls(task.task_key, task.run_id, task.run_page_url, state)

    def to_payload(self) -> dict[str, Any]:
        """Primitives for the trigger event."""
        return {
            "task_key": self.task_key,
            "run_id": self.run_id,
            "run_page_url": self.run_page_url,
            "state": None if self.state is None else self.state.to_payload(),
        }

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> FailedTask:
        """Rebuild from :meth:`to_payload` output; missing keys become empty values."""
        state = data.get("state")
        return cls(
            task_key=text_field(data.get("task_key")),
            run_id=lenient_int(data.get("run_id")),
            run_page_url=text_field(data.get("run_page_url")),
            state=RunState.from_payload(state) if isinstance(state, Mapping) else None,
        )


def reported_tasks(run: Run) -> tuple[tuple[FailedTask, ...], int]:
    """The failed tasks to report (latest attempts, at most :data:`MAX_REPORTED_TASKS`) and how many failed.

    A run without tasks (a legacy single-task run) reports itself: its own output holds the error.
    ``run.tasks`` must be known (from ``runs/get``); a run seen in ``runs/list`` has to be read first.
    """
    if not run.tasks:
        whole = FailedTask(run.run_name or str(run.run_id), run.run_id, run.run_page_url, run.state)
        return (whole,), 1
    failed = run.failed_tasks()
    return tuple(FailedTask.from_task(t) for t in failed[:MAX_REPORTED_TASKS]), len(failed)


@dataclass(frozen=True)
class TaskDetails:
    """What Databricks has about one failed task run; each source fills in its own fields.

    :param task: the failed task.
    :param output: its ``runs/get-output`` answer, when it could be fetched.
    :param problems: what could not be fetched, one short line each.
    """

    task: FailedTask
    output: RunOutput | None = None
    problems: tuple[str, ...] = ()

    def with_problem(self, what: str, exc: BaseException) -> TaskDetails:
        """These details, noting that ``what`` could not be fetched because of ``exc``."""
        return replace(self, problems=(*self.problems, f"could not fetch {what}: {exc}"))


TaskSource = Callable[["JobsClient", TaskDetails], Awaitable[TaskDetails]]
"""One per-task fetch: takes the details gathered so far, returns them with its fields filled in."""


async def add_output(client: JobsClient, details: TaskDetails) -> TaskDetails:
    """``runs/get-output`` of the task run: error, error trace, notebook result and logs."""
    try:
        return replace(details, output=await client.get_run_output(details.task.run_id))
    except Exception as exc:  # the report still names the task; the output is a bonus
        return details.with_problem("the task output", exc)


SOURCES: tuple[TaskSource, ...] = (add_output,)
"""The per-task fetches, in order."""


async def fetch_details(
    client: JobsClient, tasks: Sequence[FailedTask], sources: Sequence[TaskSource] = SOURCES
) -> tuple[TaskDetails, ...]:
    """Details of each task, a few tasks at a time; never raises for a task's own failure."""
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def one(task: FailedTask) -> TaskDetails:
        details = TaskDetails(task)
        async with limit:
            for source in sources:
                details = await source(client, details)
        return details

    return tuple(await asyncio.gather(*(one(task) for task in tasks)))
