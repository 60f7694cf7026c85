"""A DAG file written for the official provider imports with ours: no import error, every task built."""

from __future__ import annotations

from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

from airflow_dbx_async.operators import DatabricksRunNowOperator, DatabricksSubmitRunOperator

DAG_FILE = Path(__file__).parent / "dags" / "official_parameters_dag.py"


def test_dag_with_every_official_parameter_imports() -> None:
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    dag = bag.dags["official_parameters_dag"]
    assert set(dag.task_ids) == {
        "submit_all",
        "run_now_all",
        "by_name",
        "mapped_submit",
        "mapped_run_now",
        "by_pipeline_name",
        "create_job",
        "repo",
        "checkout",
        "drop_repo",
    }
    submit = dag.get_task("submit_all")
    assert isinstance(submit, DatabricksSubmitRunOperator)
    assert (submit.deferrable, submit.durable, submit.openlineage_inject_transport_info) == (
        False,
        True,
        True,
    )
    run_now = dag.get_task("run_now_all")
    assert isinstance(run_now, DatabricksRunNowOperator)
    assert (run_now.repair_run, run_now.forward_dag_params, run_now.cancel_previous_runs) == (
        True,
        False,
        True,
    )
    # default_args reach the parameters the task does not set
    by_name = dag.get_task("by_name")
    assert isinstance(by_name, DatabricksRunNowOperator)
    assert (by_name.durable, by_name.polling_period_seconds, by_name.databricks_retry_limit) == (False, 10, 5)
    assert by_name.databricks_conn_id == "databricks"
