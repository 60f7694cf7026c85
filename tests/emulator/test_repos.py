"""Repos (``/api/2.0/repos``) over HTTP, through databricks-sdk and the official hook.

References: https://docs.databricks.com/api/workspace/repos/create, .../repos/update, .../repos/get,
.../repos/delete, .../workspace/getstatus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.emulator import EmulatorHandle
from tests.emulator.conftest import official_hook

if TYPE_CHECKING:
    from tests.emulator.conftest import MakeApi

URL = "https://github.com/me/project.git"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "gitHub"}, "url"),
        ({"url": URL}, "provider"),
        ({"url": URL, "provider": "svn"}, "provider"),
        ({"url": URL, "provider": "gitHub", "path": "/Repos/project"}, "path"),
        ({"url": URL, "provider": "gitHub", "path": "relative/project"}, "path"),
    ],
)
async def test_create_refuses(make_api: MakeApi, body: dict[str, Any], field: str) -> None:
    _, api = await make_api(simulate=True)
    status, answer = await api.call("POST", "/api/2.0/repos", json=body)
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert field in answer["message"]


@pytest.mark.asyncio
async def test_create_update_to_branch_or_tag_and_delete(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    created = await api.post("/api/2.0/repos", {"url": URL, "provider": "GITHUB"})
    assert created["path"] == "/Users/emulator@example.com/project.git"  # the caller's home folder
    assert (created["provider"], created["branch"]) == ("gitHub", "main")
    assert set(created) == {"id", "path", "url", "provider", "branch", "head_commit_id"}
    path = f"/api/2.0/repos/{created['id']}"
    for body in ({}, {"branch": "dev", "tag": "v1"}):
        status, answer = await api.call("PATCH", path, json=body)
        assert (status, answer["message"]) == (400, "Exactly one of branch or tag must be specified.")
    assert await api.ok("PATCH", path, json={"tag": "v1.0"}) == {}
    tagged = await api.get(path)
    assert "branch" not in tagged  # detached HEAD: no branch is shown
    assert "tag" not in tagged
    assert tagged["head_commit_id"] != created["head_commit_id"]
    assert await api.ok("PATCH", path, json={"branch": "dev"}) == {}
    assert (await api.get(path))["branch"] == "dev"
    status, answer = await api.call("POST", "/api/2.0/repos", json={"url": URL, "provider": "gitHub"})
    assert (status, answer["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    assert await api.ok("DELETE", path) == {}
    status, answer = await api.call("GET", path)
    assert (status, answer["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_sdk_repos(handle: EmulatorHandle) -> None:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import NotFound

    w = WorkspaceClient(host=handle.url, token=handle.token)
    created = w.repos.create(url=URL, provider="gitHub", path="/Repos/me/project")
    assert created.id is not None
    w.repos.update(created.id, branch="release")
    assert w.repos.get(created.id).branch == "release"
    w.repos.update(created.id, tag="v2")
    assert w.repos.get(created.id).branch is None
    assert w.workspace.get_status("/Repos/me/project").object_id == created.id
    w.repos.delete(created.id)
    with pytest.raises(NotFound):
        w.repos.get(created.id)


@pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")
def test_official_hook_repo_calls(handle: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = official_hook(handle, monkeypatch, "dbx_repos2")
    # What DatabricksReposCreateOperator sends: url, provider, path; then a tag checkout.
    created = hook.create_repo({"url": URL, "provider": "gitHub", "path": "/Repos/team/project"})
    repo_id = hook.get_repo_by_path("/Repos/team/project")
    assert repo_id == str(created["id"])
    assert hook.update_repo(repo_id, {"tag": "v1"}) == {}
    assert "branch" not in hook._do_api_call(("GET", f"2.0/repos/{repo_id}"))
    hook.delete_repo(repo_id)
    assert hook.get_repo_by_path("/Repos/team/project") is None
