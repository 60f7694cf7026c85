"""The example DAG (``example_dags/databricks_dag.py``) waiting in the worker: ``deferrable=False``.

Set through ``default_args``, so the tasks are written exactly as in the example; a deployment
without a triggerer runs it.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksRunNowOperator, DatabricksSubmitRunOperator

__all__ = ("dag",)

with DAG(
    dag_id="databricks_sync_dag",
    schedule=None,
    catchup=False,
    default_args={"deferrable": False, "polling_period_seconds": 3},
) as dag:
    submit_run = DatabricksSubmitRunOperator(
        task_id="submit_run",
        databricks_conn_id="databricks",
        new_cluster={"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1},
        notebook_task={"notebook_path": "/Users/airflow@example.com/Quickstart_Notebook"},
    )
    run_now = DatabricksRunNowOperator(
        task_id="run_now",
        databricks_conn_id="databricks",
        job_id=5,
        notebook_params={"Variable": 5},
    )
    submit_run >> run_now
