"""Only users who may clear the DAG's task instances can repair: a real Airflow with real users.

The simple auth manager with two users: ``admin`` and ``viewer`` (read-only). The viewer may open
the repair page but its repair is refused, and Databricks sees no repair; a post from another site
is refused even for the admin; the admin's own repair goes through.
"""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.testing import AirflowStack
from airflow_dbx_async.testing._airflow_api import AirflowApi
from airflow_dbx_async.testing._http import HttpError, request_json
from tests.e2e.conftest import ROOT
from tests.e2e.test_workflow_repair import plugin_registered

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from airflow_dbx_async.testing import EmulatorProcess

DAG_ID = "databricks_workflow_dag"
PASSWORDS = {"admin": "admin-pw-1", "viewer": "viewer-pw-1"}


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
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    stack = AirflowStack(
        [ROOT / "example_dags" / f"{DAG_ID}.py"],
        connections={"databricks": emulator.connection_json()},
        env=env,
    )
    api = TokenApi(stack.base_url)
    stack.api = api
    with stack:
        api.token = _token(stack.base_url, "admin")
        stack.wait_dags([DAG_ID])
        yield stack


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
    assert _post(url) == (401, {"detail": "Not authenticated"})
    status, body = _post(url, viewer)
    assert status == 403, body
    assert "may not clear task instances" in body["detail"]
    assert _post(url, admin, origin="https://evil.example")[0] == 403
    assert task_runs() == 3  # nothing was repaired
    assert stack.api.task_state(DAG_ID, run_id, "workflow.check_input") == "failed"

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {viewer}"})
    with urllib.request.urlopen(request, timeout=60) as answer:  # a viewer may look at the page
        assert "workflow.check_input (failed)" in answer.read().decode()

    status, body = _post(url, admin)
    assert status == 200, body
    assert body["task_ids"] == ["workflow.check_input"]
    assert body["databricks_run_id"] == databricks_run_id
    assert task_runs() == 4  # the repaired attempt of check_input
