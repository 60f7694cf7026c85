"""The Databricks guide's example DAG, deferrable: submit a notebook run, then run job 5.

Only the import differs from the official provider's example. Point the ``databricks`` connection
at a workspace (or at the local emulator) with the ``AIRFLOW_CONN_DATABRICKS`` environment variable.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksRunNowOperator, DatabricksSubmitRunOperator

__all__ = ("dag",)

with DAG(dag_id="databricks_dag", schedule=None, catchup=False, tags=["databricks"]) as dag:
    new_cluster = {
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "i3.xlarge",
        "num_workers": 1,
    }
    notebook_task = {"notebook_path": "/Users/airflow@example.com/Quickstart_Notebook"}

    submit_run = DatabricksSubmitRunOperator(
        task_id="submit_run",
        databricks_conn_id="databricks",
        new_cluster=new_cluster,
        notebook_task=notebook_task,
    )

    run_now = DatabricksRunNowOperator(
        task_id="run_now",
        databricks_conn_id="databricks",
        job_id=5,
        notebook_params={"Variable": 5},
    )

    submit_run >> run_now
