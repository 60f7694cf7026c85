"""Same names, defaults, templated fields and request bodies as the official provider's classes."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import pytest
from airflow.providers.databricks.operators import databricks as official
from airflow.providers.databricks.operators import databricks_workflow as official_wf
from airflow.sdk import DAG

from airflow_dbx_async import task_operators as ours
from airflow_dbx_async import workflow as ours_wf
from airflow_dbx_async.workflow._group import _CreateDatabricksWorkflowOperator

CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
PAIRS = [
    (official.DatabricksNotebookOperator, ours.DatabricksNotebookOperator),
    (official.DatabricksTaskOperator, ours.DatabricksTaskOperator),
    (official_wf.DatabricksWorkflowTaskGroup, ours_wf.DatabricksWorkflowTaskGroup),
    (official_wf._CreateDatabricksWorkflowOperator, _CreateDatabricksWorkflowOperator),
]
# Ours waits in the triggerer unless told otherwise; the official one reads operators.default_deferrable.
DIFFERENT_DEFAULTS = {"deferrable"}


def _task(dag: DAG, task_id: str) -> Any:
    return dag.get_task(task_id)


def _defaults(cls: type) -> dict[str, Any]:
    return {
        name: p.default
        for name, p in inspect.signature(cls).parameters.items()
        if name not in ("self", "kwargs") and name not in DIFFERENT_DEFAULTS
    }


@pytest.mark.parametrize(("theirs", "mine"), PAIRS, ids=lambda c: c.__name__)
def test_same_parameters_defaults_and_templated_fields(theirs: type, mine: type) -> None:
    assert len(_defaults(theirs)) >= 4
    assert _defaults(mine) == _defaults(theirs)
    assert tuple(getattr(mine, "template_fields", ())) == tuple(getattr(theirs, "template_fields", ()))


NOTEBOOK_CASES: list[dict[str, Any]] = [
    {"new_cluster": CLUSTER},
    {
        "existing_cluster_id": "0101-abc",
        "notebook_params": {"a": "1"},
        "notebook_packages": [{"pypi": {"package": "x"}}],
    },
    {
        "new_cluster": CLUSTER,
        "execution_timeout": timedelta(minutes=2),
        "max_retries": 2,
        "retry_on_timeout": "true",
    },
    {"new_cluster": CLUSTER, "databricks_task_key": "my_key", "min_retry_interval_millis": "500"},
]


@pytest.mark.parametrize("case", NOTEBOOK_CASES)
def test_standalone_notebook_body_matches(case: dict[str, Any]) -> None:
    args = {"task_id": "nb", "notebook_path": "/Shared/nb", "source": "WORKSPACE", **case}
    with DAG("parity_a", schedule=None):
        theirs = official.DatabricksNotebookOperator(**args)
    with DAG("parity_a", schedule=None):
        mine = ours.DatabricksNotebookOperator(**args)
    assert mine.build_payload() == theirs._get_run_json()
    assert mine.databricks_task_key == theirs.databricks_task_key


TASK_CASES: list[dict[str, Any]] = [
    {"task_config": {"spark_python_task": {"python_file": "dbfs:/a.py"}}, "existing_cluster_id": "c1"},
    {"task_config": {"sql_task": {"query": {"query_id": "q"}}, "max_retries": 1}, "new_cluster": CLUSTER},
    {"task_config": {"notebook_task": {"notebook_path": "/x"}}, "new_cluster": CLUSTER, "max_retries": "-1"},
]


@pytest.mark.parametrize("case", TASK_CASES)
def test_standalone_task_body_matches(case: dict[str, Any]) -> None:
    with DAG("parity_b", schedule=None):
        theirs = official.DatabricksTaskOperator(task_id="t", **case)
    with DAG("parity_b", schedule=None):
        mine = ours.DatabricksTaskOperator(task_id="t", **case)
    assert mine.build_payload() == theirs._get_run_json()


def _workflow(module_ops: Any, module_wf: Any) -> DAG:
    with DAG("parity_wf", schedule=None) as dag:
        with module_wf.DatabricksWorkflowTaskGroup(
            group_id="grp",
            databricks_conn_id="databricks_default",
            job_clusters=[{"job_cluster_key": "k", "new_cluster": CLUSTER}],
            notebook_packages=[{"pypi": {"package": "simplejson"}}],
            notebook_params={"ds": "2026"},
            extra_job_params={"email_notifications": {"on_failure": ["a@b.c"]}, "tags": {"team": "x"}},
            jar_params=["j"],
            python_params=["p"],
            spark_submit_params=["s"],
            access_control_list=[{"user_name": "a@b.c", "permission_level": "CAN_MANAGE"}],
            max_concurrent_runs=2,
        ):
            first = module_ops.DatabricksNotebookOperator(
                task_id="first", notebook_path="/a", source="WORKSPACE", job_cluster_key="k"
            )
            second = module_ops.DatabricksTaskOperator(
                task_id="second",
                task_config={"spark_python_task": {"python_file": "dbfs:/b.py"}},
                job_cluster_key="k",
                trigger_rule="all_done",
                max_retries=1,
            )
            third = module_ops.DatabricksNotebookOperator(
                task_id="third",
                notebook_path="/c",
                source="GIT",
                existing_cluster_id="c1",
                notebook_params={"x": "1"},
                notebook_packages=[{"pypi": {"package": "simplejson"}}, {"jar": "dbfs:/a.jar"}],
            )
            first >> second >> third
    return dag


def test_workflow_job_settings_and_run_now_match() -> None:
    theirs = _task(_workflow(official, official_wf), "grp.launch")
    mine = _task(_workflow(ours, ours_wf), "grp.launch")
    assert mine.create_workflow_json() == theirs.create_workflow_json()
    assert mine.job_name == theirs.job_name
    official_run_now = {
        "jar_params": theirs.jar_params,
        "notebook_params": theirs.notebook_params,
        "python_params": theirs.python_params,
        "spark_submit_params": theirs.spark_submit_params,
    }
    assert mine.run_now_json() == official_run_now
    assert [link.name for link in mine.operator_extra_links][0] == "See Databricks Job Run"
