"""Repos (``/api/2.0/repos``) and ``workspace/get-status``: what the official hook's repo calls use.

References: https://docs.databricks.com/api/workspace/repos (create, get, update, delete, list) and
https://docs.databricks.com/api/workspace/workspace/getstatus (``object_type`` ``REPO`` with
``object_id``; a missing path is 404 ``RESOURCE_DOES_NOT_EXIST``). Create needs ``url`` and ``provider``
(case-insensitive); ``path`` defaults to the caller's home folder and under ``/Repos`` must be
``/Repos/{folder}/{repo-name}``. Update takes exactly one of ``branch`` or ``tag`` and answers ``{}``; a
tag is a detached HEAD, so the repo then shows no ``branch`` (databricks-sdk ``GetRepoResponse``).
Repos live in memory; notebooks and folders of the emulated workspace answer get-status as
``NOTEBOOK`` / ``DIRECTORY``.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._params import ApiFailure, get_str, invalid, json_response, read_params
from airflow_dbx_async.emulator._schema import BOOL, INT, OBJ, STR, object_of

if TYPE_CHECKING:
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("repo_routes",)

_IDS = itertools.count(3_900_000_000_000_001)
_CHECK = object_of(
    {"url": STR, "provider": STR, "path": STR, "git_credential_id": INT, "sparse_checkout": OBJ}
)
_UPDATE = object_of(
    {
        "branch": STR,
        "tag": STR,
        "git_credential_id": INT,
        "sparse_checkout": OBJ,
        "dangerously_force_discard_all": BOOL,
    }
)
# "Git provider. This field is case-insensitive" (repos/create); answers use these spellings.
_PROVIDERS = {
    p.lower(): p
    for p in (
        "gitHub",
        "bitbucketCloud",
        "gitLab",
        "azureDevOpsServices",
        "gitHubEnterprise",
        "bitbucketServer",
        "gitLabEnterpriseEdition",
        "awsCodeCommit",
    )
}
_SHOWN = ("id", "path", "url", "provider", "branch", "head_commit_id", "sparse_checkout")
_HOME = "/Users/emulator@example.com"


def _missing(message: str) -> ApiFailure:
    return ApiFailure(404, "RESOURCE_DOES_NOT_EXIST", message)


def _state(request: web.Request) -> EmulatorState:
    state: EmulatorState = request.app[STATE]
    return state


def _commit(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode(), usedforsecurity=False).hexdigest()


def _repo(state: EmulatorState, raw: str) -> dict[str, Any]:
    try:
        return state.repos[int(raw)]
    except (KeyError, ValueError):
        raise _missing(f"Repo {raw[:40]} does not exist.") from None


def _shown(repo: dict[str, Any]) -> dict[str, Any]:
    """A repo as the API shows it: no ``branch`` when a tag is checked out (detached HEAD), no ``tag``."""
    return {k: repo[k] for k in _SHOWN if repo.get(k) is not None}


def _path(body: dict[str, Any], url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1] or "repo"
    path = get_str(body, "path") or f"{_HOME}/{name}"
    parts = path.split("/")
    if not path.startswith("/") or "" in parts[1:]:
        raise invalid(f"Invalid path {path[:100]!r}: it must be an absolute workspace path.")
    if parts[1] == "Repos" and len(parts) != 4:
        raise invalid(
            f"Invalid path {path[:100]!r}: a repo in /Repos must be at /Repos/{{folder}}/{{repo-name}}."
        )
    return path


async def _create(request: web.Request) -> web.Response:
    body = await read_params(request)
    _CHECK(body, "")
    url, provider = get_str(body, "url"), get_str(body, "provider")
    if not url:
        raise invalid("Missing required field: url")
    if not provider:
        raise invalid("Missing required field: provider")
    if provider.lower() not in _PROVIDERS:
        raise invalid(
            f"Invalid provider {provider[:40]!r}: it must be one of {', '.join(_PROVIDERS.values())}."
        )
    state = _state(request)
    path = _path(body, url)
    if any(r["path"] == path for r in state.repos.values()):
        raise ApiFailure(400, "RESOURCE_ALREADY_EXISTS", f"Path {path} already exists.")
    repo_id = next(_IDS)
    state.repos[repo_id] = {
        "id": repo_id,
        "path": path,
        "url": url,
        "provider": _PROVIDERS[provider.lower()],
        "branch": "main",
        "head_commit_id": _commit(url, "main"),
    }
    if body.get("sparse_checkout") is not None:
        state.repos[repo_id]["sparse_checkout"] = body["sparse_checkout"]
    return json_response(_shown(state.repos[repo_id]))


async def _get(request: web.Request) -> web.Response:
    return json_response(_shown(_repo(_state(request), request.match_info["repo_id"])))


async def _update(request: web.Request) -> web.Response:
    body = await read_params(request)
    _UPDATE(body, "")
    repo = _repo(_state(request), request.match_info["repo_id"])
    branch, tag = get_str(body, "branch"), get_str(body, "tag")
    if bool(branch) == bool(tag):
        raise invalid("Exactly one of branch or tag must be specified.")
    repo.update(branch=branch or None, tag=tag or None, head_commit_id=_commit(repo["url"], branch or tag))
    return json_response({})


async def _delete(request: web.Request) -> web.Response:
    state = _state(request)
    repo = _repo(state, request.match_info["repo_id"])
    del state.repos[repo["id"]]
    return json_response({})


async def _list(request: web.Request) -> web.Response:
    params = await read_params(request)
    prefix = get_str(params, "path_prefix")
    repos = [_shown(r) for r in _state(request).repos.values() if r["path"].startswith(prefix)]
    return json_response({"repos": repos} if repos else {})


def _workspace_object(state: EmulatorState, path: str) -> dict[str, Any] | None:
    root = state.config.workspace_path
    if root is None or not path.startswith("/"):
        return None
    target = (root / path.lstrip("/")).resolve()
    if not target.is_relative_to(root):
        return None
    if target.is_dir():
        return {"object_type": "DIRECTORY", "path": path, "object_id": abs(hash(path)) % 10**15}
    for suffix in (".py", ".ipynb"):
        if target.with_name(target.name + suffix).is_file():
            return {
                "object_type": "NOTEBOOK",
                "path": path,
                "language": "PYTHON",
                "object_id": abs(hash(path)) % 10**15,
            }
    return None


async def _get_status(request: web.Request) -> web.Response:
    params = await read_params(request)
    path = get_str(params, "path")
    if not path:
        raise invalid("Missing required field: path")
    state = _state(request)
    repo = next((r for r in state.repos.values() if r["path"] == path), None)
    if repo is not None:
        return json_response({"object_type": "REPO", "object_id": repo["id"], "path": path})
    found = _workspace_object(state, path)
    if found is None:
        raise _missing(f"Path ({path}) doesn't exist.")
    return json_response(found)


def repo_routes() -> list[web.RouteDef]:
    """Routes of the Repos API and workspace get-status (2.0)."""
    routes = [
        web.post("/api/2.0/repos", _create),
        web.get("/api/2.0/repos", _list),
        web.get("/api/2.0/workspace/get-status", _get_status),
    ]
    # The official hook builds "2.0/repos/" + "/" + id; the service accepts the doubled slash.
    for prefix in ("/api/2.0/repos/", "/api/2.0/repos//"):
        routes += [
            web.get(prefix + "{repo_id}", _get),
            web.patch(prefix + "{repo_id}", _update),
            web.delete(prefix + "{repo_id}", _delete),
        ]
    return routes
