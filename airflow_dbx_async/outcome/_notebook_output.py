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
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_dbx_async.client import lenient_int, sanitize_text
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
    "MAX_XCOM_RESULT_BYTES",
    "PRINTED_OUTPUT_LIMIT",
    "XCOM_NOTEBOOK_RESULTS_KEY",
    "XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY",
    "XCOM_NOTEBOOK_RESULT_KEY",
    "XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY",
    "after_success",
    "clip_tail",
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
MAX_XCOM_RESULT_BYTES = 1024 * 1024
"""The most the exit values of one run take in XCom (UTF-8 bytes, all tasks together).

Databricks keeps up to 5 MB per task, and a run has up to 100 notebook tasks: one XCom row of
500 MB. Values are cut to their fair share of this (a value alone may take all of it; small values
are kept whole and the rest split what is left), and the ``..._truncated`` flag says so.
"""
_CONCURRENCY = 4
_INDENT = "    | "
# The marker the client leaves where it cut a long text (``truncation_marker``).
_MARKER = re.compile(r"\.\.\. \[truncated (\d+) chars\] \.\.\.\n?")


def clip_tail(text: str, limit: int) -> str:
    """Keep the last ``limit`` characters, with one marker counting *every* character left out.

    ``text`` may already have been cut (the run export keeps the tail of each cell, with its own
    marker): the characters behind a marker that falls in the part dropped here count too.
    """
    if len(text) <= limit:
        return text
    start = len(text) - max(limit, 0)
    for marker in _MARKER.finditer(text):
        if marker.start() < start < marker.end():  # never keep half a marker
            start = marker.end()
    dropped, kept = text[:start], text[start:]
    markers = list(_MARKER.finditer(dropped))
    cut = len(dropped) - sum(len(m.group(0)) for m in markers) + sum(int(m.group(1)) for m in markers)
    return f"... [truncated {cut} chars] ...\n{kept}"


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
    text = clip_tail("\n".join(blocks), limit)
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
    trace = clip_tail(cell.error_trace, limit)
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
    return xcom_values(notebooks.outputs, single_task=notebooks.single_task, log=log) if xcom else {}


def _read(run_sync: RunSync, log: logging.Logger | Any, run_id: int, read: Any, default: _T) -> _T:
    try:
        result: _T = run_sync(read)
    except Exception as exc:  # the output is a bonus: the task's outcome does not depend on it
        log.warning("Could not read the notebook output of run %s: %s", run_id, redact(str(exc)))
        return default
    return result


def xcom_values(
    outputs: tuple[NotebookTaskOutput, ...], *, single_task: bool, log: logging.Logger | Any = None
) -> dict[str, Any]:
    """The exit values to push: one value for a single-task run, else one per task key.

    Tasks whose notebook never called ``dbutils.notebook.exit`` are left out, as Databricks leaves
    ``notebook_output.result`` out; nothing is pushed when no task set a value. The values take at
    most :data:`MAX_XCOM_RESULT_BYTES` together; a value cut here keeps its start, its
    ``..._truncated`` flag is true, and ``log`` (when given) says how much was cut.
    """
    values = {o.task.task_key: o for o in outputs if o.result is not None}
    if not values:
        return {}
    results, truncated = _bounded(values, log)
    if single_task and len(outputs) == 1:
        ((key, result),) = results.items()
        return {XCOM_NOTEBOOK_RESULT_KEY: result, XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY: truncated[key]}
    return {XCOM_NOTEBOOK_RESULTS_KEY: results, XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY: truncated}


def _bounded(
    values: Mapping[str, NotebookTaskOutput], log: logging.Logger | Any
) -> tuple[dict[str, str], dict[str, bool]]:
    """The values cut to fair shares of :data:`MAX_XCOM_RESULT_BYTES`, and each one's truncated flag."""
    encoded = {key: (o.result or "").encode("utf-8", "surrogatepass") for key, o in values.items()}
    left, count = MAX_XCOM_RESULT_BYTES, len(encoded)
    results: dict[str, str] = {}
    truncated: dict[str, bool] = {}
    for key in sorted(encoded, key=lambda k: len(encoded[k])):  # smallest first: kept whole
        data, share = encoded[key], left // count
        cut = len(data) > share
        kept = data[:share].decode("utf-8", "ignore") if cut else str(values[key].result)
        results[key], truncated[key] = kept, values[key].result_truncated or cut
        left, count = left - len(kept.encode("utf-8", "surrogatepass")), count - 1
        if cut and log is not None:
            log.warning(
                "The exit value of notebook task %r (%d bytes) was cut to %d bytes for XCom (%d bytes "
                "for all exit values of a run)",
                key,
                len(data),
                share,
                MAX_XCOM_RESULT_BYTES,
            )
    order = list(values)  # the tasks' order, not the size order
    return {k: results[k] for k in order}, {k: truncated[k] for k in order}
