"""SQL Warehouses API 2.0: list, get, create, edit, delete, start and stop (``/api/2.0/sql/warehouses``).

References: https://docs.databricks.com/api/workspace/warehouses/get (the ``EndpointInfo`` fields),
.../warehouses/list, .../warehouses/create, .../warehouses/edit, .../warehouses/delete,
.../warehouses/start and .../warehouses/stop (both answer ``{}``; the SDK then polls ``get`` until RUNNING or
STOPPED). ``auto_stop_mins`` must be 0 or at least 10; ``min_num_clusters`` 1 to 30 and ``max_num_clusters``
from ``min_num_clusters`` to 40. The state machine lives in :mod:`._warehouse_store`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._params import invalid, json_response, read_params
from airflow_dbx_async.emulator._schema import BOOL, INT, OBJ, STR, object_of
from airflow_dbx_async.emulator._warehouse_store import (
    SETTINGS,
    Warehouse,
    add_warehouse,
    get_warehouse,
    start_warehouse,
    stop_warehouse,
    warehouse_state,
)

if TYPE_CHECKING:
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("warehouse_routes",)

_SIZES = ("2X-Small", "X-Small", "Small", "Medium", "Large", "X-Large", "2X-Large", "3X-Large", "4X-Large")
_ENUMS = {
    "cluster_size": (*_SIZES, "5X-Large"),
    "warehouse_type": ("TYPE_UNSPECIFIED", "CLASSIC", "PRO"),
    "spot_instance_policy": ("POLICY_UNSPECIFIED", "COST_OPTIMIZED", "RELIABILITY_OPTIMIZED"),
}
_CHECK = object_of(
    {
        "name": STR,
        "cluster_size": STR,
        "min_num_clusters": INT,
        "max_num_clusters": INT,
        "auto_stop_mins": INT,
        "enable_photon": BOOL,
        "enable_serverless_compute": BOOL,
        "warehouse_type": STR,
        "spot_instance_policy": STR,
        "creator_name": STR,
        "tags": OBJ,
        "channel": OBJ,
        "statement_timeout": INT,
    }
)


def _state(request: web.Request) -> EmulatorState:
    state: EmulatorState = request.app[STATE]
    return state


def _check(body: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The settings of a create or edit body, checked against the reference's supported values."""
    _CHECK(body, "")
    given = {k: body[k] for k in SETTINGS if k in body}
    for name in ("min_num_clusters", "max_num_clusters", "auto_stop_mins", "statement_timeout"):
        if name in given:
            given[name] = int(given[name])
    for name in ("enable_photon", "enable_serverless_compute"):
        if name in given:
            given[name] = given[name] in (True, "true")
    for name, allowed in _ENUMS.items():
        if name in given and given[name] not in allowed:
            raise invalid(
                f"Invalid {name} {str(given[name])[:40]!r}: it must be one of {', '.join(allowed)}."
            )
    if len(str(given.get("name", ""))) >= 100:
        raise invalid("name must be less than 100 characters.")
    merged = {**current, **given}
    stop = int(merged.get("auto_stop_mins", 0))
    if stop != 0 and stop < 10:
        raise invalid(f"auto_stop_mins must be 0 (no autostop) or at least 10; got {stop}.")
    low = int(merged.get("min_num_clusters", 1))
    if not 0 < low <= 30:
        raise invalid(f"min_num_clusters must be between 1 and 30; got {low}.")
    if "max_num_clusters" in given or "max_num_clusters" in current:
        high = int(merged.get("max_num_clusters", low))
        if not low <= high <= 40:
            raise invalid(f"max_num_clusters must be between min_num_clusters ({low}) and 40; got {high}.")
    return given


def _view(request: web.Request, warehouse: Warehouse) -> dict[str, Any]:
    state = _state(request)
    current = warehouse_state(state, warehouse)
    settings = warehouse.settings
    host, port = request.url.host or "localhost", request.url.port or 443
    http_path = f"/sql/1.0/warehouses/{warehouse.id}"
    body: dict[str, Any] = {"id": warehouse.id, **settings, "state": current}
    body["num_clusters"] = int(settings["min_num_clusters"]) if current == "RUNNING" else 0
    body["jdbc_url"] = (
        f"jdbc:spark://{host}:{port}/default;transportMode=http;ssl=1;AuthMech=3;httpPath={http_path};"
    )
    body["odbc_params"] = {"hostname": host, "path": http_path, "protocol": request.scheme, "port": port}
    if current == "RUNNING":
        body["health"] = {"status": "HEALTHY"}
    return body


def _warehouse(request: web.Request) -> Warehouse:
    return get_warehouse(_state(request), request.match_info["id"])


async def _list(request: web.Request) -> web.Response:
    state = _state(request)
    shown = [w for w in state.warehouses.values() if warehouse_state(state, w) != "DELETED"]
    return json_response({"warehouses": [_view(request, w) for w in shown]} if shown else {})


async def _get(request: web.Request) -> web.Response:
    return json_response(_view(request, _warehouse(request)))


async def _create(request: web.Request) -> web.Response:
    body = await read_params(request)
    settings = _check(body, {})
    if not settings.get("name"):
        raise invalid("Missing required field: name")
    state = _state(request)
    warehouse = state.warehouses[add_warehouse(state, settings, status="STOPPED")]
    start_warehouse(state, warehouse)
    return json_response({"id": warehouse.id})


async def _edit(request: web.Request) -> web.Response:
    body = await read_params(request)
    warehouse = _warehouse(request)
    settings = _check(body, warehouse.settings)
    if warehouse_state(_state(request), warehouse) in ("DELETING", "DELETED"):
        raise invalid(f"Warehouse {warehouse.id} is deleted.")
    warehouse.settings.update(settings)
    return json_response({})


async def _delete(request: web.Request) -> web.Response:
    stop_warehouse(_state(request), _warehouse(request), final="DELETED")
    return json_response({})


async def _start(request: web.Request) -> web.Response:
    start_warehouse(_state(request), _warehouse(request))
    return json_response({})


async def _stop(request: web.Request) -> web.Response:
    stop_warehouse(_state(request), _warehouse(request))
    return json_response({})


def warehouse_routes() -> list[web.RouteDef]:
    """Routes of the SQL Warehouses API (2.0)."""
    prefix = "/api/2.0/sql/warehouses"
    return [
        web.get(prefix, _list),
        web.post(prefix, _create),
        web.get(prefix + "/{id}", _get),
        web.delete(prefix + "/{id}", _delete),
        web.post(prefix + "/{id}/edit", _edit),
        web.post(prefix + "/{id}/start", _start),
        web.post(prefix + "/{id}/stop", _stop),
    ]
