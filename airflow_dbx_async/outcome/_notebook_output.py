"""What the notebook tasks of a run printed, how they failed, and their exit values.

On Databricks, ``runs/get-output`` has no ``logs`` for notebook tasks: their printed lines are only in
the run export (see :class:`airflow_dbx_async.client.RunExport`). This module fetches, for the notebook
tasks of a finished run, the export (and, where asked, ``notebook_output`` from get-output), and turns
them into bounded log lines and XCom values. It runs in the worker (``execute_complete`` or the
operator's own wait), never in the triggerer: the output is bulky, and only the worker's log masks
the task's secrets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_dbx_async.client import lenient_int, sanitize_text, truncate_tail
from airflow_dbx_async.hooks import redact
from airflow_dbx_async.links import (
    XCOM_NOTEBOOK_RESULT_KEY,
    XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY,
    XCOM_NOTEBOOK_RESULTS_KEY,
    XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY,
)

if TYPE_CHECKING:
    import logging
    from collections.abc import Awaitable, Callable

    from airflow_dbx_async.client import JobsClient, NotebookOutput

    RunSync = Callable[[Callable[[JobsClient], Awaitable[Any]]], Any]

_T = TypeVar("_T")

__all__ = (
    "MAX_LOGGED_TASKS",
    "MAX_NOTEBOOK_TASKS",
    "PRINTED_OUTPUT_LIMIT",
    "XCOM_NOTEBOOK_RESULTS_KEY",
    "XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY",
    "XCOM_NOTEBOOK_RESULT_KEY",
    "XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY",
    "after_success",
    "failed_notebook_lines",
    "NotebookTask",
    "NotebookTaskOutput",
    "RunNotebooks",
    "failing_cell_lines",
    "fetch_notebook_outputs",
    "notebook_tasks",
    "printed_lines",
    "read_run_notebooks",
    "repeats_cell_trace",
    "success_lines",
    "xcom_values",
)

PRINTED_OUTPUT_LIMIT = 4_000  # characters of printed output per task in the log: the tail
ERROR_TRACE_LIMIT = 4_000
MAX_NOTEBOOK_TASKS = 100  # notebook tasks read per run (a request or two each)
MAX_LOGGED_TASKS = 20  # notebook tasks whose output is written to the log
_CONCURRENCY = 4
_INDENT = "    | "


@dataclass(frozen=True)
class NotebookTask:
    """The latest attempt of one notebook task in a run."""

    task_key: str
    run_id: int


@dataclass(frozen=True)
class NotebookTaskOutput:
    """What was read for one notebook task run.

    :param notebook: the executed notebook from the run export, or ``None`` when it could not be read.
    :param export_error: why the export could not be read, else empty.
    :param result: ``notebook_output.result`` (the ``dbutils.notebook.exit`` value, first 5 MB), if read.
    :param result_truncated: ``notebook_output.truncated``.
    """

    task: NotebookTask
    notebook: NotebookOutput | None = None
    export_error: str = ""
    result: str | None = None
    result_truncated: bool = False


def notebook_tasks(run: Mapping[str, Any]) -> tuple[NotebookTask, ...]:
    """The latest attempt of every notebook task of a ``runs/get`` answer, in task order."""
    latest: dict[str, tuple[tuple[int, int], NotebookTask]] = {}
    for task in run.get("tasks") or ():
        if not isinstance(task, Mapping) or not isinstance(task.get("notebook_task"), Mapping):
            continue
        key = str(task.get("task_key") or "")
        order = (lenient_int(task.get("attempt_number")), lenient_int(task.get("start_time")))
        seen = latest.get(key)
        if seen is None or order >= seen[0]:
            latest[key] = (order, NotebookTask(task_key=key, run_id=lenient_int(task.get("run_id"))))
    return tuple(entry for _, entry in latest.values())[:MAX_NOTEBOOK_TASKS]


async def fetch_notebook_outputs(
    client: JobsClient, tasks: tuple[NotebookTask, ...], *, export: bool = True, result: bool = True
) -> tuple[NotebookTaskOutput, ...]:
    """Read the export and/or the exit value of each task, a few at a time; failures become text."""
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def one(task: NotebookTask) -> NotebookTaskOutput:
        async with limit:
            return await _fetch_one(client, task, export=export, result=result)

    return tuple(await asyncio.gather(*(one(task) for task in tasks)))


async def _fetch_one(
    client: JobsClient, task: NotebookTask, *, export: bool, result: bool
) -> NotebookTaskOutput:
    notebook: NotebookOutput | None = None
    problem = ""
    if export:
        try:
            notebook = (await client.export_run(task.run_id)).notebook()
            problem = "" if notebook is not None else "the run export has no notebook view"
        except Exception as exc:  # the log still says what could not be read; the task goes on
            problem = f"{type(exc).__name__}: {exc}"
    value: str | None = None
    truncated = False
    if result:
        try:
            out = await client.get_run_output(task.run_id)
            value, truncated = out.notebook_result, out.notebook_result_truncated
        except Exception as exc:
            problem = problem or f"could not read the exit value: {type(exc).__name__}: {exc}"
    return NotebookTaskOutput(task, notebook, problem, value, truncated)


@dataclass(frozen=True)
class RunNotebooks:
    """The notebook tasks of one run, as read after it ended; ``single_task`` when the run has one task."""

    outputs: tuple[NotebookTaskOutput, ...]
    single_task: bool


async def read_run_notebooks(client: JobsClient, run_id: int, *, export: bool, result: bool) -> RunNotebooks:
    """Read ``runs/get`` and then, for each notebook task's latest attempt, its export and/or exit value."""
    run = await client.get_run_json(run_id)
    keys = {t.get("task_key") for t in run.get("tasks") or () if isinstance(t, Mapping)}
    outputs = await fetch_notebook_outputs(client, notebook_tasks(run), export=export, result=result)
    return RunNotebooks(outputs=outputs, single_task=len(keys) == 1)


