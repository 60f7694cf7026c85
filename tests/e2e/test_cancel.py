"""Marking a deferred task failed in Airflow cancels its Databricks run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.helpers import emulator_run
from tests.helpers import wait_for

if TYPE_CHECKING:
    from airflow_dbx_async.testing import AirflowStack, EmulatorProcess


def test_marking_deferred_task_failed_cancels_run(stack: AirflowStack, emulator: EmulatorProcess) -> None:
    dag_id, task_id = "e2e_long_dag", "long_notebook"
    run_id = stack.api.trigger_dag(dag_id)
    stack.api.wait_task_state(dag_id, run_id, task_id, "deferred", timeout=120)
    databricks_run_id = int(stack.api.xcom(dag_id, run_id, task_id, "run_id"))
    wait_for(
        "the notebook run to be RUNNING",
        lambda: emulator_run(emulator, databricks_run_id)["life_cycle_state"] == "RUNNING",
    )
    # Only a trigger running in the triggerer can be told to cancel: wait until it polled once.
    # (A task marked failed before the triggerer picked its trigger up never reaches on_kill.)
    wait_for(
        "the trigger to watch the run in the triggerer",
        lambda: any(
            f"Databricks run {databricks_run_id} is RUNNING" in line
            for line in stack.trigger_log_lines(dag_id, run_id, task_id, 1)
        ),
    )

    stack.api.set_task_state(dag_id, run_id, task_id, "failed")

    wait_for(
        "the Databricks run to terminate",
        lambda: emulator_run(emulator, databricks_run_id)["life_cycle_state"] == "TERMINATED",
    )
    run = emulator_run(emulator, databricks_run_id)
    assert run["result_state"] == "CANCELED", run
    assert stack.api.task_state(dag_id, run_id, task_id) == "failed"
