"""One long notebook run, for the test that marks the deferred task failed and expects a cancel."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksSubmitRunOperator

__all__ = ("dag",)

with DAG(dag_id="e2e_long_dag", schedule=None, catchup=False) as dag:
    DatabricksSubmitRunOperator(
        task_id="long_notebook",
        databricks_conn_id="databricks",
        run_name="e2e-long-{{ run_id }}",
        new_cluster={"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1},
        notebook_task={
            "notebook_path": "/Users/airflow@example.com/Sleep_Notebook",
            "base_parameters": {"seconds": "300"},
        },
        polling_period_seconds=1,
        retries=0,
    )
