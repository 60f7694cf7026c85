"""Notebook output on a real Airflow: printed lines, the failing cell, exit values, a printed token."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksSubmitRunOperator

__all__ = ("dag",)

_CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
_FOLDER = "/Users/airflow@example.com"

with DAG(dag_id="e2e_notebook_output_dag", schedule=None, catchup=False) as dag:
    for task_id, notebook, params, conn_id in (
        ("prints_and_fails", "Output_Notebook", {"fail": "yes"}, "databricks"),
        ("prints_and_exits", "Output_Notebook", {"fail": "no"}, "databricks"),
        ("token_in_password", "Token_Notebook", {}, "databricks"),
        ("token_in_extra", "Token_Notebook", {}, "databricks_extra_token"),
    ):
        DatabricksSubmitRunOperator(
            task_id=task_id,
            databricks_conn_id=conn_id,
            run_name=f"e2e-{task_id}",
            new_cluster=_CLUSTER,
            notebook_task={"notebook_path": f"{_FOLDER}/{notebook}", "base_parameters": params},
            polling_period_seconds=1,
            retries=0,
        )
