"""The example DAGs load, and the extra link reads the run page URL from XCom."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.links import DatabricksJobRunLink
from airflow_dbx_async.operators import DatabricksRunNowOperator, DatabricksSubmitRunOperator
from tests.compat import DagBag

if TYPE_CHECKING:
    import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "example_dags"


def test_example_dags_load_without_import_errors() -> None:
    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "databricks_dag",
        "databricks_failing_dag",
        "databricks_sql_dag",
        "databricks_workflow_dag",
    }
    dag = bag.dags["databricks_dag"]
    submit, run_now = dag.get_task("submit_run"), dag.get_task("run_now")
    assert isinstance(submit, DatabricksSubmitRunOperator)
    assert isinstance(run_now, DatabricksRunNowOperator)
    assert submit.downstream_task_ids == {"run_now"}
    assert submit.databricks_conn_id == run_now.databricks_conn_id == "databricks"
    assert run_now.job_id == 5
    assert run_now.notebook_params == {"Variable": 5}
    failing = bag.dags["databricks_failing_dag"].get_task("failing_notebook")
    assert isinstance(failing, DatabricksSubmitRunOperator)
    assert failing.notebook_task == {"notebook_path": "/Users/airflow@example.com/Failing_Notebook"}
    assert type(dag.timetable).__name__ == "NullTimetable"


def test_link_reads_the_run_page_url_xcom(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    seen: list[dict[str, Any]] = []

    def fake_get_value(**kwargs: Any) -> Any:
        seen.append(kwargs)
        return "http://dbx/?o=1#job/1/run/2"

    monkeypatch.setattr(XCom, "get_value", staticmethod(fake_get_value))
    link = DatabricksJobRunLink()
    op = DatabricksSubmitRunOperator(task_id="t", notebook_task={"notebook_path": "/a"})
    key = object()
    assert link.name == "See Databricks Job Run"
    assert link.get_link(op, ti_key=key) == "http://dbx/?o=1#job/1/run/2"  # type: ignore[arg-type]
    assert seen == [{"key": "run_page_url", "ti_key": key}]
    monkeypatch.setattr(XCom, "get_value", staticmethod(lambda **kwargs: None))
    assert link.get_link(op, ti_key=key) == ""  # type: ignore[arg-type]
