"""A DAG written for the official provider, with only the import changed: every operator parameter.

It uses each constructor parameter of both official operators, ``default_args``, and dynamic task
mapping with ``.partial(...).expand(...)``, plus the constructions that used to break after the swap
(a pipeline by name, ``polling_period_seconds=0``) and the jobs-as-code and repos operators; the parity
tests load it with a ``DagBag``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_dbx_async.operators import (
    DatabricksCreateJobsOperator,
    DatabricksReposCreateOperator,
    DatabricksReposDeleteOperator,
    DatabricksReposUpdateOperator,
    DatabricksRunNowOperator,
    DatabricksSubmitRunOperator,
)

NOTEBOOK = {"notebook_path": "/Users/airflow@example.com/Quickstart_Notebook"}
CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
GIT = {"git_url": "https://github.com/example/repo", "git_provider": "gitHub", "git_branch": "main"}

default_args = {
    "databricks_conn_id": "databricks",
    "polling_period_seconds": 10,
    "databricks_retry_limit": 5,
    "databricks_retry_delay": 2,
    "durable": False,
    "deferrable": True,
    "retries": 1,
}

with DAG(
    dag_id="official_parameters_dag",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=default_args,
    params={"env": "dev"},
) as dag:
    submit_all = DatabricksSubmitRunOperator(
        task_id="submit_all",
        json={"timeout_seconds": 60},
        tasks=None,
        spark_jar_task=None,
        notebook_task=NOTEBOOK,
        spark_python_task=None,
        spark_submit_task=None,
        pipeline_task=None,
        dbt_task=None,
        new_cluster=CLUSTER,
        existing_cluster_id=None,
        libraries=[{"pypi": {"package": "simplejson"}}],
        environments=None,
        run_name="nightly-{{ ds }}",
        timeout_seconds=3600,
        databricks_conn_id="databricks",
        polling_period_seconds=30,
        databricks_retry_limit=3,
        databricks_retry_delay=1,
        databricks_retry_args={"reraise": True},
        do_xcom_push=True,
        idempotency_token="{{ run_id }}",
        access_control_list=[{"user_name": "a@example.com", "permission_level": "CAN_VIEW"}],
        wait_for_termination=True,
        git_source=GIT,
        performance_target="STANDARD",
        deferrable=False,
        openlineage_inject_parent_job_info=True,
        openlineage_inject_transport_info=True,
        durable=True,
    )
    run_now_all = DatabricksRunNowOperator(
        task_id="run_now_all",
        job_id="5",
        job_name=None,
        job_parameters=None,
        json={"queue": {"enabled": True}},
        dbt_commands=None,
        notebook_params={"Variable": "{{ ds }}"},
        python_params=["a"],
        jar_params=["b"],
        spark_submit_params=["--verbose"],
        python_named_params={"x": "1"},
        idempotency_token=None,
        performance_target="PERFORMANCE_OPTIMIZED",
        databricks_conn_id="databricks",
        polling_period_seconds=30,
        databricks_retry_limit=3,
        databricks_retry_delay=1,
        databricks_retry_args=None,
        do_xcom_push=True,
        wait_for_termination=True,
        deferrable=True,
        openlineage_inject_parent_job_info=False,
        repair_run=True,
        databricks_repair_reason_new_settings={"Cluster terminated": {"timeout_seconds": 600}},
        cancel_previous_runs=True,
        forward_dag_params=False,
        durable=False,
    )
    by_name = DatabricksRunNowOperator(task_id="by_name", job_name="Quickstart job", forward_dag_params=True)
    mapped_submit = DatabricksSubmitRunOperator.partial(
        task_id="mapped_submit", new_cluster=CLUSTER, durable=False
    ).expand(notebook_task=[NOTEBOOK, {**NOTEBOOK, "base_parameters": {"day": "1"}}])
    mapped_run_now = DatabricksRunNowOperator.partial(
        task_id="mapped_run_now", job_id=5, repair_run=True
    ).expand(job_parameters=[{"a": "1"}, {"a": "2"}])

    by_pipeline_name = DatabricksSubmitRunOperator(
        task_id="by_pipeline_name",
        pipeline_task={"pipeline_name": "Nightly pipeline"},
        polling_period_seconds=0,
    )
    create_job = DatabricksCreateJobsOperator(
        task_id="create_job",
        name="Quickstart job",
        tasks=[{"task_key": "nb", "notebook_task": NOTEBOOK, "new_cluster": CLUSTER}],
        access_control_list=[{"group_name": "viewers", "permission_level": "CAN_VIEW"}],
    )
    repo = DatabricksReposCreateOperator(
        task_id="repo", git_url="https://github.com/example/repo", repo_path="/Repos/team/repo", branch="main"
    )
    checkout = DatabricksReposUpdateOperator(task_id="checkout", repo_path="/Repos/team/repo", tag="v1")
    drop_repo = DatabricksReposDeleteOperator(task_id="drop_repo", repo_path="/Repos/team/repo")

    submit_all >> run_now_all >> by_name >> [mapped_submit, mapped_run_now]
    create_job >> by_pipeline_name >> repo >> checkout >> drop_repo
