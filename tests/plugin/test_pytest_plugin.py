"""The ``databricks_emulator`` fixture: a reachable emulator, connection variables, reset per test."""

from __future__ import annotations

import json
import os
import urllib.request

from airflow_dbx_async.testing.pytest_plugin import CONNECTION_ENV_VARS, DatabricksEmulator


def _submit(emulator: DatabricksEmulator, name: str) -> int:
    body = {
        "run_name": name,
        "tasks": [
            {
                "task_key": "main",
                "notebook_task": {"notebook_path": "/Users/airflow@example.com/Quickstart_Notebook"},
            }
        ],
    }
    req = urllib.request.Request(
        f"{emulator.url}/api/2.1/jobs/runs/submit",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {emulator.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(json.load(resp)["run_id"])


def test_fixture_sets_the_connection_variables(databricks_emulator: DatabricksEmulator) -> None:
    for name in CONNECTION_ENV_VARS:
        conn = json.loads(os.environ[name])
        assert conn["conn_type"] == "databricks"
        assert conn["host"] == databricks_emulator.url
        assert conn["password"] == databricks_emulator.token


def test_fixture_counts_submits_and_lists_runs(databricks_emulator: DatabricksEmulator) -> None:
    run_id = _submit(databricks_emulator, "from-the-plugin-test")
    assert databricks_emulator.stats()["submits"] == 1
    runs = databricks_emulator.runs()
    assert [(run["run_id"], run["run_name"]) for run in runs] == [(run_id, "from-the-plugin-test")]


def test_state_is_reset_between_tests(databricks_emulator: DatabricksEmulator) -> None:
    assert databricks_emulator.runs() == []
    assert databricks_emulator.stats()["submits"] == 0


def test_repr_names_the_url_but_not_the_token(databricks_emulator: DatabricksEmulator) -> None:
    assert databricks_emulator.url in repr(databricks_emulator)
    assert databricks_emulator.token not in repr(databricks_emulator)
    assert databricks_emulator.token not in repr(databricks_emulator.info)
