"""The official operators' behaviours, each checked on ours against the emulator."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger
from airflow.sdk.exceptions import TaskDeferred

from airflow_dbx_async.client import ApiError
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.operators import (
    DatabricksRunFailedError,
    DatabricksRunNowOperator,
    DatabricksSubmitRunOperator,
)
from tests.helpers import FakeTI, first_event
from tests.parity.conftest import ParityTI, Workspace, parity_context

# The official provider calls ProvidersManager.hooks, which Airflow 3.3 flags as deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")

NB = {"notebook_path": "/Users/a/nb"}
CLUSTER = {"spark_version": "15.4.x-scala2.12", "num_workers": 1}


def _posts(workspace: Workspace, suffix: str) -> list[Any]:
    return [r.body for r in workspace.recorder.take() if r.method == "POST" and r.path.endswith(suffix)]


def _submit(**kwargs: Any) -> DatabricksSubmitRunOperator:
    return DatabricksSubmitRunOperator(task_id="task", databricks_retry_delay=0, **kwargs)


def _run_now(**kwargs: Any) -> DatabricksRunNowOperator:
    return DatabricksRunNowOperator(task_id="task", databricks_retry_delay=0, **kwargs)


def test_params_fill_empty_dict_slots_of_every_submitted_task(workspace: Workspace) -> None:
    workspace.reset_runs()
    tasks = [
        {"task_key": "a", "notebook_task": NB, "new_cluster": CLUSTER},
        {"task_key": "b", "notebook_task": {**NB, "base_parameters": {"x": "1"}}, "new_cluster": CLUSTER},
        {"task_key": "c", "spark_python_task": {"python_file": "dbfs:/a.py"}, "new_cluster": CLUSTER},
    ]
    _submit(tasks=tasks, params={"p": 5, "none": None}).execute(parity_context(ParityTI()))
    (body,) = _posts(workspace, "runs/submit")
    assert body["tasks"][0]["notebook_task"]["base_parameters"] == {"p": "5"}
    assert body["tasks"][1]["notebook_task"]["base_parameters"] == {"x": "1"}
    assert "parameters" not in body["tasks"][2]["spark_python_task"]
    assert "base_parameters" not in tasks[0]["notebook_task"]  # the templated field is not mutated


def test_params_become_job_parameters_unless_disabled_or_a_legacy_slot_is_used(workspace: Workspace) -> None:
    workspace.reset_runs()
    _run_now(job_id=101, params={"p": 5}).execute(parity_context(ParityTI()))
    _run_now(job_id=101, params={"p": 5}, forward_dag_params=False).execute(parity_context(ParityTI()))
    _run_now(job_id=101, params={"p": 5}, python_params=["x"]).execute(parity_context(ParityTI()))
    forwarded, disabled, legacy = _posts(workspace, "run-now")
    assert forwarded["job_parameters"] == {"p": 5}
    assert "job_parameters" not in disabled
    assert "job_parameters" not in legacy


def test_notebook_params_with_jar_params_are_sent_and_refused_by_databricks(
    workspace: Workspace,
) -> None:
    # Sent as the official operator sends them; the run-now reference says "notebook_params cannot be
    # specified in conjunction with jar_params", so the workspace answers 400 and the task fails.
    workspace.reset_runs()
    op = _run_now(job_id=102, notebook_params={"a": "1"}, jar_params=["x"])
    with pytest.raises(ApiError, match="conjunction with jar_params") as refused:
        op.execute(parity_context(ParityTI()))
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    (body,) = _posts(workspace, "run-now")
    assert (body["notebook_params"], body["jar_params"]) == ({"a": "1"}, ["x"])


@pytest.mark.parametrize(
    ("deferrable", "keys"),
    [(True, ["job_id", "run_id", "run_page_url"]), (False, ["run_id", "run_page_url"])],
)
def test_xcom_keys_follow_the_official_mode(workspace: Workspace, deferrable: bool, keys: list[str]) -> None:
    ti = ParityTI()
    _submit(notebook_task=NB, new_cluster=CLUSTER, deferrable=deferrable).execute(parity_context(ti))
    assert [key for key, _ in ti.pushed] == keys
    assert all(value for _, value in ti.pushed)


def _first_tokens(workspace: Workspace, durable: bool) -> list[str]:
    """The first token each of two tries of one task instance sends."""
    first: list[str] = []
    ti = ParityTI(task_id=f"durable-{durable}")
    for try_number in (1, 2):
        ti.try_number = try_number
        workspace.reset_runs()
        _submit(notebook_task=NB, new_cluster=CLUSTER, durable=durable).execute(parity_context(ti))
        first.append(_posts(workspace, "runs/submit")[0]["idempotency_token"])
    return first


def test_durable_false_starts_a_fresh_run_on_retry(workspace: Workspace) -> None:
    fresh = _first_tokens(workspace, durable=False)
    assert fresh[0] != fresh[1]  # try 2 never probes try 1's run
    durable = _first_tokens(workspace, durable=True)
    assert durable[0] == durable[1]  # try 2 first probes (and would re-attach to) try 1's run


def test_deferrable_false_waits_in_the_worker(workspace: Workspace) -> None:
    workspace.reset_runs()
    task = {"task_key": "slow", "notebook_task": NB, "sim_duration_seconds": 0.3}
    _submit(tasks=[task], deferrable=False).execute(parity_context(ParityTI()))  # no TaskDeferred
    failing = {**task, "sim_result": "FAILED", "sim_error": "ValueError: bad input"}
    with pytest.raises(DatabricksRunFailedError, match="ValueError: bad input"):
        _submit(tasks=[failing], deferrable=False).execute(parity_context(ParityTI()))


def _failing_job(workspace: Workspace, job_id: int) -> None:
    task = {"task_key": "nb", "notebook_task": NB, "sim_result": "FAILED", "sim_error": "ValueError: x"}
    workspace.handle.call(_create_job(workspace, job_id, {"name": f"failing-{job_id}", "tasks": [task]}))


async def _create_job(workspace: Workspace, job_id: int, settings: dict[str, Any]) -> None:
    workspace.handle.state.create_job(settings, job_id=job_id)


def test_repair_run_repairs_once_and_reports_both_attempts(workspace: Workspace) -> None:
    _failing_job(workspace, 201)
    workspace.reset_runs()
    op = _run_now(job_id=201, repair_run=True, deferrable=False, job_parameters={"k": "v"})
    with pytest.raises(DatabricksRunFailedError, match="after a repair") as failed:
        op.execute(parity_context(ParityTI()))
    assert str(failed.value).count("ValueError: x") == 2
    requests = workspace.recorder.take()
    posts = [(r.path.rsplit("/", 1)[-1], r.body) for r in requests if r.method == "POST"]
    assert [name for name, _ in posts] == ["run-now", "repair"]
    assert posts[1][1] == {"run_id": op.run_id, "rerun_all_failed_tasks": True, "job_parameters": {"k": "v"}}


def test_repair_reason_must_match_the_state_message(workspace: Workspace) -> None:
    _failing_job(workspace, 202)
    workspace.reset_runs()
    new_settings = {"Task nb failed": {"timeout_seconds": 60}}
    op = _run_now(
        job_id=202, repair_run=True, deferrable=False, databricks_repair_reason_new_settings=new_settings
    )
    with pytest.raises(DatabricksRunFailedError):
        op.execute(parity_context(ParityTI()))
    paths = [r.path.rsplit("/", 1)[-1] for r in workspace.recorder.take() if r.method == "POST"]
    assert paths == ["run-now", "update", "repair"]
    op = _run_now(
        job_id=202, repair_run=True, deferrable=False, databricks_repair_reason_new_settings={"nope": {}}
    )
    with pytest.raises(DatabricksRunFailedError) as failed:
        op.execute(parity_context(ParityTI()))
    assert "after a repair" not in str(failed.value)
    assert [r.path.rsplit("/", 1)[-1] for r in workspace.recorder.take() if r.method == "POST"] == ["run-now"]


def _slow_job(workspace: Workspace, job_id: int) -> None:
    params = {"sim_duration_seconds": "600"}
    task = {"task_key": "slow", "notebook_task": {**NB, "base_parameters": params}}
    workspace.handle.call(_create_job(workspace, job_id, {"name": f"slow-{job_id}", "tasks": [task]}))


def _late_ti() -> FakeTI:
    """A try that started ten minutes ago: a one-minute execution_timeout has passed already."""
    return ParityTI(start_date=datetime.now(UTC) - timedelta(minutes=10))


def test_a_run_cancelled_at_the_deadline_is_not_repaired_when_deferred(workspace: Workspace) -> None:
    _slow_job(workspace, 204)
    workspace.reset_runs()
    op = _run_now(job_id=204, repair_run=True, execution_timeout=timedelta(minutes=1))
    ti = _late_ti()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(parity_context(ti))
    event = asyncio.run(first_event(deferred.value.trigger))
    assert "execution_timeout" in event.reason
    with pytest.raises(DatabricksRunFailedError, match="execution_timeout"):
        op.execute_complete(parity_context(ti), event.to_payload())  # ends: no repair, no new deferral
    posts = [(r.path.rsplit("/", 1)[-1], r.body) for r in workspace.recorder.take() if r.method == "POST"]
    assert posts == [("run-now", posts[0][1]), ("cancel", {"run_id": op.run_id})]


def test_a_run_cancelled_at_the_deadline_is_not_repaired_in_the_worker(workspace: Workspace) -> None:
    _slow_job(workspace, 205)
    workspace.reset_runs()
    op = _run_now(job_id=205, repair_run=True, deferrable=False, execution_timeout=timedelta(minutes=1))
    with pytest.raises(DatabricksRunFailedError, match="execution_timeout"):
        op.execute(parity_context(_late_ti()))
    posts = [(r.path.rsplit("/", 1)[-1], r.body) for r in workspace.recorder.take() if r.method == "POST"]
    assert posts == [("run-now", posts[0][1]), ("cancel", {"run_id": op.run_id})]


def _official_event(run_id: int, repair_run: bool = False) -> dict[str, Any]:
    trigger = DatabricksExecutionTrigger(
        run_id=run_id,
        databricks_conn_id="databricks_default",
        polling_period_seconds=0,
        repair_run=repair_run,
    )

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first())


def _submitted_run(task: dict[str, Any]) -> int:
    op = _submit(tasks=[task], wait_for_termination=False)
    op.execute(parity_context(ParityTI()))
    assert op.run_id is not None
    return op.run_id


def test_resume_from_the_official_trigger_success_and_failure(workspace: Workspace) -> None:
    ok = _official_event(_submitted_run({"task_key": "ok", "notebook_task": NB}))
    assert isinstance(ok["run_state"], str)
    assert "status" not in ok
    _submit(notebook_task=NB).execute_complete(parity_context(ParityTI()), ok)
    bad_task = {"task_key": "bad", "notebook_task": NB, "sim_error": "ValueError: swapped"}
    bad = _official_event(_submitted_run(bad_task))
    assert bad["errors"][0]["error"] == "ValueError: swapped"
    with pytest.raises(DatabricksRunFailedError, match="task bad: ValueError: swapped"):
        _submit(notebook_task=NB).execute_complete(parity_context(ParityTI()), bad)


def test_resume_from_the_official_trigger_with_repair_flag(workspace: Workspace) -> None:
    _failing_job(workspace, 203)
    op = _run_now(job_id=203, wait_for_termination=False)
    op.execute(parity_context(ParityTI()))
    assert op.run_id is not None
    event = _official_event(op.run_id, repair_run=True)
    workspace.reset_runs()
    resumed = _run_now(job_id=203, repair_run=True)
    with pytest.raises(TaskDeferred) as deferred:
        resumed.execute_complete(parity_context(ParityTI()), event)
    assert not deferred.value.kwargs  # the repair travels with the trigger, not in next_kwargs
    carried = deferred.value.trigger.serialize()[1]
    assert (carried["repairs"], len(carried["earlier_failures"])) == (1, 1)
    assert [r.path.rsplit("/", 1)[-1] for r in workspace.recorder.take() if r.method == "POST"] == ["repair"]
    without_flag = {**_official_event(op.run_id), "repair_run": False}
    with pytest.raises(DatabricksRunFailedError) as failed:
        _run_now(job_id=203, repair_run=True).execute_complete(parity_context(ParityTI()), without_flag)
    assert "after a repair" not in str(failed.value)
    assert [r.path.rsplit("/", 1)[-1] for r in workspace.recorder.take() if r.method == "POST"] == []


FLAKY = Path(__file__).resolve().parents[1] / "e2e" / "workspace" / "Users" / "airflow@example.com"


def test_deferred_repair_succeeds_with_one_run_and_one_repair(tmp_path: Path) -> None:
    """Real notebook execution: the first attempt fails, the repaired one succeeds (two deferrals)."""
    workspace_dir = tmp_path / "workspace" / "Users" / "airflow@example.com"
    workspace_dir.mkdir(parents=True)
    shutil.copy(FLAKY / "Flaky_Notebook.py", workspace_dir)
    notebook = {
        "notebook_path": "/Users/airflow@example.com/Flaky_Notebook",
        "base_parameters": {"marker": str(tmp_path / "marker")},
    }
    server = EmulatorServer(EmulatorConfig(workspace=tmp_path / "workspace"))
    server.state.create_job(
        {"name": "flaky", "tasks": [{"task_key": "flaky", "notebook_task": notebook}]}, job_id=7
    )
    with server.start_in_thread() as handle, pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "AIRFLOW_CONN_FLAKY",
            json.dumps({"conn_type": "databricks", "host": handle.url, "password": handle.token}),
        )
        op = _run_now(job_id=7, repair_run=True, databricks_conn_id="flaky", polling_period_seconds=1)
        ti = ParityTI()
        with pytest.raises(TaskDeferred) as first:
            op.execute(parity_context(ti))
        failed = asyncio.run(first_event(first.value.trigger))
        assert failed.status == "failed"
        with pytest.raises(TaskDeferred) as second:
            op.execute_complete(parity_context(ti), failed.to_payload())
        assert not second.value.kwargs  # the repair travels with the trigger and comes back in its event
        succeeded = asyncio.run(first_event(second.value.trigger))
        assert succeeded.repairs == 1
        op.execute_complete(parity_context(ti), succeeded.to_payload())
        (run,) = handle.state.runs.values()
        assert [entry["type"] for entry in run.repair_history] == ["REPAIR"]  # one run, one repair
    official_keys = [key for key, _ in ti.pushed if key in ("job_id", "run_id", "run_page_url")]
    assert official_keys == ["job_id", "run_id", "run_page_url"] * 2  # again after the repair, as official


def test_openlineage_without_the_provider_changes_nothing_and_logs_one_line(
    workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    workspace.reset_runs()
    with caplog.at_level("INFO", logger="airflow_dbx_async.operators._forwarding"):
        _submit(
            notebook_task=NB,
            new_cluster=CLUSTER,
            openlineage_inject_parent_job_info=True,
            openlineage_inject_transport_info=True,
        ).execute(parity_context(ParityTI()))
        _run_now(job_id=101, openlineage_inject_parent_job_info=True).execute(parity_context(ParityTI()))
    submitted = _posts(workspace, "runs/submit")
    workspace.reset_runs()
    assert submitted[0]["notebook_task"] == NB
    assert "spark_conf" not in submitted[0]["new_cluster"]
    lines = [r.getMessage() for r in caplog.records if r.name == "airflow_dbx_async.operators._forwarding"]
    assert len(lines) == 2
    assert all("OpenLineage provider is not installed" in line for line in lines)
