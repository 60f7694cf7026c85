"""Pipelines API 2.0 and ``pipeline_task`` runs, over HTTP, through databricks-sdk and the official hook.

References: https://docs.databricks.com/api/workspace/pipelines/listpipelines, .../pipelines/get,
.../pipelines/create, .../jobs/create (``tasks[].pipeline_task``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorHandle, EmulatorServer
from tests.emulator.conftest import official_hook

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.emulator.conftest import MakeApi

PIPELINES = "/api/2.0/pipelines"


@pytest.mark.asyncio
async def test_create_get_and_list_with_filters_and_pages(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    ids = {}
    for name in ("shopping orders", "shopping carts", "billing"):
        body = {"name": name, "libraries": [{"notebook": {"path": f"/Users/me/{name.split()[0]}"}}]}
        ids[name] = (await api.post(PIPELINES, body))["pipeline_id"]
    got = await api.get(f"{PIPELINES}/{ids['billing']}")
    assert got["pipeline_id"] == got["spec"]["id"] == ids["billing"]
    assert (got["name"], got["state"]) == ("billing", "IDLE")
    assert "latest_updates" not in got  # no update ran yet

    shopping = await api.get(PIPELINES, filter="name LIKE '%shopping%'")
    assert sorted(s["name"] for s in shopping["statuses"]) == ["shopping carts", "shopping orders"]
    assert set(shopping["statuses"][0]) == {
        "pipeline_id",
        "name",
        "state",
        "creator_user_name",
        "run_as_user_name",
    }
    exact = await api.get(PIPELINES, filter="name LIKE 'billing'")
    assert [s["pipeline_id"] for s in exact["statuses"]] == [ids["billing"]]
    assert await api.get(PIPELINES, filter="name LIKE 'nothing'") == {}
    by_notebook = await api.get(PIPELINES, filter="notebook='/Users/me/billing'")
    assert [s["name"] for s in by_notebook["statuses"]] == ["billing"]

    first = await api.get(PIPELINES, max_results=2, order_by="name desc")
    assert [s["name"] for s in first["statuses"]] == ["shopping orders", "shopping carts"]
    rest = await api.get(PIPELINES, max_results=2, order_by="name desc", page_token=first["next_page_token"])
    assert [s["name"] for s in rest["statuses"]] == ["billing"]
    assert "next_page_token" not in rest


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_results": "101"}, "max_results"),
        ({"max_results": "0"}, "max_results"),
        ({"filter": "name = 'x'"}, "filter"),
        ({"filter": "name LIKE 'a' AND notebook='/b'"}, "filter"),
        ({"order_by": "created"}, "order_by"),
    ],
)
@pytest.mark.asyncio
async def test_list_refuses_bad_parameters(make_api: MakeApi, params: dict[str, str], field: str) -> None:
    _, api = await make_api(simulate=True)
    status, body = await api.call("GET", PIPELINES, params=params)
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert field in body["message"]


@pytest.mark.asyncio
async def test_unknown_pipeline_duplicate_names_and_bad_types(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    status, body = await api.call("GET", f"{PIPELINES}/0000-unknown")
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert body["message"] == "The specified pipeline 0000-unknown was not found."
    await api.post(PIPELINES, {"name": "p"})
    status, body = await api.call("POST", PIPELINES, json={"name": "p"})
    assert (status, body["error_code"]) == (409, "RESOURCE_CONFLICT")
    await api.post(PIPELINES, {"name": "p", "allow_duplicate_names": True})
    status, body = await api.call("POST", PIPELINES, json={"name": "p", "configuration": {"a": [1]}})
    assert (status, body["error_code"]) == (400, "MALFORMED_REQUEST")
    assert "configuration.a" in body["message"]
    dry = await api.post(PIPELINES, {"name": "q", "dry_run": True})
    assert "pipeline_id" not in dry
    assert dry["effective_settings"]["name"] == "q"
    pid = (await api.post(PIPELINES, {"name": "gone"}))["pipeline_id"]
    assert await api.ok("DELETE", f"{PIPELINES}/{pid}") == {}
    assert (await api.call("GET", f"{PIPELINES}/{pid}"))[0] == 404


def _pipeline_job(pipeline_id: str) -> dict[str, Any]:
    task = {"task_key": "refresh", "pipeline_task": {"pipeline_id": pipeline_id, "full_refresh": True}}
    return {"name": "dlt", "tasks": [task]}


@pytest.mark.asyncio
async def test_pipeline_task_runs_an_update_and_an_unknown_pipeline_fails_at_run_time(
    make_api: MakeApi,
) -> None:
    _, api = await make_api(simulate=True, sim_duration_seconds=0.1)
    pid = (await api.post(PIPELINES, {"name": "orders"}))["pipeline_id"]
    job_id = (await api.post("jobs/create", _pipeline_job(pid)))["job_id"]
    run = await api.wait_run((await api.post("jobs/run-now", {"job_id": job_id}))["run_id"])
    assert run["state"]["result_state"] == "SUCCESS"
    assert run["tasks"][0]["pipeline_task"] == {"pipeline_id": pid, "full_refresh": True}
    (update,) = (await api.get(f"{PIPELINES}/{pid}"))["latest_updates"]
    assert update["state"] == "COMPLETED"
    assert update["creation_time"].endswith("Z")

    # Saving a job that names a missing pipeline is accepted; its run fails when the task starts.
    job_id = (await api.post("jobs/create", _pipeline_job("no-such-pipeline")))["job_id"]
    failed = await api.wait_run((await api.post("jobs/run-now", {"job_id": job_id}))["run_id"])
    assert failed["state"]["life_cycle_state"] == "INTERNAL_ERROR"
    task = failed["tasks"][0]
    assert task["state"]["result_state"] == "FAILED"
    assert task["state"]["state_message"] == "The specified pipeline no-such-pipeline was not found."
    output = await api.get("jobs/runs/get-output", run_id=task["run_id"])
    assert output["error"] == "The specified pipeline no-such-pipeline was not found."
    assert "logs" not in output  # no logs for pipeline tasks (jobs/getrunoutput)


@pytest.mark.asyncio
async def test_pipelines_json_in_the_workspace(make_api: MakeApi, workspace: Path) -> None:
    declared = {"pipelines": [{"pipeline_id": "1234-abcd", "name": "declared"}]}
    (workspace / "pipelines.json").write_text(json.dumps(declared), encoding="utf-8")
    _, api = await make_api(workspace=str(workspace))
    assert (await api.get(f"{PIPELINES}/1234-abcd"))["name"] == "declared"
    await api.post("/_emulator/reset", {})
    assert (await api.get(PIPELINES))["statuses"][0]["pipeline_id"] == "1234-abcd"


@pytest.fixture
def handle() -> Iterator[EmulatorHandle]:
    with EmulatorServer(
        EmulatorConfig(simulate=True, sim_duration_seconds=0.05)
    ).start_in_thread() as running:
        yield running


def test_sdk_pipelines(handle: EmulatorHandle) -> None:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.pipelines import PipelineState

    w = WorkspaceClient(host=handle.url, token=handle.token)
    created = w.pipelines.create(name="sdk shopping", allow_duplicate_names=True)
    assert created.pipeline_id is not None
    found = list(w.pipelines.list_pipelines(filter="name LIKE 'sdk%'", max_results=1))
    assert [p.pipeline_id for p in found] == [created.pipeline_id]
    got = w.pipelines.get(created.pipeline_id)
    assert got.state == PipelineState.IDLE
    assert got.spec is not None
    assert got.spec.name == "sdk shopping"
    with pytest.raises(NotFound):
        w.pipelines.get("missing")


@pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")
def test_official_hook_finds_pipelines_by_name(
    handle: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowException

    hook = official_hook(handle, monkeypatch, "dbx_pipelines")
    assert hook.find_pipeline_id_by_name("orders") is None
    pid = hook._do_api_call(("POST", "2.0/pipelines"), {"name": "orders"})["pipeline_id"]
    for index in range(30):  # more than one page of the hook's batch size (25)
        hook._do_api_call(("POST", "2.0/pipelines"), {"name": f"other {index}"})
    assert hook.find_pipeline_id_by_name("orders") == pid
    assert len(hook.list_pipelines()) == 31
    hook._do_api_call(("POST", "2.0/pipelines"), {"name": "orders", "allow_duplicate_names": True})
    with pytest.raises(AirflowException, match="more than one pipelines"):
        hook.find_pipeline_id_by_name("orders")
