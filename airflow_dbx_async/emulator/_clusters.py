"""Clusters (create/get/list/start/restart/delete/permanent-delete) and Libraries endpoints.

Clusters exist when declared (``EmulatorConfig.clusters``, ``<workspace>/clusters.json``) or created
through ``clusters/create``; any other id is a 400 "Cluster <id> does not exist", as on Databricks
(https://docs.databricks.com/api/workspace/clusters/get). Create, start and restart pass through
PENDING/RESTARTING for ``cluster_transition_seconds``, computed from the clock like simulated runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_dbx_async.emulator._cluster_store import add_cluster, get_cluster
from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._params import get_str, invalid, json_response, read_params
from airflow_dbx_async.emulator._schema import INT, STR, object_of

if TYPE_CHECKING:
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("cluster_routes",)


def _state(request: web.Request) -> EmulatorState:
    state: EmulatorState = request.app[STATE]
    return state


def _cluster(state: EmulatorState, cluster_id: str) -> dict[str, Any]:
    if not cluster_id:
        raise invalid("Missing required field: cluster_id")
    return get_cluster(state, cluster_id)


def _view(state: EmulatorState, cluster_id: str) -> dict[str, Any]:
    raw = _cluster(state, cluster_id)
    current = raw["state"]
    if raw["transition"] is not None:
        current = raw["transition"] if state.now_ms() < raw["until_ms"] else raw["state"]
    return {
        "cluster_id": cluster_id,
        "cluster_name": str(raw.get("cluster_name") or f"emulator-{cluster_id}"),
        "spark_version": str(raw.get("spark_version") or "15.4.x-scala2.12"),
        "node_type_id": str(raw.get("node_type_id") or "emulator-node"),
        "num_workers": raw.get("num_workers", 1),
        "state": current,
        "state_message": "" if current in ("RUNNING", "TERMINATED") else f"{current.title()} cluster",
        "start_time": raw["since_ms"],
        "creator_user_name": "emulator@example.com",
    }


def _transition(state: EmulatorState, cluster_id: str, during: str, target: str) -> None:
    raw = _cluster(state, cluster_id)
    now = state.now_ms()
    raw.update(
        state=target,
        transition=during,
        until_ms=now + int(state.config.cluster_transition_seconds * 1000),
        since_ms=now,
    )


async def _get(request: web.Request) -> web.Response:
    params = await read_params(request)
    return json_response(_view(_state(request), get_str(params, "cluster_id")))


async def _create(request: web.Request) -> web.Response:
    params = await read_params(request)
    object_of({"cluster_name": STR, "spark_version": STR, "node_type_id": STR, "num_workers": INT})(
        params, ""
    )
    if not params.get("spark_version"):
        raise invalid("Missing required field: spark_version")
    state = _state(request)
    cluster_id = add_cluster(state, params, status="PENDING")
    _transition(state, cluster_id, "PENDING", "RUNNING")
    return json_response({"cluster_id": cluster_id})


async def _list(request: web.Request) -> web.Response:
    state = _state(request)
    clusters = [_view(state, cluster_id) for cluster_id in sorted(state.clusters)]
    return json_response({"clusters": clusters} if clusters else {})


async def _permanent_delete(request: web.Request) -> web.Response:
    params = await read_params(request)
    state, cluster_id = _state(request), get_str(params, "cluster_id")
    _cluster(state, cluster_id)
    del state.clusters[cluster_id]
    state.libraries.pop(cluster_id, None)
    return json_response({})


async def _start(request: web.Request) -> web.Response:
    params = await read_params(request)
    state, cluster_id = _state(request), get_str(params, "cluster_id")
    if _view(state, cluster_id)["state"] in ("TERMINATED", "TERMINATING"):
        _transition(state, cluster_id, "PENDING", "RUNNING")
    return json_response({})


async def _restart(request: web.Request) -> web.Response:
    params = await read_params(request)
    state, cluster_id = _state(request), get_str(params, "cluster_id")
    if _view(state, cluster_id)["state"] == "TERMINATED":
        raise invalid(f"Cluster {cluster_id} is in unexpected state Terminated.")
    _transition(state, cluster_id, "RESTARTING", "RUNNING")
    return json_response({})


async def _delete(request: web.Request) -> web.Response:
    params = await read_params(request)
    state, cluster_id = _state(request), get_str(params, "cluster_id")
    _cluster(state, cluster_id)
    _transition(state, cluster_id, "TERMINATING", "TERMINATED")
    return json_response({})


def _libraries(params: dict[str, Any]) -> list[dict[str, Any]]:
    libs = params.get("libraries")
    if not isinstance(libs, list) or not libs:
        raise invalid("libraries must be a non-empty list.")
    if not all(isinstance(lib, dict) for lib in libs):
        raise invalid("libraries must be a list of objects.")
    return [dict(lib) for lib in libs]


async def _install(request: web.Request) -> web.Response:
    params = await read_params(request)
    state, cluster_id = _state(request), get_str(params, "cluster_id")
    _cluster(state, cluster_id)
    installed = state.libraries.setdefault(cluster_id, [])
    for lib in _libraries(params):
        entry = next((e for e in installed if e["library"] == lib), None)
        if entry is None:
            installed.append({"library": lib, "status": "INSTALLED", "is_library_for_all_clusters": False})
        else:
            entry["status"] = "INSTALLED"
    return json_response({})


async def _uninstall(request: web.Request) -> web.Response:
    params = await read_params(request)
    state, cluster_id = _state(request), get_str(params, "cluster_id")
    _cluster(state, cluster_id)
    wanted = _libraries(params)
    for entry in state.libraries.get(cluster_id, []):
        if entry["library"] in wanted:
            entry["status"] = "UNINSTALL_ON_RESTART"
    return json_response({})


async def _status(request: web.Request) -> web.Response:
    params = await read_params(request)
    state, cluster_id = _state(request), get_str(params, "cluster_id")
    _cluster(state, cluster_id)
    body: dict[str, Any] = {"cluster_id": cluster_id}
    statuses = state.libraries.get(cluster_id, [])
    if statuses:
        body["library_statuses"] = statuses
    return json_response(body)


def cluster_routes() -> list[web.RouteDef]:
    """Routes of the Clusters and Libraries APIs (2.0 and 2.1)."""
    routes: list[web.RouteDef] = []
    for version in ("2.0", "2.1"):
        clusters, libraries = f"/api/{version}/clusters", f"/api/{version}/libraries"
        routes += [
            web.post(f"{clusters}/create", _create),
            web.get(f"{clusters}/list", _list),
            web.post(f"{clusters}/permanent-delete", _permanent_delete),
            web.get(f"{clusters}/get", _get),
            web.post(f"{clusters}/start", _start),
            web.post(f"{clusters}/restart", _restart),
            web.post(f"{clusters}/delete", _delete),
            web.post(f"{libraries}/install", _install),
            web.post(f"{libraries}/uninstall", _uninstall),
            web.get(f"{libraries}/cluster-status", _status),
        ]
    return routes
