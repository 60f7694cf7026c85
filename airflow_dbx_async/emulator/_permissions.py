"""Job permissions (Permissions API 2.0): ``GET``, ``PUT`` (replace) and ``PATCH`` (merge) of a job's ACL.

References: https://docs.databricks.com/api/workspace/jobs/getpermissions, .../jobs/setpermissions
("Sets permissions on an object, replacing existing permissions if they exist. Deletes all direct
permissions if none are specified"), .../jobs/updatepermissions, and .../jobs/create
(``access_control_list``: "List of permissions to set on the job"). Job levels are ``CAN_VIEW``,
``CAN_MANAGE_RUN``, ``IS_OWNER`` and ``CAN_MANAGE`` (databricks-sdk ``JobPermissionLevel``); the
creator owns a new job and workspace admins hold ``CAN_MANAGE`` on every job, inherited from
``/jobs/`` ("Jobs access control" docs). A job "must have exactly one owner" (the service's 400, quoted
in databricks/terraform-provider-databricks#303); an admin who makes someone else the owner leaves the
previous owner ``CAN_MANAGE``. The emulator has one identity: every accepted credential is the workspace
admin ``emulator@example.com``, who creates the jobs, so no request is refused for lack of permission.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._params import invalid, json_response, read_params
from airflow_dbx_async.emulator._schema import STR, list_of, object_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("JOB_LEVELS", "apply_acl", "check_acl", "permission_routes")

JOB_LEVELS = ("CAN_VIEW", "CAN_MANAGE_RUN", "IS_OWNER", "CAN_MANAGE")
ADMIN = "emulator@example.com"
_KINDS = ("user_name", "group_name", "service_principal_name")
_ACL_KEY = "access_control_list"
_ENTRY = object_of({kind: STR for kind in (*_KINDS, "permission_level")})
_BODY = object_of({_ACL_KEY: list_of(_ENTRY)})
_INHERITED = {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/jobs/"]}


def check_acl(body: Mapping[str, Any], path: str = _ACL_KEY) -> list[dict[str, str]]:
    """The checked entries of ``access_control_list`` as ``{<principal kind>: name, permission_level}``."""
    _BODY(body, "")
    entries: list[dict[str, str]] = []
    for index, raw in enumerate(body.get(_ACL_KEY) or ()):
        where = f"{path}[{index}]"
        kinds = [k for k in _KINDS if raw.get(k)]
        if len(kinds) != 1:
            found = " and ".join(kinds) or "none"
            raise invalid(f"{where} must set exactly one of {', '.join(_KINDS)}; found {found}.")
        level = raw.get("permission_level")
        if not level:
            raise invalid(f"Missing required field: {where}.permission_level")
        if level not in JOB_LEVELS:
            raise invalid(
                f"Invalid {where}.permission_level {str(level)[:40]!r}: "
                f"a job permission is one of {', '.join(JOB_LEVELS)}."
            )
        if level == "IS_OWNER" and kinds[0] == "group_name":
            raise invalid(f"{where}: a group cannot be the owner of a job; use a user or service principal.")
        entries.append({kinds[0]: str(raw[kinds[0]]), "permission_level": str(level)})
    return entries


def _principal(entry: Mapping[str, str]) -> tuple[str, str]:
    kind = next(k for k in _KINDS if k in entry)
    return kind, entry[kind]


def _one_owner(entries: list[dict[str, str]]) -> None:
    if sum(1 for e in entries if e["permission_level"] == "IS_OWNER") != 1:
        raise invalid("The job must have exactly one owner.")


def _merge(current: list[dict[str, str]], changes: list[dict[str, str]]) -> list[dict[str, str]]:
    """PATCH: each principal named gets its new level; a new owner leaves the previous one CAN_MANAGE."""
    if sum(1 for e in changes if e["permission_level"] == "IS_OWNER") > 1:
        raise invalid("The job must have exactly one owner.")
    merged = {_principal(e): dict(e) for e in current}
    if any(e["permission_level"] == "IS_OWNER" for e in changes):
        for entry in merged.values():
            if entry["permission_level"] == "IS_OWNER":
                entry["permission_level"] = "CAN_MANAGE"
    for entry in changes:
        merged[_principal(entry)] = dict(entry)
    result = list(merged.values())
    _one_owner(result)
    return result


def _direct(job: dict[str, Any]) -> list[dict[str, str]]:
    owner = {"user_name": ADMIN, "permission_level": "IS_OWNER"}
    acl: list[dict[str, str]] = job.setdefault(_ACL_KEY, [owner])
    return acl


def apply_acl(job: dict[str, Any], entries: list[dict[str, str]], *, replace: bool = False) -> None:
    """Set (``replace``, PUT) or merge (PATCH, jobs/create) checked entries into the job's ACL."""
    if replace:
        _one_owner(entries)
        job[_ACL_KEY] = [dict(e) for e in entries]
    else:
        job[_ACL_KEY] = _merge(_direct(job), entries)


def _render(job: dict[str, Any]) -> dict[str, Any]:
    shown: list[dict[str, Any]] = []
    for entry in _direct(job):
        kind, name = _principal(entry)
        permission = {"permission_level": entry["permission_level"], "inherited": False}
        shown.append({kind: name, "all_permissions": [permission]})
    admins = next((e for e in shown if e.get("group_name") == "admins"), None)
    if admins is None:
        shown.append({"group_name": "admins", "all_permissions": [dict(_INHERITED)]})
    else:
        admins["all_permissions"].append(dict(_INHERITED))
    return {"object_id": f"/jobs/{job['job_id']}", "object_type": "job", _ACL_KEY: shown}


def _job(request: web.Request) -> dict[str, Any]:
    state: EmulatorState = request.app[STATE]
    raw = request.match_info["job_id"]
    if not raw.isdigit():
        raise invalid(f"Invalid job id {raw[:40]!r}.")
    return state.job(int(raw))


async def _get(request: web.Request) -> web.Response:
    return json_response(_render(_job(request)))


async def _set(request: web.Request) -> web.Response:
    entries = check_acl(await read_params(request))
    job = _job(request)
    apply_acl(job, entries, replace=request.method == "PUT")
    return json_response(_render(job))


def permission_routes() -> list[web.RouteDef]:
    """Routes of the job permissions."""
    path = "/api/2.0/permissions/jobs/{job_id}"
    return [web.get(path, _get), web.put(path, _set), web.patch(path, _set)]
