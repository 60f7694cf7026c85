"""``dag.test()`` masks no log line by itself: the operators must keep the token out of its output.

A DAG whose notebook prints and raises with the connection's token runs with ``dag.test()`` against
an emulator (real notebooks, a subprocess); nothing it writes to stdout/stderr holds the token.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.testing import EmulatorProcess
from tests.helpers import load_dag_module, set_connection

if TYPE_CHECKING:
    from collections.abc import Iterator

CONN_ID = "databricks_dag_test_masking"
NOTEBOOK = """# Databricks notebook source
from airflow_dbx_async.emulator.config import DEFAULT_TOKEN

print(f"the token is {DEFAULT_TOKEN}")

# COMMAND ----------

raise RuntimeError(f"bad token {DEFAULT_TOKEN}")
"""
DAG = f"""
from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksSubmitRunOperator

with DAG(dag_id="dag_test_masking", schedule=None, catchup=False) as dag:
    DatabricksSubmitRunOperator(
        task_id="prints_token",
        databricks_conn_id={CONN_ID!r},
        tasks=[{{"task_key": "nb", "existing_cluster_id": "c1",
                 "notebook_task": {{"notebook_path": "/Users/a@example.com/Token"}}}}],
        polling_period_seconds=0.5,
        retries=0,
    )
"""


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EmulatorProcess]:
    folder = tmp_path / "workspace" / "Users" / "a@example.com"
    folder.mkdir(parents=True)
    (folder / "Token.py").write_text(NOTEBOOK)
    (tmp_path / "workspace" / "clusters.json").write_text('{"clusters": [{"cluster_id": "c1"}]}')
    with EmulatorProcess(workspace=tmp_path / "workspace", log_dir=tmp_path / "emulator") as proc:
        yield proc


def _load_dag() -> Any:
    return load_dag_module("dag_test_masking", DAG).dag


def test_dag_test_output_never_shows_the_token(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.utils.state import TaskInstanceState

    conn = json.loads(emulator.connection_json())
    conn["extra"] = {"token": conn.pop("password")}  # Airflow itself masks the extra only as a whole
    set_connection(monkeypatch, conn.pop("host"), conn_id=CONN_ID, password="", **conn)
    dag_run = _load_dag().test()
    (ti,) = dag_run.get_task_instances()
    assert ti.state == TaskInstanceState.FAILED
    out, err = capfd.readouterr()
    assert emulator.token not in out + err
    assert "the token is ***" in out + err
    assert "RuntimeError: bad token ***" in out + err
