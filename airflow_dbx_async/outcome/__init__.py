"""What a watched run came to, and what the task says about it.

The trigger's one event (:class:`RunEvent`, or the official provider's event read by
:func:`read_official_event`), the one verdict on it (:func:`decide`: succeed, fail or repair), the
failed tasks' details fetched in the worker through one client (:func:`fetch_details` and its
:data:`SOURCES`: ``runs/get-output``, and the run export of a notebook task), and the report written
from them (:func:`report_lines`, :func:`short_message`). Also what a successful run's notebooks
printed (:func:`after_success`).
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
    partial_failure_lines,
    report_lines,
    short_message,
    trigger_line,
)
from airflow_dbx_async.outcome._notebook_output import after_success
from airflow_dbx_async.outcome._official_events import is_official_event, read_official_event
from airflow_dbx_async.outcome._verdict import (
    NO_REPAIR,
    Action,
    RepairPolicy,
    StopReason,
    Verdict,
    decide,
    matching_reason,
    should_repair,
)

__all__ = (
    "MAX_EVENT_BYTES",
    "MAX_REPORTED_TASKS",
    "NO_REPAIR",
    "SOURCES",
    "Action",
    "EventStatus",
    "FailedTask",
    "RepairPolicy",
    "RunEvent",
    "StopReason",
    "TaskDetails",
    "TaskSource",
    "Verdict",
    "after_success",
    "decide",
    "fetch_details",
    "is_official_event",
    "matching_reason",
    "read_official_event",
    "partial_failure_lines",
    "report_lines",
    "reported_tasks",
    "short_message",
    "should_repair",
    "task_types",
    "trigger_line",
)
