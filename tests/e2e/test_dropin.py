"""Drop-in behaviours on a real Airflow: waiting in the worker with no triggerer, and repair_run."""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.testing import AirflowStack
from airflow_dbx_async.testing._airflow_api import poll
from tests.e2e.conftest import HERE
from tests.e2e.helpers import StateRecorder, emulator_run

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_dbx_async.testing import EmulatorProcess

DONE = {"success", "failed", "upstream_failed"}
REPAIR_JOB_ID = 7701  # the job of tests/e2e/dags/e2e_repair_dag.py


class NoTriggererStack(AirflowStack):
    """API server, scheduler and DAG processor only: a deployment without a triggerer."""

    def start(self, timeout: float = 180.0) -> None:
        self.migrate()
        self.spawn(
            "api-server", "api-server", "--port", str(self.port), "--host", "127.0.0.1", "--workers", "1"
        )
        self.spawn("scheduler", "scheduler", "--skip-serve-logs")
        self.spawn("dag-processor", "dag-processor")
        poll(
            "the API server, scheduler and DAG processor to be healthy",
            lambda: self.api.unhealthy_components() == ["triggerer"] or None,
            timeout,
        )


def test_deferrable_false_runs_the_example_dag_without_a_triggerer(emulator: EmulatorProcess) -> None:
    dag_id, tasks = "databricks_sync_dag", ("submit_run", "run_now")
    stack = NoTriggererStack(
        [HERE / "dags_sync" / "databricks_sync_dag.py"],
        connections={"databricks": emulator.connection_json()},
    )
    with stack:
        stack.wait_dags([dag_id])
        assert not any("triggerer" in proc.name for proc in stack.processes)
        run_id = stack.api.trigger_dag(dag_id)
        recorder = StateRecorder(stack, dag_id, run_id, tasks)
        final = recorder.wait_all(DONE, timeout=240)
        assert final == {"submit_run": "success", "run_now": "success"}, (
            recorder.seen,
            stack.describe_failure(),
        )
        for task_id in tasks:
            assert "deferred" not in recorder.seen[task_id], recorder.seen
            databricks_run_id = int(stack.api.xcom(dag_id, run_id, task_id, "run_id"))
            assert emulator_run(emulator, databricks_run_id)["result_state"] == "SUCCESS"
            log = stack.api.task_log(dag_id, run_id, task_id, 1)
            assert any(f"Databricks run {databricks_run_id} is" in line for line in log), log


def _runs_get(emulator: EmulatorProcess, run_id: int) -> dict[str, Any]:
    url = f"{emulator.url}/api/2.2/jobs/runs/get?run_id={run_id}&include_history=true"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {emulator.token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:  # loopback emulator only
        body: dict[str, Any] = json.loads(answer.read())
    return body


def test_repair_run_fails_once_is_repaired_and_succeeds(
    stack: AirflowStack, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    dag_id, task_id = "e2e_repair_dag", "repaired"
    notebook = {
        "notebook_path": "/Users/airflow@example.com/Flaky_Notebook",
        # Each attempt takes a while, as real ones do: Airflow 3.3's scheduler (LocalExecutor) fails a
        # task whose resumed worker starts before it has processed the deferring worker's exit.
        "base_parameters": {"marker": str(tmp_path / "first-attempt"), "seconds": "20"},
    }
    settings = {"name": "flaky job", "tasks": [{"task_key": "flaky", "notebook_task": notebook}]}
    emulator.admin("POST", "jobs", {"job_id": REPAIR_JOB_ID, "settings": settings})
    stack.wait_dags([dag_id])
    run_id = stack.api.trigger_dag(dag_id)
    state = stack.api.wait_task_state(dag_id, run_id, task_id, DONE, timeout=240)
    log = "\n".join(stack.api.task_log(dag_id, run_id, task_id, 1))
    assert state == "success", log
    runs = [r for r in emulator.runs() if r["job_id"] == REPAIR_JOB_ID]
    assert len(runs) == 1, runs  # one Databricks run ...
    history = _runs_get(emulator, runs[0]["run_id"])["repair_history"]
    assert [entry["type"] for entry in history] == ["ORIGINAL", "REPAIR"]  # ... and one repair
    assert runs[0]["result_state"] == "SUCCESS"
    assert "RuntimeError: first attempt fails on purpose" in log  # the first attempt's failure is reported
    assert "Repairing Databricks run" in log
