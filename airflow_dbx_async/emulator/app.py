"""The aiohttp application of the emulator: routes plus one middleware chain.

Order of work for a request: count it (per endpoint and per new connection), maybe inject a fault,
check credentials for ``/api/`` paths, run the handler, and turn errors into Databricks-shaped JSON.
Admin endpoints (``/_emulator/``) skip counting and faults. They and the HTML pages (``/``,
``/run/{id}``) need no token while the emulator listens on loopback only (the test kit and the demo
call them so); bound to any other address they need one, as ``/api/`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from weakref import WeakSet

from aiohttp import web

from airflow_dbx_async.emulator._admin import admin_routes
from airflow_dbx_async.emulator._api import jobs_routes
from airflow_dbx_async.emulator._auth import check_credentials, discovery_routes
from airflow_dbx_async.emulator._clusters import cluster_routes
from airflow_dbx_async.emulator._faults import DroppedConnection, FaultInjector, fault_answer, stall
from airflow_dbx_async.emulator._html import html_routes
from airflow_dbx_async.emulator._keys import CONNECTIONS, FAULTS, STATE
from airflow_dbx_async.emulator._misc import misc_routes
from airflow_dbx_async.emulator._params import ApiFailure, json_response
from airflow_dbx_async.emulator._permissions import permission_routes
from airflow_dbx_async.emulator._pipelines import pipeline_routes
from airflow_dbx_async.emulator._repos import repo_routes
from airflow_dbx_async.emulator._sql import sql_routes
from airflow_dbx_async.emulator._warehouses import warehouse_routes
from airflow_dbx_async.emulator.config import EmulatorConfig
from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("create_app",)

_log = logging.getLogger(__name__)
_MAX_BODY = 64 * 1024 * 1024
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _count(request: web.Request, state: EmulatorState) -> None:
    resource = request.match_info.route.resource
    key = (
        resource.canonical if resource is not None and not request.path.startswith("/api/") else request.path
    )
    state.stats.requests[f"{request.method} {key}"] += 1
    transport = request.transport
    seen: WeakSet[object] = request.app[CONNECTIONS]
    if transport is not None and transport not in seen:
        seen.add(transport)
        state.stats.connections += 1


def _api_error(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    if exc.status == 404:
        message = f"No API found for '{request.method} {request.path}'"
        return json_response({"error_code": "ENDPOINT_NOT_FOUND", "message": message}, 404)
    if exc.status == 405:
        message = f"Method {request.method} is not allowed for {request.path}"
        return json_response({"error_code": "BAD_REQUEST", "message": message}, 405)
    raise exc


async def _guarded(request: web.Request, handler: _Handler, state: EmulatorState) -> web.StreamResponse:
    is_api = request.path.startswith("/api/")
    if is_api:
        denied = check_credentials(state, request)
        if denied is not None:
            return denied
    try:
        return await handler(request)
    except ApiFailure as failure:
        return failure.response()
    except web.HTTPException as exc:
        if not is_api:
            raise
        return _api_error(request, exc)
    except Exception:
        _log.exception("Unexpected error while handling %s %s", request.method, request.path)
        return json_response({"error_code": "INTERNAL_ERROR", "message": "Unexpected emulator error."}, 500)


def _is_console(path: str) -> bool:
    """The admin endpoints and the HTML pages: open on loopback, behind the token elsewhere."""
    return path.startswith(("/_emulator/", "/run/")) or path == "/"


@web.middleware
async def _front(request: web.Request, handler: _Handler) -> web.StreamResponse:
    state: EmulatorState = request.app[STATE]
    state.settle()
    if _is_console(request.path) and not state.config.loopback_only:
        denied = check_credentials(state, request)
        if denied is not None:
            return denied
    if request.path.startswith("/_emulator/"):
        try:
            return await handler(request)
        except ApiFailure as failure:
            return failure.response()
    _count(request, state)
    injector: FaultInjector = request.app[FAULTS]
    kind = injector.draw(request.path)
    if kind is None:
        return await _guarded(request, handler, state)
    state.stats.faults[kind] += 1
    config = injector.config
    try:
        if config.phase == "after":
            response = await _guarded(request, handler, state)
            if kind == "stall":
                await stall(config.stall_seconds, injector.closing)
                return response
        elif kind == "stall":
            await stall(config.stall_seconds, injector.closing)
            return await _guarded(request, handler, state)
        return fault_answer(kind, request, state.config.retry_after_seconds)
    except DroppedConnection:
        # The transport is already aborted; an empty response keeps aiohttp from logging an error.
        return web.Response(status=500)


async def _shutdown(app: web.Application) -> None:
    app[FAULTS].closing.set()
    state: EmulatorState = app[STATE]
    if state.runner is not None:
        await state.runner.shutdown()
    await state.statements.shutdown()


def create_app(
    config: EmulatorConfig | None = None, *, state: EmulatorState | None = None
) -> web.Application:
    """Build the emulator application (``app[STATE]`` holds its :class:`EmulatorState`)."""
    config = config or EmulatorConfig()
    # Bodies may carry parameters and settings of several MB (aiohttp's default limit is 1 MB).
    app = web.Application(middlewares=[_front], client_max_size=_MAX_BODY)
    app[STATE] = state or EmulatorState(config)
    app[FAULTS] = FaultInjector(config.faults)
    app[CONNECTIONS] = WeakSet()
    app.add_routes(jobs_routes())
    app.add_routes(cluster_routes())
    app.add_routes(repo_routes())
    app.add_routes(pipeline_routes())
    app.add_routes(permission_routes())
    app.add_routes(warehouse_routes())
    app.add_routes(sql_routes())
    app.add_routes(misc_routes())
    app.add_routes(discovery_routes())
    app.add_routes(admin_routes())
    app.add_routes(html_routes())
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_shutdown)
    return app
