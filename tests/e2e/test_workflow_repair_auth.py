"""Only users who may clear the DAG's task instances can repair: a real Airflow with real users.

The simple auth manager with four users: ``admin``, ``viewer`` (read-only), ``user`` (the ``USER``
role, who may write XComs through the REST API) and ``nobody`` (no role: may not even read the DAG).
The viewer may open the repair page but its repair is refused, and Databricks sees no repair; a post
from another site, or one that says nothing of where it comes from, is refused even for the admin;
the admin's own repair goes through.
A user who rewrote the launch task's XComs to point the repair at another job's run (through
another connection) is refused, and Databricks sees no repair. The task instance's Databricks tab
needs read access to the DAG's task instances: ``nobody`` gets 403, an anonymous caller 401.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from airflow_dbx_async.testing import AirflowStack
from airflow_dbx_async.testing._airflow_api import AirflowApi
from airflow_dbx_async.testing._http import HttpError, request_json
from tests.e2e.conftest import HERE
from tests.e2e.test_workflow_repair import plugin_registered
from tests.helpers import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_dbx_async.testing import EmulatorProcess

DAG_ID = "e2e_repair_auth_dag"  # the workflow example under another id: a job of its own
PASSWORDS = {"admin": "admin-pw-1", "viewer": "viewer-pw-1", "user": "user-pw-1", "nobody": "nobody-pw-1"}
LAUNCH = "workflow.launch"
GENERIC_FAILURE = {"detail": "Repair failed; see the API server log"}
RUNS_GET = "GET /api/2.2/jobs/runs/get"
REPAIR = "POST /api/2.2/jobs/runs/repair"


class TokenApi(AirflowApi):
    """Airflow's REST API with a bearer token."""

    def __init__(self, base_url: str, token: str = "") -> None:
        super().__init__(base_url)
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return request_json(method, f"{self.base_url}/api/v2/{path.lstrip('/')}", body, headers=headers)


def _token(base_url: str, user: str) -> str:
    body = {"username": user, "password": PASSWORDS[user]}
    return str(request_json("POST", f"{base_url}/auth/token", body)["access_token"])


def _post(url: str, token: str = "", origin: str = "") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if origin:
        headers["Origin"] = origin
    try:
        return 200, request_json("POST", url, {}, headers=headers)
    except HttpError as exc:
        return exc.status, json.loads(exc.body)


@pytest.fixture(scope="module")
def users_stack(
    emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowStack]:
    plugin_registered()
    passwords: Path = tmp_path_factory.mktemp("auth") / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer,user:user,nobody:",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    stack = AirflowStack(
        [HERE / "dags_repair_auth" / f"{DAG_ID}.py"],
        connections={
            "databricks": emulator.connection_json(),
            # What the rewritten XCom names: any connection, here an ``http`` one whose password
            # would go as a bearer token to its host (the emulator, which counts what it receives).
            "prod_admin": json.dumps({"conn_type": "http", "host": emulator.url, "password": emulator.token}),
        },
        env=env,
    )
    api = TokenApi(stack.base_url)
    stack.api = api
    with stack:
        api.token = _token(stack.base_url, "admin")
        stack.wait_dags([DAG_ID])
        yield stack


def _failed_group_run(stack: AirflowStack, tmp_path: Path) -> str:
    """A DAG run whose ``check_input`` failed, finished (no trigger polls Databricks any more)."""
    run_id = stack.api.trigger_dag(DAG_ID, conf={"input_path": str(tmp_path / "missing.csv")})
    states = {"success", "failed", "upstream_failed"}
    state = stack.api.wait_task_state(DAG_ID, run_id, "workflow.check_input", states)
    assert state == "failed", stack.api.task_log(DAG_ID, run_id, LAUNCH, 1)[-30:]
    wait_for("the DAG run to end", lambda: stack.api.dag_run_state(DAG_ID, run_id) == "failed", timeout=180)
    return run_id


def _another_jobs_run(emulator: EmulatorProcess, task_key: str) -> tuple[int, int]:
    """A run of another job, with a task of the same key: (job id, run id)."""
    headers = {"Authorization": f"Bearer {emulator.token}"}
    task = {"task_key": task_key, "notebook_task": {"notebook_path": "/Users/prod/nightly"}}
    job = {"name": "prod_admin.nightly", "tasks": [task]}
    job_id = request_json("POST", f"{emulator.url}/api/2.2/jobs/create", job, headers=headers)["job_id"]
    body = {"job_id": job_id}
    run_id = request_json("POST", f"{emulator.url}/api/2.2/jobs/run-now", body, headers=headers)["run_id"]
    return int(job_id), int(run_id)


def _patch_xcom(stack: AirflowStack, token: str, run_id: str, key: str, value: Any) -> None:
    """``PATCH .../xcomEntries/{key}``, which Airflow 3.3 allows a user with the ``USER`` role."""
    path = f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{LAUNCH}/xcomEntries/{key}"
    TokenApi(stack.base_url, token).call("PATCH", path, {"value": value, "map_index": -1})
    assert stack.api.xcom(DAG_ID, run_id, LAUNCH, key) == value


