"""Run-now with ``repair_run``: the job's notebook fails once, the run is repaired, the task succeeds."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksRunNowOperator

__all__ = ("REPAIR_JOB_ID", "dag")

REPAIR_JOB_ID = 7701

with DAG(dag_id="e2e_repair_dag", schedule=None, catchup=False) as dag:
    DatabricksRunNowOperator(
        task_id="repaired",
        databricks_conn_id="databricks",
        job_id=REPAIR_JOB_ID,
        repair_run=True,
        polling_period_seconds=2,
    )
