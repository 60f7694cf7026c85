"""The Databricks tab of a failed task on a real Airflow, in headless Chromium.

The failing example DAG's notebook prints two lines, then raises. The tab's page (the address the
Airflow UI frames) shows the failed task run's bar, its error and what it printed; the Airflow UI's
task instance page lists the tab and frames it. A screenshot of that page is taken: set
``RUN_VIEW_SCREENSHOT=<file.png>`` to keep it (``docs/images/run-view.png`` was made so).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import TYPE_CHECKING
from urllib.parse import quote

from tests.e2e.test_browser import CHROMIUM_FLAGS, _render
from tests.e2e.test_workflow_repair import _browser_request, _login_then, _session_cookie, plugin_registered

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_dbx_async.testing import AirflowStack

DAG_ID = "databricks_failing_dag"
TASK_ID = "failing_notebook"
ERROR = "ValueError: Input data is empty: expected at least one row"
PRINTED = ("Starting the failing notebook", "Checking the input data")
SCREEN_FLAGS = tuple(f for f in CHROMIUM_FLAGS if f != "--dump-dom") + ("--hide-scrollbars",)


def _failed_run(stack: AirflowStack) -> str:
    """A DAG run of the failing example whose task failed: one another test left, else a new one."""
    runs = stack.api.call("GET", f"dags/{DAG_ID}/dagRuns?state=failed&limit=1")["dag_runs"]
    if runs:
        return str(runs[0]["dag_run_id"])
    run_id = stack.api.trigger_dag(DAG_ID)
    assert stack.api.wait_task_state(DAG_ID, run_id, TASK_ID, {"success", "failed"}) == "failed"
    return run_id


def _screenshot(url: str, path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium package is required (scripts/test.sh installs it)"
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                chromium,
                *SCREEN_FLAGS,
                "--window-size=1280,1100",
                f"--screenshot={path}",
                f"--user-data-dir={profile}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=150,
        )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_databricks_tab_shows_the_failed_task_its_error_and_what_it_printed(
    stack: AirflowStack, tmp_path: Path
) -> None:
    plugin_registered()
    run_id = _failed_run(stack)
    databricks_run_id = stack.api.xcom(DAG_ID, run_id, TASK_ID, "run_id")
    tab = f"{stack.base_url}/databricks-async/run/{DAG_ID}/{quote(run_id, safe='')}/{TASK_ID}"

    # What the UI frames: a page of this site that only this site may frame.
    status, headers, page = _browser_request(tab, _session_cookie(stack.base_url))
    assert status == 200, page[-2000:]
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in headers["content-security-policy"]

    dom = _render(tab)  # as Chromium builds it, the page's script run
    assert f"Databricks run {databricks_run_id}" in dom, dom[-3000:]
    assert 'class="bar failed"' in dom  # the failed task run's bar
    assert "failed ·" in dom  # its label
    assert ERROR in dom  # the failure report: the error, the failing cell
    for line in PRINTED:  # and what the notebook printed
        assert line in dom, dom[-3000:]

    # The Airflow UI lists the tab on the task instance and frames the page.
    ui_page = f"{stack.base_url}/dags/{DAG_ID}/runs/{quote(run_id)}/tasks/{TASK_ID}/plugin/databricks_run"
    ui = _render(_login_then(stack.base_url, ui_page))
    assert "<iframe" in ui, ui[-3000:]
    assert f"/databricks-async/run/{DAG_ID}/" in ui
    assert 'title="Databricks"' in ui

    # The screenshot is of the tab's own page (what the frame shows), lighter to render than the whole UI.
    shot = tmp_path / "run-view.png"
    _screenshot(_login_then(stack.base_url, tab), shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    keep = os.environ.get("RUN_VIEW_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
