"""The extra link Airflow serves for a finished task opens the run's page, in headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from airflow_dbx_async.testing import AirflowStack

LINK_NAME = "See Databricks Job Run"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",  # let the page's script follow the URL fragment to the run page
    "--dump-dom",
)


def _render(url: str) -> str:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium package is required (scripts/test.sh installs it)"
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_extra_link_opens_the_run_page(stack: AirflowStack) -> None:
    dag_id, task_id = "databricks_failing_dag", "failing_notebook"
    run_id = stack.api.trigger_dag(dag_id)
    assert stack.api.wait_task_state(dag_id, run_id, task_id, {"success", "failed"}) == "failed"
    databricks_run_id = stack.api.xcom(dag_id, run_id, task_id, "run_id")

    answer = stack.api.call("GET", f"dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/links")
    links = answer["extra_links"]  # what the UI renders as the task's link buttons
    assert LINK_NAME in links, answer
    url = links[LINK_NAME]
    assert f"run/{databricks_run_id}" in url, links

    page = _render(url)
    assert f"Run {databricks_run_id}" in page, page[-3000:]
    assert "FAILED" in page
    assert "ValueError" in page
