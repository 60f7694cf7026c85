"""Four notebook runs deferred at once, for the two-triggerer (HA) test."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksSubmitRunOperator

__all__ = ("TASK_IDS", "dag")

TASK_IDS = ("ha_1", "ha_2", "ha_3", "ha_4")

with DAG(dag_id="e2e_ha_dag", schedule=None, catchup=False) as dag:
    for task_id in TASK_IDS:
        DatabricksSubmitRunOperator(
            task_id=task_id,
            databricks_conn_id="databricks",
            run_name=f"e2e-ha-{task_id}-{{{{ run_id }}}}",
            new_cluster={"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1},
            notebook_task={
                "notebook_path": "/Users/airflow@example.com/Sleep_Notebook",
                "base_parameters": {"seconds": "35"},
            },
            polling_period_seconds=2,
            retries=0,
        )
