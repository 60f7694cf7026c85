"""Three notebooks run as one Databricks job on a shared job cluster, with repair from the Airflow UI.

``check_input`` fails until the file named by the run's ``input_path`` parameter exists. When it
fails, its task log shows the notebook's error and printed output; create the file, then press
"Repair a single task" on ``check_input`` (or "Repair All Failed Tasks" on ``launch``): Databricks
re-runs that task inside the same job run and the Airflow task watches the new attempt. Only the
import differs from the official provider's workflow example.
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

with DAG(dag_id="databricks_workflow_dag", schedule=None, catchup=False, tags=["databricks"]) as dag:
    with DatabricksWorkflowTaskGroup(
        group_id="workflow",
        databricks_conn_id="databricks",
        job_clusters=[JOB_CLUSTER],
        notebook_params={"input_path": "{{ dag_run.conf.get('input_path', '') }}"},
        extra_job_params={"tags": {"owner": "airflow"}},
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
