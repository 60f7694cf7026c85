"""Questions answered from the Jobs API reference, each checked against the emulator.

1. run-now / repair with ``notebook_params`` and ``jar_params`` together: 400 ("notebook_params cannot be
   specified in conjunction with jar_params", https://docs.databricks.com/api/workspace/jobs/runnow and
   .../jobs/repairrun).
2. runs/repair ``notebook_params``, ``python_params`` and ``job_parameters`` reach the re-run tasks
   (https://docs.databricks.com/api/workspace/jobs/repairrun).
3. A task with ``max_retries`` waiting for its retry: the failed attempt is ``TERMINATED``/``FAILED``, the
   next attempt (``attempt_number`` + 1) is ``WAITING_FOR_RETRY`` (status ``WAITING``), the parent run is
   ``RUNNING``; the attempt's ``original_attempt_run_id`` is the first attempt
   (https://docs.databricks.com/api/workspace/jobs/getrun, ``RunLifeCycleState``, ``attempt_number``).
   The official ``DatabricksNotebookOperator`` with ``max_retries`` waiting in the worker follows the
   parent run, reports it ``RUNNING`` through the wait and succeeds when the retry does.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.emulator.conftest import notebook, official_hook
from tests.helpers import FakeTI, context

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_dbx_async.emulator import EmulatorHandle
    from tests.emulator.conftest import Api, MakeApi

NB = {"notebook_path": "/Users/me/nb"}


@pytest.mark.asyncio
@pytest.mark.parametrize("endpoint", ["run-now", "repair"])
async def test_notebook_params_with_jar_params_is_refused(make_api: MakeApi, endpoint: str) -> None:
    _, api = await make_api(simulate=True, sim_duration_seconds=0.01)
    job_id = (
        await api.post("jobs/create", {"name": "j", "tasks": [{"task_key": "a", "notebook_task": NB}]})
    )["job_id"]
    body: dict[str, Any] = {"job_id": job_id}
    path = "jobs/run-now"
    if endpoint == "repair":
        run = await api.wait_run((await api.post("jobs/run-now", {"job_id": job_id}))["run_id"])
        body, path = {"run_id": run["run_id"], "rerun_tasks": ["a"]}, "jobs/runs/repair"
    status, answer = await api.call(
        "POST", path, json={**body, "notebook_params": {"x": "1"}, "jar_params": ["y"]}
    )
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert answer["message"] == "notebook_params cannot be specified in conjunction with jar_params."
    status, answer = await api.call("POST", path, json={**body, "python_params": ["naïve"]})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "ASCII" in answer["message"]


async def _outputs(api: Api, run: dict[str, Any], repair_only: bool) -> dict[str, dict[str, Any]]:
    tasks = [t for t in run["tasks"] if not repair_only or t["start_time"] > run["start_time"]]
    latest = {t["task_key"]: t for t in sorted(tasks, key=lambda t: t["start_time"])}
    return {k: await api.get("jobs/runs/get-output", run_id=t["run_id"]) for k, t in latest.items()}


@pytest.mark.asyncio
async def test_repair_parameters_reach_the_rerun_tasks(make_api: MakeApi, workspace: Path) -> None:
    nb = notebook(
        workspace,
        "echo",
        'dbutils.widgets.text("p", "")\ndbutils.widgets.text("jp", "")\n'
        'dbutils.notebook.exit(dbutils.widgets.get("p") + "|" + dbutils.widgets.get("jp"))',
    )
    (workspace / "argv.py").write_text("import sys\nprint(' '.join(sys.argv[1:]))\n", encoding="utf-8")
    _, api = await make_api(workspace=str(workspace))
    tasks = [
        {"task_key": "nb", "notebook_task": {"notebook_path": nb}},
        {"task_key": "py", "spark_python_task": {"python_file": "dbfs:/argv.py"}},
    ]
    job_id = (await api.post("jobs/create", {"name": "params", "tasks": tasks}))["job_id"]
    first = {"job_id": job_id, "notebook_params": {"p": "first"}, "python_params": ["a"]}
    run = await api.wait_run((await api.post("jobs/run-now", first))["run_id"])
    outputs = await _outputs(api, run, repair_only=False)
    assert outputs["nb"]["notebook_output"]["result"] == "first|"
    assert outputs["py"]["logs"] == "a\n"
    repair = {"run_id": run["run_id"], "rerun_tasks": ["nb", "py"], "notebook_params": {"p": "second"}}
    await api.post("jobs/runs/repair", {**repair, "python_params": ["b", "c"]})
    outputs = await _outputs(api, await api.wait_run(run["run_id"]), repair_only=True)
    assert outputs["nb"]["notebook_output"]["result"] == "second|"
    assert outputs["py"]["logs"] == "b c\n"

    settings = {"name": "jp", "tasks": tasks[:1], "parameters": [{"name": "jp", "default": "d"}]}
    job_id = (await api.post("jobs/create", settings))["job_id"]
    run = await api.wait_run((await api.post("jobs/run-now", {"job_id": job_id}))["run_id"])
    assert (await _outputs(api, run, False))["nb"]["notebook_output"]["result"] == "|d"
    repair_id = (await api.post("jobs/runs/repair", {"run_id": run["run_id"], "rerun_tasks": ["nb"]}))[
        "repair_id"
    ]
    await api.wait_run(run["run_id"])
    body = {"run_id": run["run_id"], "rerun_tasks": ["nb"], "latest_repair_id": repair_id}
    await api.post("jobs/runs/repair", {**body, "job_parameters": {"jp": "repaired"}})
    run = await api.wait_run(run["run_id"])
    last = max((t for t in run["tasks"]), key=lambda t: t["start_time"])
    output = await api.get("jobs/runs/get-output", run_id=last["run_id"])
    assert output["notebook_output"]["result"] == "|repaired"


@pytest.mark.asyncio
async def test_parent_and_attempts_while_waiting_for_a_retry(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True, sim_duration_seconds=0.05)
    task = {
        "task_key": "flaky",
        "notebook_task": NB,
        "max_retries": 1,
        "min_retry_interval_millis": 600_000,
        "sim_failing_attempts": 1,
    }
    job_id = (await api.post("jobs/create", {"name": "retry", "tasks": [task]}))["job_id"]
    run_id = (await api.post("jobs/run-now", {"job_id": job_id}))["run_id"]

    async def waiting() -> dict[str, Any]:
        while True:
            run: dict[str, Any] = await api.get("jobs/runs/get", run_id=run_id)
            if len(run["tasks"]) == 2:
                return run
            await asyncio.sleep(0.02)

    run = await asyncio.wait_for(waiting(), 10)
    assert (run["state"]["life_cycle_state"], run["status"]["state"]) == ("RUNNING", "RUNNING")
    assert "result_state" not in run["state"]
    failed, retry = sorted(run["tasks"], key=lambda t: t["attempt_number"])
    assert (failed["attempt_number"], retry["attempt_number"]) == (0, 1)
    assert (failed["state"]["life_cycle_state"], failed["state"]["result_state"]) == ("TERMINATED", "FAILED")
    assert retry["state"]["life_cycle_state"] == "WAITING_FOR_RETRY"
    assert retry["status"]["state"] == "WAITING"
    assert retry["start_time"] == 0
    attempt = await api.get("jobs/runs/get", run_id=retry["run_id"])
    assert attempt["original_attempt_run_id"] == failed["run_id"]
    assert attempt["attempt_number"] == 1
    await api.post("jobs/runs/cancel", {"run_id": run_id})
    assert (await api.wait_run(run_id))["state"]["result_state"] == "CANCELED"


@pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")
def test_official_notebook_operator_in_the_worker_waits_through_the_retry(
    handle: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.providers.databricks.operators.databricks import DatabricksNotebookOperator
    from airflow.sdk import DAG

    hook = official_hook(handle, monkeypatch, "dbx_retry")
    with DAG("retry", schedule=None):
        op = DatabricksNotebookOperator(
            task_id="flaky",
            notebook_path=NB["notebook_path"],
            source="WORKSPACE",
            databricks_conn_id="dbx_retry",
            new_cluster={"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1},
            notebook_params={"sim_failing_attempts": "1", "sim_duration_seconds": "0.05"},
            max_retries=1,
            min_retry_interval_millis=300,
            deferrable=False,
            polling_period_seconds=0.05,  # type: ignore[arg-type]
        )
    # No exception: the first attempt failed, the retry succeeded, and so does the task.
    op.execute(context(FakeTI()))
    assert op.databricks_run_id is not None
    attempts = sorted(hook.get_run_tasks(op.databricks_run_id), key=lambda t: t["attempt_number"])
    assert [(t["attempt_number"], t["state"]["result_state"]) for t in attempts] == [
        (0, "FAILED"),
        (1, "SUCCESS"),
    ]
    # The official operator's log lines (printed by Airflow's logging): the parent run, polled through
    # the failed attempt and the wait for the retry, then the success.
    logged = capsys.readouterr().out
    seen = re.findall(rf"Current state of the databricks run {op.databricks_run_id} is (\w+)", logged)
    assert seen[-1] == "TERMINATED"
    assert set(seen) <= {"PENDING", "RUNNING", "TERMINATING", "TERMINATED"}  # TERMINATING: the run ending
    assert "RUNNING" in seen  # it never judged the failed attempt: it polled the parent through the wait
    assert "Task succeeded. Final state SUCCESS." in logged
