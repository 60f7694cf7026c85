"""The unmodified databricks-sdk and the official Airflow DatabricksHook work against the emulator."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorHandle, EmulatorServer
from tests.emulator.conftest import DEMO, decode_export, official_hook, printed

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

QUICKSTART = "/Users/airflow@example.com/Quickstart_Notebook"
FAILING = "/Users/airflow@example.com/Failing_Notebook"
SLEEPER = "/Users/airflow@example.com/Sleeper"
TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorHandle]:
    workspace = tmp_path / "workspace"
    shutil.copytree(DEMO, workspace)
    sleeper = "# Databricks notebook source\nimport time\nprint('sleeping')\ntime.sleep(60)\n"
    (workspace / "Users" / "airflow@example.com" / "Sleeper.py").write_text(sleeper, encoding="utf-8")
    handle = EmulatorServer(EmulatorConfig(workspace=workspace)).start_in_thread()
    yield handle
    handle.stop()


def _wait(get: Any, run_id: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = get(run_id)
        if run["state"]["life_cycle_state"] in TERMINAL:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def test_databricks_sdk_scenario(emulator: EmulatorHandle) -> None:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import jobs

    w = WorkspaceClient(host=emulator.url, token=emulator.token)
    nb = jobs.NotebookTask(notebook_path=QUICKSTART)
    created = w.jobs.create(name="sdk job", tasks=[jobs.Task(task_key="quick", notebook_task=nb)])
    assert created.job_id is not None
    assert [j.job_id for j in w.jobs.list(name="SDK JOB")] == [created.job_id]
    run = w.jobs.run_now(job_id=created.job_id, notebook_params={"Variable": "sdk"}).result(
        timedelta(seconds=30)
    )
    assert run.state is not None
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.tasks is not None
    output = w.jobs.get_run_output(run.tasks[0].run_id)  # type: ignore[arg-type]
    assert output.notebook_output is not None
    assert output.notebook_output.result == "ok"
    assert output.logs is None  # not given for notebook tasks; the prints are in the export
    exported = w.jobs.export_run(run.tasks[0].run_id, views_to_export=jobs.ViewsToExport.CODE)  # type: ignore[arg-type]
    assert exported.views is not None
    assert exported.views[0].type == jobs.ViewType.NOTEBOOK
    assert "Variable = sdk" in printed(decode_export(str(exported.views[0].content)))

    failing = [jobs.SubmitTask(task_key="fail", notebook_task=jobs.NotebookTask(notebook_path=FAILING))]
    failed = w.jobs.submit(run_name="sdk failing", tasks=failing).result(timedelta(seconds=30))
    assert failed.state is not None
    assert failed.state.result_state == jobs.RunResultState.FAILED
    assert failed.tasks is not None
    out = w.jobs.get_run_output(failed.tasks[0].run_id)  # type: ignore[arg-type]
    assert out.error == "ValueError: Input data is empty: expected at least one row"
    assert out.error_trace is not None
    assert "Traceback" in out.error_trace

    sleeping = [jobs.SubmitTask(task_key="sleep", notebook_task=jobs.NotebookTask(notebook_path=SLEEPER))]
    waiter = w.jobs.submit(run_name="sdk sleeper", tasks=sleeping)
    cancelled = w.jobs.cancel_run(waiter.run_id).result(timedelta(seconds=30))
    assert cancelled.state is not None
    assert cancelled.state.result_state == jobs.RunResultState.CANCELED

    listed = [r.run_id for r in w.jobs.list_runs(job_id=created.job_id)]
    assert listed == [run.run_id]
    assert len(list(w.jobs.list_runs(completed_only=True))) == 3

    repaired = w.jobs.repair_run(run_id=failed.run_id, rerun_tasks=["fail"]).result(timedelta(seconds=30))  # type: ignore[arg-type]
    assert repaired.tasks is not None
    assert len(repaired.tasks) == 2
    history = w.jobs.get_run(failed.run_id, include_history=True)  # type: ignore[arg-type]
    assert [h.type.value for h in history.repair_history or [] if h.type] == ["ORIGINAL", "REPAIR"]


# The provider itself still calls ProvidersManager.hooks, which Airflow 3.3 flags as deprecated.
@pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")
def test_official_airflow_hook_scenario(emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.databricks.hooks.databricks import RunState

    hook = official_hook(emulator, monkeypatch, "dbx_emulator", retry_limit=3)

    job_id = hook.create_job(
        {"name": "airflow job", "tasks": [{"task_key": "q", "notebook_task": {"notebook_path": QUICKSTART}}]}
    )
    assert hook.find_job_id_by_name("airflow job") == job_id
    run_id = hook.run_now({"job_id": job_id, "notebook_params": {"Variable": "af"}})
    run = _wait(hook.get_run, run_id)
    state = hook.get_run_state(run_id)
    assert isinstance(state, RunState)
    assert state.is_successful
    assert hook.get_run_page_url(run_id) == run["run_page_url"]
    output = hook.get_run_output(run["tasks"][0]["run_id"])
    assert output["notebook_output"]["result"] == "ok"

    # The operator's legacy single-task shape, numbers as strings (normalise_json_content).
    submit = {
        "run_name": "failing_notebook",
        "notebook_task": {"notebook_path": FAILING},
        "timeout_seconds": "3600",
    }
    failed_id = hook.submit_run(submit)
    failed = _wait(hook.get_run, failed_id)
    assert failed["tasks"][0]["task_key"] == "failing_notebook"
    assert hook.get_run_state(failed_id).result_state == "FAILED"
    error = hook.get_run_output(failed["tasks"][0]["run_id"])["error"]
    assert error == "ValueError: Input data is empty: expected at least one row"

    sleeper_id = hook.submit_run({"run_name": "sleeper", "notebook_task": {"notebook_path": SLEEPER}})
    hook.cancel_run(sleeper_id)
    assert _wait(hook.get_run, sleeper_id)["state"]["result_state"] == "CANCELED"

    assert hook.list_jobs(job_name="airflow job")[0]["job_id"] == job_id
    assert asyncio.run(_async_checks(hook, failed_id, failed["tasks"][0]["run_id"])) == "FAILED"
    assert hook.get_latest_repair_id(failed_id) is None
    repair_id = hook.repair_run(
        {"run_id": failed_id, "rerun_tasks": ["failing_notebook"], "latest_repair_id": None}
    )
    _wait(hook.get_run, failed_id)
    assert hook.get_latest_repair_id(failed_id) == repair_id


async def _async_checks(hook: Any, run_id: int, task_run_id: int) -> str:
    """The trigger path of the official hook sends GET parameters as a JSON body."""
    async with hook:
        state = await hook.a_get_run_state(run_id)
        output = await hook.a_get_run_output(task_run_id)
        assert output["error"].startswith("ValueError")
        assert (await hook.a_get_run_page_url(run_id)).endswith(f"/run/{run_id}")
    return str(state.result_state)


def test_databricks_sdk_oauth_m2m() -> None:
    from databricks.sdk import WorkspaceClient

    with EmulatorServer(EmulatorConfig(simulate=True)).start_in_thread() as handle:
        w = WorkspaceClient(host=handle.url, client_id="emulator-sp", client_secret="emulator-secret")
        assert list(w.jobs.list_runs()) == []
        requests = handle.state.stats.requests
    assert requests["POST /oidc/v1/token"] == 1
    assert requests["GET /api/2.2/jobs/runs/list"] == 1
