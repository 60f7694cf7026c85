"""The SQL example DAG on a real Airflow: a warehouse start and statements waited for in the triggerer.

A passing statement pushes the official XCom key (``statement_id``); a failing one fails its task with
one line, and the served task log shows Databricks' error with the failing line of the SQL marked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.e2e.helpers import StateRecorder

if TYPE_CHECKING:
    from airflow_dbx_async.testing import AirflowStack, EmulatorProcess

DONE = {"success", "failed", "upstream_failed"}
DAG_ID = "databricks_sql_dag"
TASKS = ("start_warehouse", "load_orders", "count_orders", "misspelt_column")


def _statement(emulator: EmulatorProcess, statement_id: str) -> dict[str, Any]:
    listed = emulator.admin("GET", "statements")["statements"]
    found: dict[str, Any] = next(s for s in listed if s["statement_id"] == statement_id)
    return found


def _error_values(events: list[Any]) -> list[str]:
    return [
        str(exc.get("exc_value"))
        for event in events
        if isinstance(event, dict)
        for exc in event.get("error_detail") or ()
    ]


def test_sql_dag_runs_statements_in_the_triggerer_and_marks_the_failing_line(
    stack: AirflowStack, emulator: EmulatorProcess
) -> None:
    run_id = stack.api.trigger_dag(DAG_ID)
    recorder = StateRecorder(stack, DAG_ID, run_id, TASKS)
    final = recorder.wait_all(DONE)
    expected = {"start_warehouse": "success", "load_orders": "success", "count_orders": "success"}
    assert final == {**expected, "misspelt_column": "failed"}, (recorder.seen, stack.describe_failure())

    for task_id in ("load_orders", "count_orders"):
        statement_id = stack.api.xcom(DAG_ID, run_id, task_id, "statement_id")
        assert _statement(emulator, statement_id)["state"] == "SUCCEEDED"
        task_lines = stack.api.task_log(DAG_ID, run_id, task_id, 1)
        deferred = "deferred" in recorder.seen[task_id] or any(
            "Pausing task as DEFERRED" in x for x in task_lines
        )
        assert deferred, (task_id, recorder.seen[task_id], task_lines)

    failed_id = stack.api.xcom(DAG_ID, run_id, "misspelt_column", "statement_id")
    assert _statement(emulator, failed_id)["state"] == "FAILED"
    events = stack.api.task_log_events(DAG_ID, run_id, "misspelt_column", 1)
    lines = stack.api.task_log(DAG_ID, run_id, "misspelt_column", 1)
    log = "\n".join(lines)
    assert failed_id in log
    assert "d0e1f2a3b4c5d6e7" in log  # the warehouse
    assert "BAD_REQUEST" in log
    assert "no such column: itme (line 2, pos 7)" in log
    # The SQL, numbered, the failing line flagged and a caret under the failing token; each report line
    # is one log event, so both lines carry the same prefix.
    flagged = [i for i, line in enumerate(lines) if "> 2 " in line and " itme" in line]
    assert flagged, log
    line, below = lines[flagged[0]], lines[flagged[0] + 1]
    assert below.split("|", 1)[1].split()[0] == "^", (line, below)
    assert below.index("^") == line.index("itme"), (line, below)
    assert "SQL (line 2, pos 7 marked)" in log
    assert "states seen: PENDING" in log
    messages = _error_values(events)
    assert messages, log
    assert all("\n" not in message and len(message) < 400 for message in messages), messages
    assert any("itme" in message for message in messages), messages
