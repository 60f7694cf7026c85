"""Turn a failed run's event and its tasks' details into readable log lines and one-line messages.

Pure functions over :class:`~airflow_dbx_async.outcome._events.RunEvent` and
:class:`~airflow_dbx_async.outcome._failure_details.TaskDetails`. Every field is sanitised (escape sequences,
control characters) and cut to a sensible size with a visible marker: logs and stack traces keep
their tail (where the error is), notebook results keep their head. The report names every field,
``(none)`` when empty, and says how many tasks failed in all when it shows only the first few.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_dbx_async.client import sanitize_text, truncate_head
from airflow_dbx_async.outcome._failure_details import TaskDetails
from airflow_dbx_async.outcome._notebook_output import clip_tail, failed_notebook_lines, repeats_cell_trace

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_dbx_async.outcome._events import RunEvent

__all__ = ("partial_failure_lines", "report_lines", "short_message", "trigger_line")

_ERROR_LIMIT = 2_000
_TRACE_LIMIT = 4_000
_RESULT_LIMIT = 2_000
_LOGS_LIMIT = 4_000
_SHORT_TASKS = 3
_SHORT_ERROR = 160
_INDENT = "    | "


def _block(title: str, text: str) -> list[str]:
    body = text.rstrip("\n")
    if not body.strip():
        return [f"  {title}: (none)"]  # said, not left out: readers look for every field
    return [f"  {title}:", *(f"{_INDENT}{line}" for line in body.splitlines())]


def _state_text(event: RunEvent) -> str:
    return event.state.describe() if event.state is not None else event.reason


def _task_message(details: TaskDetails) -> str:
    state = details.task.state
    return sanitize_text(state.state_message or state.describe()) if state is not None else ""


def _task_lines(position: str, details: TaskDetails) -> list[str]:
    task, out, notebook = details.task, details.output, details.notebook
    header = f"{position} task {task.task_key!r} (task run {task.run_id})"
    if message := _task_message(details):
        header += f": {' '.join(message.split())}"
    lines = [header]
    if task.run_page_url:
        lines.append(f"  run page: {task.run_page_url}")
    lines += [f"  ({problem})" for problem in details.problems]
    error, trace = (out.error, out.error_trace) if out else ("", "")
    lines += _block("error", clip_tail(sanitize_text(error), _ERROR_LIMIT))
    if repeats_cell_trace(notebook, trace):
        lines.append("  error trace: (the failing cell's traceback, below)")
    else:
        lines += _block("error trace", clip_tail(sanitize_text(trace), _TRACE_LIMIT))
    result = (out.notebook_result if out else None) or ""
    lines += _block("notebook result", truncate_head(sanitize_text(result), _RESULT_LIMIT))
    if notebook is not None:  # no `logs` for notebook tasks on Databricks: their prints are in the export
        return lines + failed_notebook_lines(notebook)
    logs_title = "logs (Databricks kept only the tail)" if out and out.logs_truncated else "logs"
    lines += _block(logs_title, clip_tail(sanitize_text(out.logs if out else ""), _LOGS_LIMIT))
    return lines


def _tasks_heading(event: RunEvent, shown: int) -> str:
    total = max(event.failed_total, shown)
    heading = f"{total} failed task{'s' if total != 1 else ''}"
    if shown < total:
        return f"{heading}; the first {shown} follow (the run page lists them all):"
    return f"{heading}:"


def report_lines(event: RunEvent, details: Sequence[TaskDetails] = ()) -> list[str]:
    """Readable lines describing why the run failed, task by task.

    :param event: the trigger's event (or the operator's, for a run that ended before deferring).
    :param details: what was fetched about the event's failed tasks (a notebook task's run export
        included); tasks without details are still named, with their state.
    """
    lines = [f"Databricks run {event.run_id} failed: {event.reason or _state_text(event)}"]
    if event.reason and event.state is not None and _state_text(event) != event.reason:
        lines.append(f"Final state: {_state_text(event)}")
    if event.run_page_url:
        lines.append(f"Run page: {event.run_page_url}")
    shown = _with_details(event, details)
    if shown:
        lines.append(_tasks_heading(event, len(shown)))
    total = max(event.failed_total, len(shown))
    for index, task in enumerate(shown, start=1):
        lines += _task_lines(f"[{index}/{total}]", task)
    return lines


def partial_failure_lines(event: RunEvent, details: Sequence[TaskDetails] = ()) -> list[str]:
    """The report of a run that succeeded with failed tasks (``SUCCESS_WITH_FAILURES``), for a warning.

    The same lines as :func:`report_lines` for a failure, under a heading that says the run succeeded.
    """
    heading = f"Databricks run {event.run_id} succeeded with failed tasks ({_state_text(event)})"
    return [heading, *report_lines(event, details)[1:]]


def _with_details(event: RunEvent, details: Sequence[TaskDetails]) -> list[TaskDetails]:
    found = {d.task.run_id: d for d in details}
    return [found.get(task.run_id) or TaskDetails(task) for task in event.failed_tasks]


def _first_line(text: str) -> str:
    for line in sanitize_text(text).splitlines():
        if line.strip():
            line = " ".join(line.split())
            # Cut between words, never inside a host name or path.
            return line if len(line) <= _SHORT_ERROR else line[: _SHORT_ERROR - 3].rsplit(" ", 1)[0] + " ..."
    return ""


def _task_summary(details: TaskDetails) -> str:
    error = details.output.error if details.output else ""
    detail = _first_line(error) or _first_line(_task_message(details)) or "failed"
    return f"task {details.task.task_key}: {detail}"


def _bare_state(event: RunEvent) -> str:
    """``TERMINATED/FAILED``: the states without the message."""
    state = event.state
    if state is None:
        return "UNKNOWN"
    text = state.raw_life_cycle_state or state.life_cycle_state.value
    if state.result_state is not None:
        text += f"/{state.raw_result_state or state.result_state.value}"
    return text


def short_message(event: RunEvent, details: Sequence[TaskDetails] = ()) -> str:
    """One line for the exception: run id, final state, the first task errors and the run page."""
    if event.status == "error":
        text = (
            f"Could not watch Databricks run {event.run_id}: {_first_line(event.reason) or 'unknown error'}"
        )
    elif event.failed_tasks and event.state is not None:
        # The tasks' own errors say more than the run's generic state message: keep the line short.
        text = f"Databricks run {event.run_id} failed ({_bare_state(event)})"
    else:
        text = f"Databricks run {event.run_id} failed: {_first_line(event.reason or _state_text(event))}"
    shown = _with_details(event, details)
    if shown:
        parts = [_task_summary(t) for t in shown[:_SHORT_TASKS]]
        more = max(event.failed_total, len(shown)) - _SHORT_TASKS
        if more > 0:
            parts.append(f"+{more} more")
        text += f": {'; '.join(parts)}"
    if event.run_page_url:
        # A message that already ends a sentence gets no second period ("cancelled.. See").
        text += f"{'' if text.endswith('.') else '.'} See {event.run_page_url}"
    return text


def trigger_line(event: RunEvent) -> str:
    """The trigger's one log line for a failed run; the report itself is written by the worker."""
    return f"{short_message(event)}; the failure report follows when the task resumes"
