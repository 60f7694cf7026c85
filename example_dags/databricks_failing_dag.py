"""A DAG whose notebook raises, to show the failure report: error, stack trace and run page link.

The task fails with one line naming the failed Databricks task and its error; the task log holds
the full details of every failed task.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksSubmitRunOperator

__all__ = ("dag",)

with DAG(dag_id="databricks_failing_dag", schedule=None, catchup=False, tags=["databricks"]) as dag:
    DatabricksSubmitRunOperator(
        task_id="failing_notebook",
        databricks_conn_id="databricks",
        new_cluster={"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1},
        notebook_task={"notebook_path": "/Users/airflow@example.com/Failing_Notebook"},
        retries=0,
    )
