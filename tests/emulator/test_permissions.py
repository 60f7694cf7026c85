"""Job permissions (``/api/2.0/permissions/jobs/{id}``) over HTTP, through databricks-sdk and the hook.

References: https://docs.databricks.com/api/workspace/jobs/getpermissions, .../jobs/setpermissions,
.../jobs/updatepermissions, .../jobs/create (``access_control_list``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.emulator import EmulatorHandle
from tests.emulator.conftest import official_hook

if TYPE_CHECKING:
    from tests.emulator.conftest import Api, MakeApi

ADMIN = "emulator@example.com"
JOB = {"name": "acl", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/Users/me/nb"}}]}


def _levels(body: dict[str, Any]) -> dict[str, list[tuple[str, bool]]]:
    """principal name -> [(level, inherited)]."""
    out = {}
    for entry in body["access_control_list"]:
        name = entry.get("user_name") or entry.get("group_name") or entry.get("service_principal_name")
        out[name] = [(p["permission_level"], p["inherited"]) for p in entry["all_permissions"]]
    return out


async def _job(api: Api, **extra: Any) -> int:
    job_id: int = (await api.post("jobs/create", {**JOB, **extra}))["job_id"]
    return job_id


@pytest.mark.asyncio
async def test_owner_by_default_put_replaces_patch_merges(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    job_id = await _job(api)
    path = f"/api/2.0/permissions/jobs/{job_id}"
    got = await api.get(path)
    assert (got["object_id"], got["object_type"]) == (f"/jobs/{job_id}", "job")
    assert _levels(got) == {ADMIN: [("IS_OWNER", False)], "admins": [("CAN_MANAGE", True)]}
    admins = next(e for e in got["access_control_list"] if e.get("group_name") == "admins")
    assert admins["all_permissions"][0]["inherited_from_object"] == ["/jobs/"]

    acl = [
        {"user_name": "owner@example.com", "permission_level": "IS_OWNER"},
        {"group_name": "analysts", "permission_level": "CAN_VIEW"},
    ]
    replaced = await api.ok("PUT", path, json={"access_control_list": acl})
    assert _levels(replaced) == {
        "owner@example.com": [("IS_OWNER", False)],
        "analysts": [("CAN_VIEW", False)],
        "admins": [("CAN_MANAGE", True)],
    }
    change = [{"service_principal_name": "sp-1", "permission_level": "CAN_MANAGE_RUN"}]
    merged = await api.ok("PATCH", path, json={"access_control_list": change})
    assert _levels(merged)["sp-1"] == [("CAN_MANAGE_RUN", False)]
    assert _levels(merged)["analysts"] == [("CAN_VIEW", False)]
    # A new owner: the previous one keeps CAN_MANAGE (jobs access control docs).
    new_owner = [{"user_name": "next@example.com", "permission_level": "IS_OWNER"}]
    transferred = await api.ok("PATCH", path, json={"access_control_list": new_owner})
    assert _levels(transferred)["owner@example.com"] == [("CAN_MANAGE", False)]
    assert _levels(transferred)["next@example.com"] == [("IS_OWNER", False)]
    assert await api.get(path) == transferred


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "acl", "message"),
    [
        (
            "PUT",
            [{"group_name": "g", "permission_level": "CAN_VIEW"}],
            "The job must have exactly one owner.",
        ),
        ("PUT", [], "The job must have exactly one owner."),
        (
            "PATCH",
            [
                {"user_name": "a", "permission_level": "IS_OWNER"},
                {"user_name": "b", "permission_level": "IS_OWNER"},
            ],
            "The job must have exactly one owner.",
        ),
        (
            "PATCH",
            [{"user_name": "a", "permission_level": "CAN_RUN"}],
            "access_control_list[0].permission_level",
        ),
        ("PATCH", [{"user_name": "a"}], "access_control_list[0].permission_level"),
        ("PATCH", [{"permission_level": "CAN_VIEW"}], "access_control_list[0] must set exactly one of"),
        (
            "PATCH",
            [{"user_name": "a", "group_name": "g", "permission_level": "CAN_VIEW"}],
            "found user_name and",
        ),
        ("PATCH", [{"group_name": "g", "permission_level": "IS_OWNER"}], "a group cannot be the owner"),
    ],
)
async def test_refused_acls(make_api: MakeApi, method: str, acl: list[dict[str, str]], message: str) -> None:
    _, api = await make_api(simulate=True)
    job_id = await _job(api)
    status, body = await api.call(
        method, f"/api/2.0/permissions/jobs/{job_id}", json={"access_control_list": acl}
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert message in body["message"]


@pytest.mark.asyncio
async def test_unknown_job_wrong_types_and_create_with_acl(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    status, body = await api.call("GET", "/api/2.0/permissions/jobs/123")
    assert (status, body) == (
        400,
        {"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 123 does not exist."},
    )
    job_id = await _job(api)
    status, body = await api.call(
        "PATCH", f"/api/2.0/permissions/jobs/{job_id}", json={"access_control_list": [{"user_name": 5}]}
    )
    assert (status, body["error_code"]) == (400, "MALFORMED_REQUEST")
    acl = [{"group_name": "viewers", "permission_level": "CAN_VIEW"}]
    job_id = await _job(api, access_control_list=acl)
    levels = _levels(await api.get(f"/api/2.0/permissions/jobs/{job_id}"))
    assert levels["viewers"] == [("CAN_VIEW", False)]
    assert levels[ADMIN] == [("IS_OWNER", False)]
    assert "access_control_list" not in (await api.get("jobs/get", job_id=job_id))["settings"]
    bad = [{"group_name": "viewers", "permission_level": "READ"}]
    status, body = await api.call("POST", "/api/2.2/jobs/create", json={**JOB, "access_control_list": bad})
    assert status == 400
    assert "access_control_list[0].permission_level" in body["message"]
    _, strict = await make_api(simulate=True, not_found_status=404)
    assert (await strict.call("PUT", "/api/2.0/permissions/jobs/9", json={}))[0] == 404


def test_sdk_job_permissions(handle: EmulatorHandle) -> None:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import BadRequest
    from databricks.sdk.service import iam, jobs

    w = WorkspaceClient(host=handle.url, token=handle.token)
    task = jobs.Task(task_key="a", notebook_task=jobs.NotebookTask(notebook_path="/Users/me/nb"))
    job_id = str(w.jobs.create(name="acl", tasks=[task]).job_id)
    owner = jobs.JobAccessControlRequest(user_name=ADMIN, permission_level=jobs.JobPermissionLevel.IS_OWNER)
    viewer = jobs.JobAccessControlRequest(group_name="g", permission_level=jobs.JobPermissionLevel.CAN_VIEW)
    done = w.jobs.set_permissions(job_id, access_control_list=[owner, viewer])
    assert done.object_id == f"/jobs/{job_id}"
    runner = jobs.JobAccessControlRequest(
        service_principal_name="sp", permission_level=jobs.JobPermissionLevel.CAN_MANAGE_RUN
    )
    updated = w.jobs.update_permissions(job_id, access_control_list=[runner])
    names = {
        a.service_principal_name or a.group_name or a.user_name for a in updated.access_control_list or []
    }
    assert names == {ADMIN, "g", "sp", "admins"}
    generic = w.permissions.get("jobs", job_id)
    assert generic.object_type == "job"
    assert {a.group_name for a in generic.access_control_list or [] if a.group_name} == {"g", "admins"}
    with pytest.raises(BadRequest, match="exactly one owner"):
        w.jobs.set_permissions(job_id, access_control_list=[viewer])
    level = iam.AccessControlRequest(user_name="u", permission_level=iam.PermissionLevel.CAN_VIEW)
    w.permissions.update("jobs", job_id, access_control_list=[level])
    assert w.jobs.get_permissions(job_id).access_control_list is not None


@pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")
def test_official_hook_create_reset_and_update_job_permission(
    handle: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = official_hook(handle, monkeypatch, "dbx_acl")
    acl = [{"group_name": "viewers", "permission_level": "CAN_VIEW"}]
    # DatabricksCreateJobsOperator: create with access_control_list, later reset (PATCH permissions first).
    job_id = hook.create_job({**JOB, "access_control_list": acl})
    runners = [{"group_name": "runners", "permission_level": "CAN_MANAGE_RUN"}]
    hook.reset_job(str(job_id), {**JOB, "name": "acl v2", "access_control_list": runners})
    assert hook._do_api_call(("GET", "2.2/jobs/get"), {"job_id": job_id})["settings"]["name"] == "acl v2"
    granted = hook.update_job_permission(
        job_id, {"access_control_list": [{"user_name": "me", "permission_level": "CAN_MANAGE"}]}
    )
    assert _levels(granted) == {
        ADMIN: [("IS_OWNER", False)],
        "viewers": [("CAN_VIEW", False)],
        "runners": [("CAN_MANAGE_RUN", False)],
        "me": [("CAN_MANAGE", False)],
        "admins": [("CAN_MANAGE", True)],
    }
