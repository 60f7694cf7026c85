"""The workflow example DAG on a real Airflow: one job run, a failing notebook, repair from the UI.

The repair is pressed as a browser does it: the UI's session cookie (``_token``, set by the login
redirect), the repair page the extra link opens, then the page's form posted with that cookie and
the browser's ``Origin`` header.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from tests.e2e.test_browser import _render
from tests.helpers import wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_dbx_async.testing import AirflowStack, EmulatorProcess

DAG_ID = "databricks_workflow_dag"
JOB_NAME = "databricks_workflow_dag.workflow"
MEMBERS = ("workflow.extract", "workflow.check_input", "workflow.report")
DONE = {"success", "failed", "upstream_failed"}


def plugin_registered() -> None:
    """Fail clearly when the installed metadata predates the plugin's entry point (reinstall the package)."""
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="airflow.plugins")}
    if "airflow_dbx_async_workflow_repair" not in names:
        pytest.fail("the airflow.plugins entry point is not installed: run `pip install -e .` again")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _browser_request(
    url: str, cookie: str, *, method: str = "GET", data: bytes | None = None, origin: str = ""
) -> tuple[int, dict[str, str], str]:
    headers = {"Cookie": f"_token={cookie}", "Accept": "text/html"}
    if origin:
        headers |= {"Origin": origin, "Content-Type": "application/x-www-form-urlencoded"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=120) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        exc.close()
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, body


def _session_cookie(base_url: str) -> str:
    """What the browser gets from the login redirect (all users are admins in this stack)."""
    status, headers, _ = _browser_request(f"{base_url}/auth/token/login", "")
    assert status == 307, (status, headers)
    return headers["set-cookie"].split("_token=", 1)[1].split(";", 1)[0]


def _login_then(base_url: str, url: str) -> str:
    return f"{base_url}/auth/token/login?next={urllib.parse.quote(url, safe='')}"


def _our_job(emulator: EmulatorProcess) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    jobs = [j for j in emulator.admin("GET", "jobs")["jobs"] if j["settings"]["name"] == JOB_NAME]
    ids = {j["job_id"] for j in jobs}
    return jobs, [r for r in emulator.runs() if r["job_id"] in ids]


def _log(stack: AirflowStack, run_id: str, task_id: str, try_number: int) -> str:
    return "\n".join(stack.api.task_log(DAG_ID, run_id, task_id, try_number))


def test_workflow_runs_as_one_job_and_repairs_from_the_ui(
    stack: AirflowStack, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    plugin_registered()
    stack.wait_dags([DAG_ID])
    input_file = tmp_path / "input.csv"
    run_id = stack.api.trigger_dag(DAG_ID, conf={"input_path": str(input_file)})
    states = {t: stack.api.wait_task_state(DAG_ID, run_id, t, DONE) for t in MEMBERS}
    assert states == {
        "workflow.extract": "success",
        "workflow.check_input": "failed",
        "workflow.report": "success",
    }
    log = _log(stack, run_id, "workflow.check_input", 1)
    assert "FileNotFoundError: Input file is missing" in log
    assert "Checking the input file" in log, log  # what the notebook printed
    jobs, runs = _our_job(emulator)
    assert len(jobs) == 1, jobs
    assert len(runs) == 1, runs
    (job_run,) = runs
    # The task waited in the triggerer for its own task run, not for the whole job run.
    (task_run,) = [t["run_id"] for t in job_run["tasks"] if t["result_state"] == "FAILED"]
    trigger_lines = stack.trigger_log_lines(DAG_ID, run_id, "workflow.check_input", 1)
    assert any(f"Databricks run {task_run} is" in line for line in trigger_lines), trigger_lines
    assert job_run["run_id"] == stack.api.xcom(DAG_ID, run_id, "workflow.launch", "return_value")["run_id"]

    path = f"dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances"
    links = stack.api.call("GET", f"{path}/workflow.check_input/links")["extra_links"]
    assert f"run/{job_run['run_id']}" in links["See Databricks Job Run"]
    repair_url = links["Repair a single task"]
    assert repair_url.startswith(f"{stack.base_url}/databricks-async/repair/")
    launch_links = stack.api.call("GET", f"{path}/workflow.launch/links")["extra_links"]
    assert "Repair All Failed Tasks" in launch_links

    # The Airflow UI shows the link on the failed task (headless Chromium, logged in by redirect).
    task_page = f"{stack.base_url}/dags/{DAG_ID}/runs/{quote(run_id)}/tasks/workflow.check_input/details"
    dom = _render(_login_then(stack.base_url, task_page))
    assert f'href="{repair_url}"' in dom, dom[-3000:]
    assert "Repair a single task</a>" in dom
    page = _render(_login_then(stack.base_url, repair_url))  # following the link
    assert "Repair Databricks job run" in page, page[-3000:]
    assert "workflow.check_input (failed)" in page

    input_file.write_text("id\n1\n")  # the input arrives; now repair the failed task
    cookie = _session_cookie(stack.base_url)
    status, _, page = _browser_request(repair_url, cookie)
    assert status == 200, page
    assert "workflow.check_input (failed)" in page
    assert '<form method="post">' in page
    status, headers, body = _browser_request(
        repair_url, cookie, method="POST", data=b"", origin=stack.base_url
    )
    assert status == 303, body
    assert headers["location"].endswith(f"/dags/{DAG_ID}/runs/{quote(run_id, safe='')}")

    assert stack.api.wait_task_state(DAG_ID, run_id, "workflow.check_input", DONE) == "success"
    wait_for("the DAG run to succeed", lambda: stack.api.dag_run_state(DAG_ID, run_id) == "success")
    second = _log(stack, run_id, "workflow.check_input", 2)
    assert "Watching task" in second, second
    assert "succeeded" in second
    jobs, runs = _our_job(emulator)
    assert len(jobs) == 1, jobs
    assert len(runs) == 1, runs
    (repaired,) = runs
    assert repaired["result_state"] == "SUCCESS"
    assert len(repaired["tasks"]) == 4  # three tasks plus the repaired attempt of check_input

    # Clearing the finished DAG run re-runs the group: the same job, a new job run whose notebooks run
    # again (docs/reliability.md, "Idempotency and re-attach").
    clear = {"dag_run_id": run_id, "dry_run": False, "only_failed": False, "reset_dag_runs": True}
    stack.api.call("POST", f"dags/{DAG_ID}/clearTaskInstances", clear)
    wait_for(
        "the launch task's second try",
        lambda: (
            len(stack.api.task_tries(DAG_ID, run_id, "workflow.launch")) == 2
            and stack.api.task_state(DAG_ID, run_id, "workflow.launch") == "success"
        ),
        timeout=180,
    )
    assert stack.api.wait_task_state(DAG_ID, run_id, "workflow.check_input", DONE) == "success"
    wait_for("the DAG run to succeed again", lambda: stack.api.dag_run_state(DAG_ID, run_id) == "success")
    jobs, runs = _our_job(emulator)
    assert len(jobs) == 1, jobs
    assert len(runs) == 2, runs
    rerun = max(runs, key=lambda run: int(run["run_id"]))
    assert rerun["result_state"] == "SUCCESS"
    tries = len(stack.api.task_tries(DAG_ID, run_id, "workflow.check_input"))
    latest = _log(stack, run_id, "workflow.check_input", tries)
    assert str(rerun["run_id"]) in latest, latest
