"""Three notebook runs deferred at the same time, for the triggerer crash test."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksSubmitRunOperator

__all__ = ("TASK_IDS", "dag")

TASK_IDS = ("sleep_1", "sleep_2", "sleep_3")

with DAG(dag_id="e2e_parallel_dag", schedule=None, catchup=False) as dag:
    for task_id in TASK_IDS:
        DatabricksSubmitRunOperator(
            task_id=task_id,
            databricks_conn_id="databricks",
            run_name=f"e2e-parallel-{task_id}-{{{{ run_id }}}}",
            new_cluster={"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1},
            notebook_task={
                "notebook_path": "/Users/airflow@example.com/Sleep_Notebook",
                "base_parameters": {"seconds": "20"},
            },
            polling_period_seconds=1,
            retries=0,
        )
