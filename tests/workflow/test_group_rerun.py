"""A workflow group's launch task: a clear runs the group again, a retry re-attaches; parameter values."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from airflow.sdk import DAG

from airflow_dbx_async.operators._idempotency import TaskIdentity, derive_key, make_token
from airflow_dbx_async.workflow import DatabricksWorkflowTaskGroup
from tests.helpers import CONN_ID, FakeTI
from tests.workflow.test_workflow import JOB_CLUSTERS, _task, emulator, notebook, workflow_dag

__all__ = ("emulator",)


def _context(clear_number: int = 0, **ti: Any) -> Any:
    fields = {"dag_id": "wf_dag", "task_id": "wf.launch", **ti}
    return {"ti": FakeTI(**fields), "dag_run": SimpleNamespace(clear_number=clear_number)}


def test_a_clear_of_the_dag_run_starts_a_new_job_run(emulator: Any) -> None:
    with DAG("wf_dag", schedule=None) as dag:
        with DatabricksWorkflowTaskGroup(
            group_id="wf", databricks_conn_id=CONN_ID, job_clusters=JOB_CLUSTERS, max_concurrent_runs=5
        ):
            notebook("nb", job_cluster_key="shared", notebook_params={"sim_duration_seconds": 30})
    launch = _task(dag, "wf.launch")
    first = launch.execute(_context())
    retry = launch.execute(_context(try_number=2))
    assert retry == first  # a retry of the launch task re-attaches to the job run still going
    cleared = launch.execute(_context(clear_number=1, try_number=3))
    assert cleared["run_id"] != first["run_id"]  # the group runs again
    assert len(emulator.server.state.runs) == 2
    again = launch.execute(_context(clear_number=1, try_number=4))
    assert again == cleared


def test_the_launch_token_is_keyed_and_counts_clears(emulator: Any) -> None:
    dag, _ = workflow_dag()
    launch = _task(dag, "wf.launch")
    launch.execute(_context(clear_number=2))
    (run,) = emulator.server.state.runs.values()
    identity = TaskIdentity("wf_dag", "wf.launch", "manual__2026-01-01", -1, clear_number=2)
    keyed = make_token(replace(identity, key=derive_key(emulator.token)), 1)
    assert run.idempotency_token == keyed
    assert run.idempotency_token != make_token(identity, 1)


def test_a_boolean_group_parameter_reaches_the_notebook_as_true(emulator: Any) -> None:
    with DAG("wf_bool", schedule=None) as dag:
        with DatabricksWorkflowTaskGroup(
            group_id="wf",
            databricks_conn_id=CONN_ID,
            job_clusters=JOB_CLUSTERS,
            notebook_params={"flag": True},
        ):
            notebook("nb", job_cluster_key="shared")
    launch = _task(dag, "wf.launch")
    assert launch.run_now_json()["notebook_params"] == {"flag": "true"}
    spec = launch.create_workflow_json()
    (task,) = spec["tasks"]
    assert task["notebook_task"]["base_parameters"] == {"flag": "true"}
    launch.execute({"ti": FakeTI(dag_id="wf_bool", task_id="wf.launch")})
    (run,) = emulator.server.state.runs.values()
    (task_run,) = run.tasks
    assert task_run.spec["notebook_task"]["base_parameters"]["flag"] == "true"
