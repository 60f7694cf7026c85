"""Turn a failed run's event and its tasks' details into readable log lines and one-line messages.

Pure functions over :class:`~airflow_dbx_async.outcome._events.RunEvent` and
:class:`~airflow_dbx_async.outcome._failure_details.TaskDetails`. Every field is sanitised (escape sequences,
control characters) and cut to a sensible size with a visible marker: logs and stack traces keep
their tail (where the error is), notebook results keep their head. The report names every field,
``(none)`` when empty, and says how many tasks failed in all when it shows only the first few.

The SQL statements and warehouses are reported the same way, from their events
(:mod:`airflow_dbx_async.outcome._sql_events`): a failed statement's report names the statement, its
warehouse, ``error_code``, ``sql_state`` and the engine's message, shows the SQL with the failing line
marked when the message gives a line and position (Databricks writes ``(line 2, pos 7)``; Spark's
older ``line 2 pos 7`` reads too) and the states the watch saw.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow_dbx_async.client import sanitize_text, truncate_head
from airflow_dbx_async.outcome._failure_details import TaskDetails
from airflow_dbx_async.outcome._notebook_output import clip_tail, failed_notebook_lines, repeats_cell_trace
from airflow_dbx_async.outcome._verdict import StopReason

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_dbx_async.outcome._events import RunEvent
    from airflow_dbx_async.outcome._sql_events import History, StatementEvent, WarehouseEvent

__all__ = (
    "history_text",
    "marked_sql_lines",
    "partial_failure_lines",
    "report_lines",
    "short_message",
    "sql_position",
    "statement_report_lines",
    "statement_short_message",
    "task_lines",
    "trigger_line",
    "warehouse_message",
)

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
    header = f"{position} " if position else ""
    header += f"task {task.task_key!r} (task run {task.run_id})"
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


def task_lines(details: TaskDetails) -> list[str]:
    """One failed task's part of :func:`report_lines` (without its position): the one report of a task.

    The Airflow UI's Databricks tab shows these lines for each failed task, as the task log does.
    """
    return _task_lines("", details)


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


# -- SQL statements and warehouses ------------------------------------------------------------------

_POSITION = re.compile(r"\bline\s+(\d+)\s*,?\s*pos(?:ition)?\s+(\d+)", re.IGNORECASE)
_SQL_CONTEXT = 2  # lines shown before and after the failing one
_SQL_HEAD = 12  # lines shown when the message names no position
_SQL_WIDTH = 160  # characters of one SQL line shown
_SQL_ERROR_LIMIT = 2_000


def sql_position(message: str) -> tuple[int, int] | None:
    """``(line, pos)`` named by an engine message (line from 1, pos from 0), or ``None``."""
    found = _POSITION.search(message)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _window(text: str, pos: int) -> tuple[str, int]:
    """At most :data:`_SQL_WIDTH` characters of a line around ``pos``, and where ``pos`` falls in them."""
    if len(text) <= _SQL_WIDTH:
        return text, pos
    start = max(0, min(pos - _SQL_WIDTH // 2, len(text) - _SQL_WIDTH))
    shown = text[start : start + _SQL_WIDTH]
    prefix = "..." if start else ""
    suffix = "..." if start + _SQL_WIDTH < len(text) else ""
    return prefix + shown + suffix, pos - start + len(prefix)


def marked_sql_lines(sql: str, position: tuple[int, int] | None) -> list[str]:
    """The SQL, numbered: the lines around ``position`` with a ``^`` under it, else its first lines."""
    lines = sanitize_text(sql).replace("\t", " ").split("\n")
    width = len(str(len(lines)))
    line_no, pos = position if position is not None else (0, 0)
    if not 1 <= line_no <= len(lines):
        shown = range(1, min(len(lines), _SQL_HEAD) + 1)
    else:
        shown = range(max(1, line_no - _SQL_CONTEXT), min(len(lines), line_no + _SQL_CONTEXT) + 1)
    out: list[str] = []
    for number in shown:
        text, column = _window(lines[number - 1], pos if number == line_no else 0)
        out.append(f"{'>' if number == line_no else ' '} {number:>{width}}  {text}".rstrip())
        if number == line_no:
            out.append(" " * (width + 4 + max(0, min(column, len(text)))) + "^")
    if shown.stop <= len(lines):
        out.append(f"  ... {len(lines) - shown.stop + 1} more line(s)")
    return out


def history_text(history: History) -> str:
    """``PENDING (+0.0 s) -> RUNNING (+1.2 s) -> FAILED (+3.4 s)``, times from the first state seen."""
    if not history:
        return ""
    first = history[0][1]
    return " -> ".join(f"{state} (+{at - first:.1f} s)" for state, at in history)


def _statement_heading(event: StatementEvent) -> str:
    who = f"Databricks SQL statement {event.statement_id or '(unknown)'}"
    where = f" on warehouse {event.warehouse_id}" if event.warehouse_id else ""
    if event.status == "error":
        return f"Could not watch {who}{where}: "
    if event.stopped is StopReason.DEADLINE:
        return f"{who}{where} did not end in time: "
    if event.stopped is StopReason.KILLED:
        return f"{who}{where} was stopped, the task was killed; last state: "
    return f"{who}{where} failed: "


def _statement_summary(event: StatementEvent) -> str:
    """What the statement came to: its status (with the error), or why watching stopped."""
    status = event.state
    if status is not None and event.stopped in (StopReason.FINAL, StopReason.KILLED):
        return status.describe()
    return event.reason


def statement_report_lines(event: StatementEvent, sql: str | None = None) -> list[str]:
    """Readable lines describing why the statement failed (or could not be watched).

    :param event: the trigger's event (or the operator's, for a statement that ended before deferring).
    :param sql: the statement's text, when the task knows it: shown with the failing line marked.
    """
    status = event.state
    lines = [_statement_heading(event) + (_first_line(_statement_summary(event)) or "unknown")]
    lines.append(f"  statement id: {event.statement_id or '(none)'}")
    lines.append(f"  warehouse: {event.warehouse_id or '(none)'}")
    if status is not None:
        lines.append(f"  state: {status.raw_state or status.state.value}")
        lines.append(f"  error_code: {status.error_code or '(none)'}")
        if status.sql_state:
            lines.append(f"  sql_state: {status.sql_state}")
        message = clip_tail(sanitize_text(status.error_message), _SQL_ERROR_LIMIT)
        lines += _block("message", message)
    if event.stopped is not StopReason.FINAL and event.reason:
        lines.append(f"  why watching stopped: {' '.join(sanitize_text(event.reason).split())}")
    if sql and sql.strip():
        position = sql_position(status.error_message) if status is not None else None
        title = f"SQL (line {position[0]}, pos {position[1]} marked)" if position else "SQL"
        lines += _block(title, "\n".join(marked_sql_lines(sql, position)))
    if event.history:
        lines.append(f"  states seen: {history_text(event.history)}")
    return lines


def statement_short_message(event: StatementEvent) -> str:
    """One line for the exception: the statement, its warehouse, the error code and message's first line."""
    heading = _statement_heading(event)
    status = event.state
    if event.stopped in (StopReason.FINAL, StopReason.KILLED) and status is not None:
        state = status.raw_state or status.state.value
        detail = ": ".join(p for p in (status.error_code, _first_line(status.error_message)) if p)
        return heading + (f"{state}: {detail}" if detail else state)
    return heading + (_first_line(event.reason) or "unknown error")


def warehouse_message(event: WarehouseEvent, timeout: float | None = None) -> str:
    """One line for a warehouse that did not reach its target state (the official wording where it has one).

    :param timeout: the operator's ``timeout``, named when the deadline passed.
    """
    who = f"Databricks SQL warehouse {event.warehouse_id}"
    if event.status == "error":
        return f"Could not watch {who}: {_first_line(event.reason) or 'unknown error'}"
    if event.stopped is StopReason.DEADLINE:
        within = f"within {timeout:g}s" if timeout is not None else "before the deadline"
        return f"{who} did not reach {event.target_state} {within}; last state: {event.last_state}."
    text = f"{who} {_first_line(event.reason) or f'did not reach {event.target_state}'}"
    if event.health:
        text += f" (health: {_first_line(event.health)})"
    return text if text.endswith(".") else text + "."
