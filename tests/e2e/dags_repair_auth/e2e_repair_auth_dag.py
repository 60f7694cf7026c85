"""The workflow example's group under its own DAG id (so its own job), for the repair permission tests.

The repair test of the example DAG counts the runs of the example's job on the shared emulator; this
DAG's job has another name, so the runs made here are not counted there.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_dbx_async.task_operators import DatabricksNotebookOperator
from airflow_dbx_async.workflow import DatabricksWorkflowTaskGroup

__all__ = ("dag",)

NOTEBOOKS = "/Users/airflow@example.com"
JOB_CLUSTER = {
    "job_cluster_key": "workflow_cluster",
    "new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1},
}

with DAG(dag_id="e2e_repair_auth_dag", schedule=None, catchup=False) as dag:
    with DatabricksWorkflowTaskGroup(
        group_id="workflow",
        databricks_conn_id="databricks",
        job_clusters=[JOB_CLUSTER],
        notebook_params={"input_path": "{{ dag_run.conf.get('input_path', '') }}"},
    ):
        extract = DatabricksNotebookOperator(
            task_id="extract",
            notebook_path=f"{NOTEBOOKS}/Quickstart_Notebook",
            source="WORKSPACE",
            job_cluster_key="workflow_cluster",
            notebook_params={"Variable": "extract"},
        )
        check_input = DatabricksNotebookOperator(
            task_id="check_input",
            notebook_path=f"{NOTEBOOKS}/Check_Input_Notebook",
            source="WORKSPACE",
            job_cluster_key="workflow_cluster",
            retries=0,
        )
        report = DatabricksNotebookOperator(
            task_id="report",
            notebook_path=f"{NOTEBOOKS}/Quickstart_Notebook",
            source="WORKSPACE",
            job_cluster_key="workflow_cluster",
            notebook_params={"Variable": "report"},
        )
        extract >> [check_input, report]