def failed_notebook_lines(output: NotebookTaskOutput) -> list[str]:
    """A failed notebook task's part of the failure report: printed output, then the failing cell."""
    if output.notebook is None:
        return [f"  printed output: (not available: {output.export_error or 'no export'})"]
    printed = printed_lines(output.notebook)
    lines = ["  printed output (from the run export):", *printed] if printed else ["  printed output: (none)"]
    return lines + failing_cell_lines(output.notebook)


def success_lines(output: NotebookTaskOutput, limit: int = PRINTED_OUTPUT_LIMIT) -> list[str]:
    """What a notebook task that succeeded printed, for the task log."""
    task = output.task
    header = f"Notebook task {task.task_key!r} (task run {task.run_id})"
    if output.notebook is None:
        return [f"{header}: printed output not available ({output.export_error or 'no export'})"]
    if not output.notebook.printed:
        return [f"{header} printed nothing"]
    return [f"{header} printed (from the run export):", *printed_lines(output.notebook, limit)]


def printed_lines(notebook: NotebookOutput, limit: int = PRINTED_OUTPUT_LIMIT) -> list[str]:
    """The cells' printed output, each under a ``[cell N] <first source line>`` header; the tail."""
    blocks = [f"[cell {cell.number}] {cell.first_line}\n{cell.text}" for cell in notebook.printed]
    text = truncate_tail("\n".join(blocks), limit)
    return [f"{_INDENT}{line}" for line in text.splitlines()]


def failing_cell_lines(
    notebook: NotebookOutput, limit: int = ERROR_TRACE_LIMIT, shown_trace: str = ""
) -> list[str]:
    """The failing cell: its number and first source lines, its error and its traceback.

    :param shown_trace: a trace the report already shows (get-output's ``error_trace``); the cell's
        traceback is not repeated when it is the same.
    """
    cell = notebook.failing_cell
    if cell is None:
        return []
    lines = [f"  failing cell: cell {cell.number} of {len(notebook.cells)}"]
    lines += [f"{_INDENT}{line}" for line in cell.source]
    lines.append(f"  cell error: {cell.error_summary or '(none)'}")
    trace = truncate_tail(cell.error_trace, limit)
    if trace.strip():
        lines.append("  cell traceback:")
        lines += [f"{_INDENT}{line}" for line in trace.splitlines()]
    return lines


def repeats_cell_trace(output: NotebookTaskOutput | None, trace: str) -> bool:
    """True when ``trace`` (get-output's ``error_trace``) is the failing cell's traceback in the export."""
    cell = output.notebook.failing_cell if output is not None and output.notebook is not None else None
    if cell is None or not trace.strip():
        return False
    return sanitize_text(cell.error_trace).strip() == sanitize_text(trace).strip()


def after_success(
    run_sync: RunSync, log: logging.Logger | Any, run_id: int, *, log_output: bool, xcom: bool
) -> dict[str, Any]:
    """In the worker, once a run succeeded: log what its notebooks printed; returns the XComs to push."""
    if not (log_output or xcom):
        return {}
    read = partial(read_run_notebooks, run_id=run_id, export=log_output, result=xcom)
    notebooks: RunNotebooks | None = _read(run_sync, log, run_id, read, None)
    if notebooks is None:
        return {}
    for output in notebooks.outputs[:MAX_LOGGED_TASKS] if log_output else ():
        for line in success_lines(output):
            log.info("%s", redact(line))
    return xcom_values(notebooks.outputs, single_task=notebooks.single_task) if xcom else {}


def _read(run_sync: RunSync, log: logging.Logger | Any, run_id: int, read: Any, default: _T) -> _T:
    try:
        result: _T = run_sync(read)
    except Exception as exc:  # the output is a bonus: the task's outcome does not depend on it
        log.warning("Could not read the notebook output of run %s: %s", run_id, redact(str(exc)))
        return default
    return result


def xcom_values(outputs: tuple[NotebookTaskOutput, ...], *, single_task: bool) -> dict[str, Any]:
    """The exit values to push: one value for a single-task run, else one per task key.

    Tasks whose notebook never called ``dbutils.notebook.exit`` are left out, as Databricks leaves
    ``notebook_output.result`` out; nothing is pushed when no task set a value.
    """
    values = {o.task.task_key: o for o in outputs if o.result is not None}
    if not values:
        return {}
    if single_task and len(outputs) == 1:
        (only,) = values.values()
        return {
            XCOM_NOTEBOOK_RESULT_KEY: only.result,
            XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY: only.result_truncated,
        }
    return {
        XCOM_NOTEBOOK_RESULTS_KEY: {key: o.result for key, o in values.items()},
        XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY: {key: o.result_truncated for key, o in values.items()},
    }
