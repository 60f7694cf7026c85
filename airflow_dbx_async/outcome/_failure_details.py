"""Which tasks of a failed run to report, and what Databricks has about each of them.

The data path of a failed run is split in two on purpose:

1. Where the failure is seen (the trigger, or the operator when the run ended before it deferred),
   :func:`reported_tasks` picks the failed tasks from the run: the latest attempt of each task that
   failed, at most :data:`MAX_REPORTED_TASKS`, plus how many failed in total. These small
   :class:`FailedTask` values (key, run id, page, state) travel in the trigger event.
2. In the worker, where Airflow's secret masker knows the task's secrets, :func:`fetch_details` asks
   Databricks for each reported task's bulky output and returns one :class:`TaskDetails` per task;
   :mod:`airflow_dbx_async.outcome._failure_report` renders them.

Each per-task fetch is a :data:`TaskSource` in :data:`SOURCES`: it receives the details gathered so
far and returns them with its own fields filled in: ``runs/get-output`` for every task
(:func:`add_output`), the run export for a notebook task (:func:`add_export`; a :class:`FailedTask`
carries its task type). Adding a source means adding a field to :class:`TaskDetails`, a function to
:data:`SOURCES` and its lines to the report. A source never raises for its task: it records what it
could not fetch in ``problems``, since the report must still name the task. All sources of all tasks
share the one client (one session, one connection lookup) that :func:`fetch_details` is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client import RunOutput, RunState, lenient_int, truncate_head
from airflow_dbx_async.outcome._notebook_output import (
    NotebookTask,
    NotebookTaskOutput,
    fetch_notebook_outputs,
)

if TYPE_CHECKING:
    from airflow_dbx_async.client import JobsClient, Run, TaskRun

__all__ = (
    "MAX_REPORTED_TASKS",
    "SOURCES",
    "FailedTask",
    "TaskDetails",
    "TaskSource",
    "add_export",
    "add_output",
    "fetch_details",
    "with_task_types",
    "reported_tasks",
    "task_types",
    "text_field",
)

MAX_REPORTED_TASKS = 20
_STATE_MESSAGE_LIMIT = 500  # keeps the event small: 20 tasks stay within a few KB
_CONCURRENCY = 8
NOTEBOOK_TASK = "notebook_task"


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
    :param task_type: the task's kind, as its key in the job (``notebook_task``, ``spark_python_task``,
        ...); ``""`` when the run's task list names none; ``None`` when not known (an event of an
        earlier release, or a run whose task list was not read as JSON).
    """

    task_key: str
    run_id: int
    run_page_url: str = ""
    state: RunState | None = None
    task_type: str | None = None

    @classmethod
    def from_task(cls, task: TaskRun, task_type: str | None = None) -> FailedTask:
        """The failed task as the event carries it."""
        message = truncate_head(task.state.state_message, _STATE_MESSAGE_LIMIT)
        state = replace(task.state, state_message=message)
        return cls(task.task_key, task.run_id, task.run_page_url, state, task_type)

    def to_payload(self) -> dict[str, Any]:
        """Primitives for the trigger event."""
        payload: dict[str, Any] = {
            "task_key": self.task_key,
            "run_id": self.run_id,
            "run_page_url": self.run_page_url,
            "state": None if self.state is None else self.state.to_payload(),
        }
        if self.task_type is not None:  # unknown is left out: the event stays small
            payload["task_type"] = self.task_type
        return payload

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> FailedTask:
        """Rebuild from :meth:`to_payload` output; missing keys become empty values."""
        state = data.get("state")
        task_type = data.get("task_type")
        return cls(
            task_key=text_field(data.get("task_key")),
            run_id=lenient_int(data.get("run_id")),
            run_page_url=text_field(data.get("run_page_url")),
            state=RunState.from_payload(state) if isinstance(state, Mapping) else None,
            task_type=task_type if isinstance(task_type, str) else None,
        )


