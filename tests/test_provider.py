"""Airflow lists the package as a provider and registers its extra link (through the entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _airflow(home: Path, *args: str) -> str:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_airflow_providers_list_shows_the_package(tmp_path: Path) -> None:
    out = _airflow(tmp_path, "providers", "list", "--output", "json")
    listed = json.loads(out[out.index("[{") :])  # after any start-up log lines
    ours = [p for p in listed if p["package_name"] == "airflow-dbx-async"]
    assert len(ours) == 1, [p["package_name"] for p in listed]
    assert ours[0]["version"] == "0.1.0"


def test_extra_link_is_registered(tmp_path: Path) -> None:
    assert "airflow_dbx_async.links.DatabricksJobRunLink" in _airflow(tmp_path, "providers", "links")