def test_a_user_who_rewrote_the_xcoms_cannot_repair_another_jobs_run(
    users_stack: AirflowStack, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    stack = users_stack
    run_id = _failed_group_run(stack, tmp_path)
    user = _token(stack.base_url, "user")
    url = f"{stack.base_url}/databricks-async/repair/{DAG_ID}/{run_id}/workflow.check_input"
    metadata = stack.api.xcom(DAG_ID, run_id, LAUNCH, "return_value")
    keys = stack.api.xcom(DAG_ID, run_id, LAUNCH, "databricks_task_keys")
    job_id, other_run = _another_jobs_run(emulator, keys["workflow.check_input"])

    # As reproduced: another connection, another job's run, and task keys of the user's choice.
    forged = {"conn_id": "prod_admin", "job_id": job_id, "run_id": other_run}
    _patch_xcom(stack, user, run_id, "return_value", forged)
    _patch_xcom(stack, user, run_id, "databricks_task_keys", {"workflow.check_input": "anything"})
    before = emulator.stats()["requests"]
    assert _post(url, user, origin=stack.base_url) == (403, GENERIC_FAILURE)
    after = emulator.stats()["requests"]
    assert (after.get(RUNS_GET, 0), after.get(REPAIR, 0)) == (before.get(RUNS_GET, 0), before.get(REPAIR, 0))
    assert after == before  # no request at all: neither through prod_admin nor the group's connection

    # Only the run id rewritten (the group's connection and keys): Databricks shows it is not the group's.
    _patch_xcom(stack, user, run_id, "databricks_task_keys", keys)
    _patch_xcom(stack, user, run_id, "return_value", {**metadata, "job_id": job_id, "run_id": other_run})
    assert _post(url, user, origin=stack.base_url) == (403, GENERIC_FAILURE)
    after = emulator.stats()["requests"]
    assert after.get(REPAIR, 0) == before.get(REPAIR, 0)
    assert after.get(RUNS_GET, 0) == before.get(RUNS_GET, 0) + 1  # the one look that refused it
    (other,) = [r for r in emulator.runs() if r["run_id"] == other_run]
    assert len(other["tasks"]) == 1  # not repaired
    assert stack.api.task_state(DAG_ID, run_id, "workflow.check_input") == "failed"  # not cleared


def _get(url: str, token: str = "") -> tuple[int, str, Any]:
    """Status, body and headers (looked up in any case) of a GET."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode(), answer.headers
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        exc.close()
        return exc.code, body, exc.headers


def test_the_databricks_tab_needs_read_access_to_the_dag(
    users_stack: AirflowStack, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    # Before the repair test: the job run it repairs is still going when it ends, and the group's job
    # allows one run at a time.
    stack = users_stack
    run_id = _failed_group_run(stack, tmp_path)
    databricks_run_id = stack.api.xcom(DAG_ID, run_id, LAUNCH, "return_value")["run_id"]
    url = f"{stack.base_url}/databricks-async/run/{DAG_ID}/{quote(run_id, safe='')}/workflow.check_input"

    before = emulator.stats()["requests"]
    status, body, _ = _get(url)
    assert status == 401, body
    status, body, headers = _get(url, _token(stack.base_url, "nobody"))
    assert status == 403, body
    assert "may not read task instances of this DAG" in body
    assert headers["X-Frame-Options"] == "SAMEORIGIN"  # the answer is shown in the tab
    assert emulator.stats()["requests"] == before  # neither reached Databricks

    status, body, _ = _get(url, _token(stack.base_url, "viewer"))  # reading is enough
    assert status == 200, body
    assert f"Databricks run {databricks_run_id}" in body
    assert "FileNotFoundError: Input file is missing" in body


def test_only_users_who_may_clear_tasks_can_repair(
    users_stack: AirflowStack, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    stack = users_stack
    admin = _token(stack.base_url, "admin")
    run_id = stack.api.trigger_dag(DAG_ID, conf={"input_path": str(tmp_path / "missing.csv")})
    states = {"success", "failed", "upstream_failed"}
    state = stack.api.wait_task_state(DAG_ID, run_id, "workflow.check_input", states)
    upstream = {t: stack.api.task_state(DAG_ID, run_id, t) for t in ("workflow.launch", "workflow.extract")}
    assert state == "failed", (upstream, stack.api.task_log(DAG_ID, run_id, "workflow.launch", 1)[-30:])
    databricks_run_id = stack.api.xcom(DAG_ID, run_id, "workflow.launch", "return_value")["run_id"]
    url = f"{stack.base_url}/databricks-async/repair/{DAG_ID}/{run_id}/workflow.check_input"

    def task_runs() -> int:
        (run,) = [r for r in emulator.runs() if r["run_id"] == databricks_run_id]
        return len(run["tasks"])

    viewer = _token(stack.base_url, "viewer")
    assert _post(url, origin=stack.base_url) == (401, {"detail": "Not authenticated"})
    status, body = _post(url, viewer, origin=stack.base_url)
    assert status == 403, body
    assert "may not clear task instances" in body["detail"]
    assert _post(url, admin, origin="https://evil.example")[0] == 403
    assert _post(url, admin)[0] == 403  # says nothing of where it comes from
    assert task_runs() == 3  # nothing was repaired
    assert stack.api.task_state(DAG_ID, run_id, "workflow.check_input") == "failed"

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {viewer}"})
    with urllib.request.urlopen(request, timeout=60) as answer:  # a viewer may look at the page
        assert "workflow.check_input (failed)" in answer.read().decode()
        assert answer.headers["X-Frame-Options"] == "DENY"  # as mounted in the API server
        assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'none'"

    status, body = _post(url, admin, origin=stack.base_url)
    assert status == 200, body
    assert body["task_ids"] == ["workflow.check_input"]
    assert body["databricks_run_id"] == databricks_run_id
    assert task_runs() == 4  # the repaired attempt of check_input