def task_types(run: Mapping[str, Any]) -> dict[int, str]:
    """The kind of each task run of a ``runs/get`` answer, by task run id (``""`` when it names none)."""
    kinds: dict[int, str] = {}
    for task in run.get("tasks") or ():
        if isinstance(task, Mapping):
            kind = next((k for k, v in task.items() if k.endswith("_task") and isinstance(v, Mapping)), "")
            kinds[lenient_int(task.get("run_id"))] = kind
    return kinds


def reported_tasks(run: Run, types: Mapping[int, str] | None = None) -> tuple[tuple[FailedTask, ...], int]:
    """The failed tasks to report (latest attempts, at most :data:`MAX_REPORTED_TASKS`) and how many failed.

    A run without tasks (a legacy single-task run) reports itself: its own output holds the error.
    ``run.tasks`` must be known (from ``runs/get``); a run seen in ``runs/list`` has to be read first.

    :param types: :func:`task_types` of the run's ``runs/get`` answer, when it was read as JSON.
    """

    def kind(run_id: int) -> str | None:
        return None if types is None else types.get(run_id, "")

    if not run.tasks:
        name = run.run_name or str(run.run_id)
        return (FailedTask(name, run.run_id, run.run_page_url, run.state, kind(run.run_id)),), 1
    failed = run.failed_tasks()
    reported = tuple(FailedTask.from_task(t, kind(t.run_id)) for t in failed[:MAX_REPORTED_TASKS])
    return reported, len(failed)


@dataclass(frozen=True)
class TaskDetails:
    """What Databricks has about one failed task run; each source fills in its own fields.

    :param task: the failed task.
    :param output: its ``runs/get-output`` answer, when it could be fetched.
    :param notebook: a notebook task's run export (what it printed, the failing cell), when read.
    :param problems: what could not be fetched, one short line each.
    """

    task: FailedTask
    output: RunOutput | None = None
    problems: tuple[str, ...] = ()
    notebook: NotebookTaskOutput | None = None

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


async def add_export(client: JobsClient, details: TaskDetails) -> TaskDetails:
    """The run export of a notebook task run: what it printed and its failing cell (none for others).

    Databricks keeps no ``logs`` for notebook tasks; their printed lines are only in the export.
    """
    task = details.task
    if task.task_type != NOTEBOOK_TASK:
        return details
    notebook = NotebookTask(task_key=task.task_key, run_id=task.run_id)
    (output,) = await fetch_notebook_outputs(client, (notebook,), export=True, result=False)
    return replace(details, notebook=output)  # an unreadable export is said in the report's lines


SOURCES: tuple[TaskSource, ...] = (add_output, add_export)
"""The per-task fetches, in order."""


async def with_task_types(client: JobsClient, run_id: int, tasks: Sequence[FailedTask]) -> list[FailedTask]:
    """``tasks`` with their kinds; read from ``runs/get`` of ``run_id`` only when one is not known.

    Events of this release know them; an earlier release's event, or a run that failed before the
    operator deferred, does not.
    """
    if all(task.task_type is not None for task in tasks):
        return list(tasks)
    try:
        kinds = task_types(await client.get_run_json(run_id))
    except Exception:  # the kinds only add the notebook exports: report without them
        kinds = {}
    return [
        task if task.task_type is not None else replace(task, task_type=kinds.get(task.run_id, ""))
        for task in tasks
    ]


async def fetch_details(
    client: JobsClient,
    tasks: Sequence[FailedTask],
    sources: Sequence[TaskSource] = SOURCES,
    *,
    run_id: int | None = None,
) -> tuple[TaskDetails, ...]:
    """Details of each task, a few tasks at a time; never raises for a task's own failure.

    :param run_id: the run the tasks failed in, to learn the kinds of tasks that do not carry one.
    """
    if run_id is not None and tasks:
        tasks = await with_task_types(client, run_id, tasks)
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def one(task: FailedTask) -> TaskDetails:
        details = TaskDetails(task)
        async with limit:
            for source in sources:
                details = await source(client, details)
        return details

    return tuple(await asyncio.gather(*(one(task) for task in tasks)))
