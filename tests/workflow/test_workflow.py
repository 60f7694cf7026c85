"""Notebook and task operators, and the workflow task group, against the emulator (simulated mode)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.operators import DatabricksConfigError, DatabricksRunFailedError
from airflow_dbx_async.task_operators import DatabricksNotebookOperator, DatabricksTaskOperator
from airflow_dbx_async.task_triggers import DatabricksTaskRunTrigger
from airflow_dbx_async.triggers import DatabricksRunTrigger
from airflow_dbx_async.workflow import XCOM_TASK_KEYS_KEY, DatabricksWorkflowTaskGroup
from tests.compat import TaskDeferred
from tests.helpers import CONN_ID, FakeTI, context, first_event, messages

CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
JOB_CLUSTERS = [{"job_cluster_key": "shared", "new_cluster": CLUSTER}]


def _task(dag: DAG, task_id: str) -> Any:
    return dag.get_task(task_id)


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    config = EmulatorConfig(simulate=True, sim_duration_seconds=0.2)
    with EmulatorServer(config).start_in_thread() as handle:
        body = {"conn_type": "databricks", "host": handle.url, "password": handle.token}
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(body))
        yield handle


def notebook(task_id: str, **kwargs: Any) -> DatabricksNotebookOperator:
    params: dict[str, Any] = {
        "task_id": task_id,
        "notebook_path": f"/Shared/{task_id}",
        "source": "WORKSPACE",
        "databricks_conn_id": CONN_ID,
        "databricks_retry_delay": 0,
    }
    params.update(kwargs)
    return DatabricksNotebookOperator(**params)


def workflow_dag(failing: str = "") -> tuple[DAG, Any]:
    with DAG("wf_dag", schedule=None) as dag:
        with DatabricksWorkflowTaskGroup(
            group_id="wf",
            databricks_conn_id=CONN_ID,
            job_clusters=JOB_CLUSTERS,
            notebook_packages=[{"pypi": {"package": "simplejson"}}],
            notebook_params={"run_date": "2026-01-01"},
        ) as group:
            first = notebook("first", job_cluster_key="shared")
            params = {"sim_error": "ValueError: boom"} if failing else {}
            second = notebook("second", job_cluster_key="shared", notebook_params=params)
            third = notebook("third", job_cluster_key="shared", notebook_params={"sim_duration_seconds": 3})
            first >> [second, third]
    return dag, group


def test_standalone_notebook_body_and_defer(emulator: Any) -> None:
    op = notebook("nb", new_cluster=CLUSTER, execution_timeout=timedelta(minutes=5))
    assert op.build_payload() == {
        "run_name": op.databricks_task_key,
        "timeout_seconds": 300,
        "email_notifications": {},
        "notebook_task": {"notebook_path": "/Shared/nb", "source": "WORKSPACE", "base_parameters": {}},
        "libraries": [],
        "new_cluster": CLUSTER,
    }
    ti = FakeTI(task_id="nb")
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context(ti))
    assert isinstance(deferred.value.trigger, DatabricksRunTrigger)
    assert not isinstance(deferred.value.trigger, DatabricksTaskRunTrigger)
    assert [key for key, _ in ti.pushed] == ["run_id", "run_page_url"]
    assert op.operator_extra_links[0].name == "See Databricks Job Run"


def test_cluster_is_required_before_any_request() -> None:
    with pytest.raises(DatabricksConfigError, match="new_cluster"):
        notebook("nb").build_payload()
    with pytest.raises(DatabricksConfigError, match="existing_cluster_id"):
        notebook("nb", new_cluster=CLUSTER, existing_cluster_id="abc").build_payload()


def test_task_operator_with_retries_submits_one_task(emulator: Any) -> None:
    op = DatabricksTaskOperator(
        task_id="py",
        task_config={"spark_python_task": {"python_file": "dbfs:/x.py"}},
        existing_cluster_id="0101-cluster",
        max_retries="2",
        databricks_conn_id=CONN_ID,
    )
    assert op.build_payload() == {
        "run_name": op.databricks_task_key,
        "tasks": [
            {
                "spark_python_task": {"python_file": "dbfs:/x.py"},
                "task_key": op.databricks_task_key,
                "max_retries": 2,
                "existing_cluster_id": "0101-cluster",
            }
        ],
    }


def test_not_deferrable_waits_in_the_worker_and_reports(emulator: Any, logs: list[Any]) -> None:
    op = notebook(
        "nb",
        new_cluster=CLUSTER,
        deferrable=False,
        polling_period_seconds=1,
        notebook_params={"sim_error": "ValueError: bad input"},
    )
    with pytest.raises(DatabricksRunFailedError, match="bad input"):
        op.execute(context(FakeTI(task_id="nb")))
    assert any("ValueError: bad input" in line for line in messages(logs, "error"))


def test_group_builds_the_job_and_launches_once(emulator: Any) -> None:
    dag, _ = workflow_dag()
    launch = _task(dag, "wf.launch")
    spec = launch.create_workflow_json()
    assert spec["name"] == "wf_dag.wf"
    assert spec["job_clusters"] == JOB_CLUSTERS
    tasks = {t["notebook_task"]["notebook_path"]: t for t in spec["tasks"]}
    first, second = tasks["/Shared/first"], tasks["/Shared/second"]
    assert second["depends_on"] == [{"task_key": first["task_key"]}]
    assert second["job_cluster_key"] == "shared"
    assert second["libraries"] == [{"pypi": {"package": "simplejson"}}]
    assert second["notebook_task"]["base_parameters"] == {"run_date": "2026-01-01"}
    assert tasks["/Shared/third"]["notebook_task"]["base_parameters"]["run_date"] == "2026-01-01"
    assert set(_task(dag, "wf.first").upstream_task_ids) == {"wf.launch"}

    ti = FakeTI(dag_id="wf_dag", task_id="wf.launch")
    result = launch.execute(context(ti))
    again = launch.execute(context(FakeTI(dag_id="wf_dag", task_id="wf.launch", try_number=2)))
    assert again == result
    assert result["conn_id"] == CONN_ID
    state = emulator.server.state
    assert len(state.jobs) == 1
    assert len(state.runs) == 1
    keys = dict(ti.pushed)[XCOM_TASK_KEYS_KEY]
    assert keys["wf.second"] == _task(dag, "wf.second").databricks_task_key


def test_member_defers_on_its_task_run_and_reports_its_error(emulator: Any) -> None:
    dag, _ = workflow_dag(failing="second")
    metadata = _task(dag, "wf.launch").execute(context(FakeTI(dag_id="wf_dag", task_id="wf.launch")))
    member = _task(dag, "wf.second")
    member.workflow_run_metadata = metadata
    ti = FakeTI(dag_id="wf_dag", task_id="wf.second")
    with pytest.raises(TaskDeferred) as deferred:
        member.execute(context(ti))
    trigger = deferred.value.trigger
    assert isinstance(trigger, DatabricksTaskRunTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_dbx_async.triggers.DatabricksTaskRunTrigger"
    (run,) = emulator.server.state.runs.values()
    task_runs = {t.task_key: t.run_id for t in run.tasks}
    assert kwargs["run_id"] == task_runs[member.databricks_task_key]
    assert ti.pushed[0][0] == "databricks_job_run_link"
    assert [link.name for link in member.operator_extra_links] == [
        "See Databricks Job Run",
        "Repair a single task",
    ]


@pytest.mark.asyncio
async def test_task_run_trigger_reports_only_its_task(emulator: Any, logs: list[Any]) -> None:
    dag, _ = workflow_dag(failing="second")
    launch = _task(dag, "wf.launch")
    metadata = await asyncio.to_thread(launch.execute, context(FakeTI(dag_id="wf_dag", task_id="wf.launch")))
    events = {}
    for task_id in ("wf.second", "wf.third"):
        member = _task(dag, task_id)
        member.workflow_run_metadata = metadata
        with pytest.raises(TaskDeferred) as deferred:
            await asyncio.to_thread(member.execute, context(FakeTI(dag_id="wf_dag", task_id=task_id)))
        events[task_id] = await first_event(deferred.value.trigger)
    failed, succeeded = events["wf.second"], events["wf.third"]
    assert failed.status == "failed"
    (task,) = failed.failed_tasks
    assert task.task_key == _task(dag, "wf.second").databricks_task_key
    assert succeeded.status == "success"
    resumed = _task(dag, "wf.second")
    resumed.databricks_conn_id = "databricks_default"  # as re-created on resume: the group's conn comes back
    resume_context = context(FakeTI(dag_id="wf_dag", task_id="wf.second"))
    with pytest.raises(DatabricksRunFailedError, match="ValueError: boom"):  # the worker fetched the output
        await asyncio.to_thread(resumed.execute_complete, resume_context, failed.to_payload())
    assert resumed.databricks_conn_id == CONN_ID
    assert not [line for line in messages(logs) if "is not defined" in line]


def test_example_workflow_dag_shape() -> None:
    from pathlib import Path

    from tests.compat import DagBag

    examples = Path(__file__).resolve().parents[2] / "example_dags"
    bag = DagBag(dag_folder=str(examples / "databricks_workflow_dag.py"))
    assert bag.import_errors == {}
    dag = bag.dags["databricks_workflow_dag"]
    launch = _task(dag, "workflow.launch")
    members = {"workflow.extract", "workflow.check_input", "workflow.report"}
    assert launch.downstream_task_ids == members
    assert _task(dag, "workflow.extract").downstream_task_ids == {"workflow.check_input", "workflow.report"}
    spec = launch.create_workflow_json()
    assert [t["job_cluster_key"] for t in spec["tasks"]] == ["workflow_cluster"] * 3
    assert spec["tags"] == {"owner": "airflow"}
