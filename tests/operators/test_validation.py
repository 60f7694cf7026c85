"""Bad operator input fails before any request, with one line naming the field to fix."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_dbx_async.client import ConfigurationError
from airflow_dbx_async.operators import (
    DatabricksConfigError,
    DatabricksRunNowDeferrableOperator,
    DatabricksSubmitRunDeferrableOperator,
)
from tests.helpers import context

NB = {"notebook_path": "/Users/a/nb"}
CLUSTER = {"spark_version": "15.4.x-scala2.12", "num_workers": 1}

SUBMIT_CASES: list[tuple[dict[str, Any], str]] = [
    ({}, "tasks"),
    ({"notebook_task": NB, "spark_jar_task": {"main_class_name": "M"}}, "spark_jar_task"),
    ({"notebook_task": NB, "tasks": [{"task_key": "a", "notebook_task": NB}]}, "tasks"),
    ({"tasks": []}, "tasks"),
    ({"tasks": "nope"}, "tasks"),
    ({"tasks": ["x"]}, "tasks[0]"),
    ({"tasks": [{"notebook_task": NB}]}, "tasks[0].task_key"),
    ({"tasks": [{"task_key": "a", "notebook_task": NB}, {"task_key": "b"}]}, "tasks[1]"),
    (
        {"tasks": [{"task_key": "a", "notebook_task": NB}, {"task_key": "a", "notebook_task": NB}]},
        "tasks[1].task_key",
    ),
    (
        {
            "tasks": [
                {"task_key": "a", "notebook_task": NB, "new_cluster": CLUSTER, "existing_cluster_id": "c"}
            ]
        },
        "tasks[0].existing_cluster_id",
    ),
    ({"notebook_task": NB, "new_cluster": CLUSTER, "existing_cluster_id": "c-1"}, "existing_cluster_id"),
    ({"dbt_task": {"commands": ["dbt run"]}}, "git_source"),
    ({"pipeline_task": {"full_refresh": True}}, "pipeline_task.pipeline_id"),
    (
        {"tasks": [{"task_key": "p", "pipeline_task": {"pipeline_name": "p"}}]},
        "tasks[0].pipeline_task.pipeline_id",
    ),
    ({"pipeline_task": {"pipeline_id": "1", "pipeline_name": "p"}}, "pipeline_task"),
    ({"notebook_task": NB, "timeout_seconds": -5}, "timeout_seconds"),
    ({"notebook_task": NB, "timeout_seconds": "soon"}, "timeout_seconds"),
    ({"notebook_task": NB, "idempotency_token": "x" * 65}, "idempotency_token"),
    (
        {"notebook_task": {"notebook_path": "/a", "base_parameters": {"when": dt.date(2026, 1, 1)}}},
        "notebook_task.base_parameters.when",
    ),
    ({"notebook_task": {"base_parameters": {}}}, "notebook_task.notebook_path"),
    ({"notebook_task": "nb"}, "notebook_task"),
    ({"notebook_task": NB, "new_cluster": "big"}, "new_cluster"),
    ({"notebook_task": NB, "libraries": {"pypi": "x"}}, "libraries"),
    ({"notebook_task": NB, "run_name": "x" * 5000}, "run_name"),
    ({"json": "[1, 2]"}, "json"),
    ({"json": "{not json"}, "json"),
    ({"notebook_task": NB, "databricks_conn_id": ""}, "databricks_conn_id"),
]

RUN_NOW_CASES: list[tuple[dict[str, Any], str]] = [
    ({}, "job_id"),
    ({"job_id": 5, "job_name": "x"}, "job_name"),
    ({"job_id": "five"}, "job_id"),
    ({"job_id": 0}, "job_id"),
    ({"job_name": ""}, "job_name"),
    ({"job_id": 5, "notebook_params": {"big": "x" * 10_001}}, "notebook_params"),
    ({"job_id": 5, "python_params": ["x" * 10_001]}, "python_params"),
    ({"job_id": 5, "job_parameters": {"a": "1"}, "notebook_params": {"b": "2"}}, "job_parameters"),
    ({"job_id": 5, "notebook_params": ["not", "a", "map"]}, "notebook_params"),
    ({"job_id": 5, "python_params": "a b"}, "python_params"),
    ({"job_id": 5, "notebook_params": {"when": object()}}, "notebook_params.when"),
]

KNOB_CASES: list[tuple[dict[str, Any], str]] = [
    ({"polling_period_seconds": -1}, "polling_period_seconds"),
    ({"polling_period_seconds": "30"}, "polling_period_seconds"),
    ({"databricks_retry_limit": 0}, "databricks_retry_limit"),
    ({"databricks_retry_delay": -0.5}, "databricks_retry_delay"),
]


def _assert_names(exc: ConfigurationError, field: str) -> None:
    assert isinstance(exc, DatabricksConfigError)
    assert exc.field == field
    text = str(exc)
    assert text.startswith(f"{field}: ")
    assert "\n" not in text


@pytest.mark.parametrize(("kwargs", "field"), SUBMIT_CASES)
def test_submit_validation(kwargs: dict[str, Any], field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)  # no connection: any request would fail
    op = DatabricksSubmitRunDeferrableOperator(**{"task_id": "t", "databricks_conn_id": "nowhere", **kwargs})
    with pytest.raises(DatabricksConfigError) as raised:
        op.execute(context())
    _assert_names(raised.value, field)


@pytest.mark.parametrize(("kwargs", "field"), RUN_NOW_CASES)
def test_run_now_validation(kwargs: dict[str, Any], field: str) -> None:
    op = DatabricksRunNowDeferrableOperator(task_id="t", databricks_conn_id="nowhere", **kwargs)
    with pytest.raises(DatabricksConfigError) as raised:
        op.execute(context())
    _assert_names(raised.value, field)


@pytest.mark.parametrize(("kwargs", "field"), KNOB_CASES)
def test_operator_settings_are_checked_when_the_dag_is_parsed(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(DatabricksConfigError) as raised:
        DatabricksSubmitRunDeferrableOperator(task_id="t", notebook_task=NB, **kwargs)
    _assert_names(raised.value, field)


def test_json_and_named_parameters_merge_like_the_official_operator() -> None:
    op = DatabricksSubmitRunDeferrableOperator(
        task_id="t",
        json='{"run_name": "from-json", "notebook_task": {"notebook_path": "/old"}, "timeout_seconds": 60}',
        notebook_task=NB,
    )
    payload = op.build_payload()
    assert payload == {"run_name": "from-json", "notebook_task": NB, "timeout_seconds": "60"}


def test_json_accepts_a_python_dict_literal_and_keeps_booleans() -> None:
    op = DatabricksRunNowDeferrableOperator(task_id="t", json="{'job_id': 42, 'queue': {'enabled': True}}")
    assert op.build_payload() == {"job_id": "42", "queue": {"enabled": True}}


def test_missing_connection_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    op = DatabricksRunNowDeferrableOperator(task_id="t", databricks_conn_id="nowhere", job_id=1)
    with pytest.raises(ConfigurationError, match="databricks_conn_id: connection 'nowhere' is not defined"):
        op.execute(context())
