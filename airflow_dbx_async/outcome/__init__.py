"""What a watched run came to, and what the task says about it.

The trigger's one event (:class:`RunEvent`, or the official provider's event read by
:func:`read_official_event`), the one verdict on it (:func:`decide`: succeed, fail or repair), the
failed tasks' details fetched in the worker through one client (:func:`fetch_details` and its
:data:`SOURCES`: ``runs/get-output``, and the run export of a notebook task), and the report written
from them (:func:`report_lines`, :func:`short_message`). Also what a successful run's notebooks
printed (:func:`after_success`). SQL statements and warehouses have their own events
(:class:`StatementEvent`, :class:`WarehouseEvent`), judged by :func:`decide_statement` and reported
through the same report module (:func:`statement_report_lines`, :func:`warehouse_message`).
"""

from __future__ import annotations

from airflow_dbx_async.outcome._events import MAX_EVENT_BYTES, EventStatus, RunEvent
from airflow_dbx_async.outcome._failure_details import (
    MAX_REPORTED_TASKS,
    SOURCES,
    FailedTask,
    TaskDetails,
    TaskSource,
    fetch_details,
    reported_tasks,
    task_types,
)
from airflow_dbx_async.outcome._failure_report import (
    history_text,
    marked_sql_lines,
    partial_failure_lines,
    report_lines,
    short_message,
    sql_position,
    statement_report_lines,
    statement_short_message,
    task_lines,
    trigger_line,
    warehouse_message,
)
from airflow_dbx_async.outcome._notebook_output import after_success
from airflow_dbx_async.outcome._official_events import is_official_event, read_official_event
from airflow_dbx_async.outcome._sql_events import (
    MAX_HISTORY,
    History,
    StatementEvent,
    WarehouseEvent,
    is_official_statement_event,
    read_official_statement_event,
    saw,
)
from airflow_dbx_async.outcome._verdict import (
    NO_REPAIR,
    Action,
    RepairPolicy,
    StopReason,
    Verdict,
    decide,
    decide_statement,
    matching_reason,
    should_repair,
)

__all__ = (
    "MAX_EVENT_BYTES",
    "MAX_HISTORY",
    "MAX_REPORTED_TASKS",
    "NO_REPAIR",
    "SOURCES",
    "Action",
    "EventStatus",
    "FailedTask",
    "History",
    "RepairPolicy",
    "RunEvent",
    "StatementEvent",
    "StopReason",
    "TaskDetails",
    "TaskSource",
    "Verdict",
    "WarehouseEvent",
    "after_success",
    "decide",
    "decide_statement",
    "fetch_details",
    "history_text",
    "is_official_event",
    "is_official_statement_event",
    "marked_sql_lines",
    "matching_reason",
    "read_official_event",
    "read_official_statement_event",
    "partial_failure_lines",
    "report_lines",
    "reported_tasks",
    "saw",
    "short_message",
    "should_repair",
    "sql_position",
    "statement_report_lines",
    "statement_short_message",
    "task_lines",
    "task_types",
    "trigger_line",
    "warehouse_message",
)
