"""Handlers of the Jobs API endpoints, served under both ``/api/2.1/`` and ``/api/2.2/``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_dbx_async.emulator._cluster_store import check_clusters
from airflow_dbx_async.emulator._export import export_run
from airflow_dbx_async.emulator._jobs import job_object
from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._paging import decode_token, encode_token
from airflow_dbx_async.emulator._params import (
    get_bool,
    get_int,
    get_str,
    invalid,
    json_response,
    limit_and_offset,
    read_params,
)
from airflow_dbx_async.emulator._permissions import apply_acl, check_acl
from airflow_dbx_async.emulator._render import Renderer
from airflow_dbx_async.emulator._runs_list import list_runs
from airflow_dbx_async.emulator._validate import (
    check_job_settings,
    check_repair,
    check_run_now,
    check_submit,
    check_update,
)

if TYPE_CHECKING:
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("jobs_routes",)

_PAGE = 100
_MAX_TASKS = 1000
_MULTI_TASK_OUTPUT = (
    "Retrieving the output of runs with multiple tasks is not supported. "
    "Please retrieve the output of each individual task run instead."
)


def _state(request: web.Request) -> EmulatorState:
    state: EmulatorState = request.app[STATE]
    return state


def _v22(request: web.Request) -> bool:
    return request.match_info.get("version") == "2.2"


def _task_limit(request: web.Request, tasks: Any) -> None:
    """At most 100 tasks per request on 2.1 and 1000 on 2.2 (docs: "Jobs with a large number of tasks")."""
    count = len(tasks) if isinstance(tasks, list) else 0
    if not _v22(request) and count > _PAGE:
        raise invalid(
            "Resources with more than 100 tasks can only be handled by API 2.2 and above. "
            f"Your resource has {count} tasks."
        )
    if count > _MAX_TASKS:
        raise invalid(f"A job can have at most {_MAX_TASKS} tasks; this one has {count}.")


def renderer(request: web.Request) -> Renderer:
    """A renderer for this request (``run_page_url`` uses the address the client used)."""
    state = _state(request)
    return Renderer(f"{request.scheme}://{request.host}", state.config.workspace_id, state.now_ms())


async def _create(request: web.Request) -> web.Response:
    body = check_job_settings(await read_params(request))
    _task_limit(request, body.get("tasks"))
    if _v22(request) and "queue" not in body:
        body["queue"] = {"enabled": True}  # queueing is on by default for jobs created with API 2.2
    check_clusters(_state(request), list(body.get("tasks") or ()))
    acl = check_acl(body)
    state = _state(request)
    job_id = state.create_job(body)
    if acl:
        apply_acl(state.job(job_id), acl)
    return json_response({"job_id": job_id})


async def _get_job(request: web.Request) -> web.Response:
    params = await read_params(request)
    state = _state(request)
    job = state.job(get_int(params, "job_id", required=True))
    body = job_object(job["job_id"], job["created_time"], job["settings"])
    tasks = body["settings"].get("tasks", [])
    if _v22(request) and len(tasks) > _PAGE:
        offset = decode_token(get_str(params, "page_token"))
        body["settings"]["tasks"] = tasks[offset : offset + _PAGE]
        if offset + _PAGE < len(tasks):
            body["next_page_token"] = encode_token(offset + _PAGE)
    return json_response(body)


def _page(params: dict[str, Any], default: int, maximum: int, offset_cap: int) -> tuple[int, int]:
    limit, offset = limit_and_offset(params, default=default, maximum=maximum, offset_cap=offset_cap)
    token = get_str(params, "page_token")
    return limit, decode_token(token) if token else offset


def _paged(request: web.Request, key: str, items: list[Any], limit: int, offset: int) -> dict[str, Any]:
    body: dict[str, Any] = {}
    page = items[offset : offset + limit]
    if page:
        body[key] = page
    more = offset + limit < len(items)
    if more:
        body["next_page_token"] = encode_token(offset + limit)
    if offset > 0:
        body["prev_page_token"] = encode_token(max(0, offset - limit))
    if not _v22(request):
        body["has_more"] = more
    return body


async def _list_jobs(request: web.Request) -> web.Response:
    params = await read_params(request)
    state = _state(request)
    limit, offset = _page(params, 20, 100, 1000)
    name = get_str(params, "name").lower()
    expand = get_bool(params, "expand_tasks")
    jobs = sorted(state.jobs.values(), key=lambda j: (j["created_time"], j["job_id"]), reverse=True)
    if name:
        jobs = [j for j in jobs if str(j["settings"].get("name", "")).lower() == name]
    shown = [job_object(j["job_id"], j["created_time"], j["settings"], expand=expand) for j in jobs]
    return json_response(_paged(request, "jobs", shown, limit, offset))


async def _delete_job(request: web.Request) -> web.Response:
    params = await read_params(request)
    state = _state(request)
    job_id = get_int(params, "job_id", required=True)
    state.job(job_id)
    del state.jobs[job_id]
    return json_response({})


async def _reset_job(request: web.Request) -> web.Response:
    params = await read_params(request)
    new_settings = params.get("new_settings")
    if new_settings is None:
        raise invalid("Missing required field: new_settings")
    new_settings = check_job_settings(new_settings, "new_settings")
    _task_limit(request, new_settings.get("tasks"))
    _state(request).reset_job(get_int(params, "job_id", required=True), new_settings)
    return json_response({})


async def _update_job(request: web.Request) -> web.Response:
    params = await read_params(request)
    new_settings = check_update(params)
    _task_limit(request, new_settings.get("tasks"))
    remove = [str(f) for f in params.get("fields_to_remove") or ()]
    _state(request).update_job(get_int(params, "job_id", required=True), new_settings, remove)
    return json_response({})


async def _run_now(request: web.Request) -> web.Response:
    params = await read_params(request)
    check_run_now(params)
    run_id = _state(request).run_now(params)
    return json_response({"run_id": run_id, "number_in_job": run_id})


async def _submit(request: web.Request) -> web.Response:
    params = check_submit(await read_params(request))
    _task_limit(request, params.get("tasks"))
    return json_response({"run_id": _state(request).submit(params)})


async def _get_run(request: web.Request) -> web.Response:
    params = await read_params(request)
    run, task = _state(request).lookup(get_int(params, "run_id", required=True))
    render = renderer(request)
    if task is not None:
        return json_response(render.task_run(run, task))
    history = get_bool(params, "include_history")
    if not (_v22(request) and len(run.tasks) > _PAGE):
        return json_response(render.run(run, run.tasks, include_history=history))
    offset = decode_token(get_str(params, "page_token"))
    body = render.run(run, run.tasks[offset : offset + _PAGE], include_history=history)
    if offset + _PAGE < len(run.tasks):
        body["next_page_token"] = encode_token(offset + _PAGE)
    if offset and history:
        body["repair_history"] = []
    return json_response(body)


async def _get_output(request: web.Request) -> web.Response:
    params = await read_params(request)
    run, task = _state(request).lookup(get_int(params, "run_id", required=True))
    if task is None:
        raise invalid(_MULTI_TASK_OUTPUT)
    return json_response(renderer(request).output(run, task))


async def _cancel(request: web.Request) -> web.Response:
    params = await read_params(request)
    _state(request).cancel(get_int(params, "run_id", required=True))
    return json_response({})


async def _cancel_all(request: web.Request) -> web.Response:
    params = await read_params(request)
    job_id = get_int(params, "job_id", default=-1)
    _state(request).cancel_all(None if job_id == -1 else job_id, get_bool(params, "all_queued_runs"))
    return json_response({})


async def _delete_run(request: web.Request) -> web.Response:
    params = await read_params(request)
    _state(request).delete_run(get_int(params, "run_id", required=True))
    return json_response({})


async def _repair(request: web.Request) -> web.Response:
    params = await read_params(request)
    check_repair(params)
    return json_response({"repair_id": _state(request).repair(params)})


def jobs_routes() -> list[web.RouteDef]:
    """Routes of the Jobs API for both API versions."""
    prefix = "/api/{version:2\\.[12]}/jobs"
    return [
        web.post(f"{prefix}/create", _create),
        web.get(f"{prefix}/get", _get_job),
        web.get(f"{prefix}/list", _list_jobs),
        web.post(f"{prefix}/delete", _delete_job),
        web.post(f"{prefix}/reset", _reset_job),
        web.post(f"{prefix}/update", _update_job),
        web.post(f"{prefix}/run-now", _run_now),
        web.post(f"{prefix}/runs/submit", _submit),
        web.get(f"{prefix}/runs/get", _get_run),
        web.get(f"{prefix}/runs/get-output", _get_output),
        web.get(f"{prefix}/runs/export", export_run),
        web.post(f"{prefix}/runs/cancel", _cancel),
        web.post(f"{prefix}/runs/cancel-all", _cancel_all),
        web.post(f"{prefix}/runs/delete", _delete_run),
        web.post(f"{prefix}/runs/repair", _repair),
        web.get(f"{prefix}/runs/list", list_runs),
    ]
