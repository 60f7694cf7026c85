"""Turn a failed run's details into readable log lines and a one-line exception message.

Pure functions over :class:`~airflow_dbx_async._events.RunEvent`. Every field is cut to a sensible
size with a visible marker: logs and stack traces keep their tail (where the error is), notebook
results keep their head. ANSI colour codes (Databricks puts them in notebook traces) are removed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_dbx_async._notebook_output import repeats_cell_trace
from airflow_dbx_async._notebook_output import report_lines as notebook_lines
from airflow_dbx_async.client.models import RunState

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_dbx_async._events import FailedTask, RunEvent
    from airflow_dbx_async._notebook_output import NotebookTaskOutput

__all__ = (
    "MAX_REPORTED_TASKS",
    "bound_for_event",
    "report_lines",
    "short_message",
    "strip_ansi",
    "truncate_head",
    "truncate_tail",
)

MAX_REPORTED_TASKS = 20
_ERROR_LIMIT = 2_000
_TRACE_LIMIT = 4_000
_RESULT_LIMIT = 2_000
_LOGS_LIMIT = 4_000
_EVENT_FIELD_LIMIT = 8_000
_SHORT_TASKS = 3
_SHORT_ERROR = 160
_INDENT = "    | "
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """Remove ANSI escape sequences (colours, cursor moves)."""
    return _ANSI.sub("", text)


def _marker(cut: int) -> str:
    return f"... [truncated {cut} chars] ..."


def truncate_tail(text: str, limit: int) -> str:
    """Keep the last ``limit`` characters, with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return f"{_marker(cut)}\n{text[-limit:]}"


def truncate_head(text: str, limit: int) -> str:
    """Keep the first ``limit`` characters, with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return f"{text[:limit]}\n{_marker(cut)}"


def bound_for_event(task: FailedTask, limit: int = _EVENT_FIELD_LIMIT) -> FailedTask:
    """Bound every text field so that the trigger event stays small enough for the database."""
    result = task.notebook_result
    return replace(
        task,
        state_message=truncate_head(task.state_message, limit),
        error=truncate_tail(strip_ansi(task.error), limit),
        error_trace=truncate_tail(strip_ansi(task.error_trace), limit),
        notebook_result=None if result is None else truncate_head(strip_ansi(result), limit),
        logs=truncate_tail(strip_ansi(task.logs), limit),
    )


def _block(title: str, text: str) -> list[str]:
    body = text.rstrip("\n")
    if not body.strip():
        return [f"  {title}: (none)"]  # said, not left out: readers look for every field
    return [f"  {title}:", *(f"{_INDENT}{line}" for line in body.splitlines())]


def _state_text(event: RunEvent) -> str:
    if event.run_state:
        return RunState.from_api(event.run_state).describe()
    return event.reason


def _task_lines(position: str, task: FailedTask, notebook: NotebookTaskOutput | None) -> list[str]:
    header = f"{position} task {task.task_key!r} (task run {task.run_id})"
    if task.state_message:
        header += f": {strip_ansi(task.state_message)}"
    lines = [header]
    if task.run_page_url:
        lines.append(f"  run page: {task.run_page_url}")
    lines += _block("error", truncate_tail(strip_ansi(task.error), _ERROR_LIMIT))
    if repeats_cell_trace(notebook, task.error_trace):
        lines.append("  error trace: (the failing cell's traceback, below)")
    else:
        lines += _block("error trace", truncate_tail(strip_ansi(task.error_trace), _TRACE_LIMIT))
    lines += _block("notebook result", truncate_head(strip_ansi(task.notebook_result or ""), _RESULT_LIMIT))
    if notebook is not None:  # no `logs` for notebook tasks on Databricks: their prints are in the export
        return lines + notebook_lines(notebook)
    logs_title = "logs (Databricks kept only the tail)" if task.logs_truncated else "logs"
    lines += _block(logs_title, truncate_tail(strip_ansi(task.logs), _LOGS_LIMIT))
    return lines


def report_lines(event: RunEvent, notebooks: Mapping[int, NotebookTaskOutput] | None = None) -> list[str]:
    """Readable lines describing why the run failed, task by task (at most 20 tasks).

    :param notebooks: the run exports of failed notebook tasks, by task run id.
    """
    notebooks = notebooks or {}
    lines = [f"Databricks run {event.run_id} failed: {event.reason or _state_text(event)}"]
    if event.reason and event.run_state and _state_text(event) != event.reason:
        lines.append(f"Final state: {_state_text(event)}")
    if event.run_page_url:
        lines.append(f"Run page: {event.run_page_url}")
    total = len(event.failed_tasks)
    if total:
        lines.append(f"{total} failed task{'s' if total != 1 else ''}:")
    for index, task in enumerate(event.failed_tasks[:MAX_REPORTED_TASKS], start=1):
        lines += _task_lines(f"[{index}/{total}]", task, notebooks.get(task.run_id))
    if total > MAX_REPORTED_TASKS:
        lines.append(f"... and {total - MAX_REPORTED_TASKS} more failed tasks (see the run page)")
    return lines


def _first_line(text: str) -> str:
    for line in strip_ansi(text).splitlines():
        if line.strip():
            line = " ".join(line.split())
            return line if len(line) <= _SHORT_ERROR else line[: _SHORT_ERROR - 3] + "..."
    return ""


def _task_summary(task: FailedTask) -> str:
    detail = _first_line(task.error) or _first_line(task.state_message) or "failed"
    return f"task {task.task_key}: {detail}"


def _bare_state(run_state: Mapping[str, Any]) -> str:
    """``TERMINATED/FAILED``: the states without the message."""
    life_cycle = str(run_state.get("life_cycle_state") or "UNKNOWN")
    result = run_state.get("result_state")
    return f"{life_cycle}/{result}" if result else life_cycle


def short_message(event: RunEvent) -> str:
    """One line for the exception: run id, final state, the first task errors and the run page."""
    if event.status == "error":
        text = (
            f"Could not watch Databricks run {event.run_id}: {_first_line(event.reason) or 'unknown error'}"
        )
    elif event.failed_tasks and event.run_state:
        # The tasks' own errors say more than the run's generic state message: keep the line short.
        text = f"Databricks run {event.run_id} failed ({_bare_state(event.run_state)})"
    else:
        text = f"Databricks run {event.run_id} failed: {_first_line(event.reason or _state_text(event))}"
    tasks = event.failed_tasks
    if tasks:
        parts = [_task_summary(t) for t in tasks[:_SHORT_TASKS]]
        if len(tasks) > _SHORT_TASKS:
            parts.append(f"+{len(tasks) - _SHORT_TASKS} more")
        text += f": {'; '.join(parts)}"
    if event.run_page_url:
        text += f". See {event.run_page_url}"
    return text
