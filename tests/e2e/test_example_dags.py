"""The two example DAGs on a real Airflow: deferral, triggerer-side polling and the failure report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.e2e.helpers import StateRecorder, emulator_run

if TYPE_CHECKING:
    from airflow_dbx_async.testing import AirflowStack, EmulatorProcess

DONE = {"success", "failed", "upstream_failed"}


def _error_values(events: list[Any]) -> list[str]:
    """The ``exc_value`` of every exception attached to a structured log event."""
    values = []
    for event in events:
        if isinstance(event, dict):
            for exc in event.get("error_detail") or ():
                values.append(str(exc.get("exc_value")))
    return values


def test_databricks_dag_defers_and_succeeds(stack: AirflowStack, emulator: EmulatorProcess) -> None:
    dag_id, tasks = "databricks_dag", ("submit_run", "run_now")
    run_id = stack.api.trigger_dag(dag_id)
    recorder = StateRecorder(stack, dag_id, run_id, tasks)
    final = recorder.wait_all(DONE)
    assert final == {"submit_run": "success", "run_now": "success"}, (recorder.seen, stack.describe_failure())

    for task_id in tasks:
        log = stack.api.task_log(dag_id, run_id, task_id, 1)
        deferred = "deferred" in recorder.seen[task_id] or any("Pausing task as DEFERRED" in x for x in log)
        assert deferred, (task_id, recorder.seen[task_id], log)
        databricks_run_id = stack.api.xcom(dag_id, run_id, task_id, "run_id")
        assert emulator_run(emulator, int(databricks_run_id))["result_state"] == "SUCCESS"
        # Polling happened in the triggerer: its own log file holds the trigger's progress lines,
        # and the task log served by the API lists that file as a source.
        trigger_lines = stack.trigger_log_lines(dag_id, run_id, task_id, 1)
        assert any(f"Databricks run {databricks_run_id} is" in line for line in trigger_lines), trigger_lines
        assert any(".log.trigger." in line for line in log), log
        assert any(f"Databricks run {databricks_run_id} is" in line for line in log), log

    run_now = emulator_run(emulator, int(stack.api.xcom(dag_id, run_id, "run_now", "run_id")))
    assert run_now["job_id"] == 5


def test_failing_dag_reports_the_notebook_error(stack: AirflowStack, emulator: EmulatorProcess) -> None:
    dag_id, task_id = "databricks_failing_dag", "failing_notebook"
    run_id = stack.api.trigger_dag(dag_id)
    assert stack.api.wait_task_state(dag_id, run_id, task_id, DONE) == "failed"

    events = stack.api.task_log_events(dag_id, run_id, task_id, 1)
    log = "\n".join(stack.api.task_log(dag_id, run_id, task_id, 1))
    run_page_url = stack.api.xcom(dag_id, run_id, task_id, "run_page_url")
    assert run_page_url
    assert run_page_url in log
    assert "ValueError" in log
    assert "Traceback (most recent call last)" in log
    assert "ValueError: Input data is empty: expected at least one row" in log
    assert 'File "Failing_Notebook.py (cell 3)"' in log  # the notebook's own traceback
    assert "Starting the failing notebook" in log  # what the notebook printed
    databricks_run_id = int(stack.api.xcom(dag_id, run_id, task_id, "run_id"))
    assert emulator_run(emulator, databricks_run_id)["result_state"] == "FAILED"

    # The exception that fails the task is one short line; the details are in the log above it.
    messages = _error_values(events)
    assert messages, log
    assert all("\n" not in message and len(message) < 400 for message in messages), messages
    assert any("ValueError" in message for message in messages), messages
