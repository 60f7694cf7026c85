"""Pipelines API 2.0: list (with ``filter``), get, create and delete (the store is :mod:`._pipeline_store`).

References: https://docs.databricks.com/api/workspace/pipelines/listpipelines (``filter`` is
``name LIKE '<pattern>'`` or ``notebook='<path>'``, composite filters are not supported;
``max_results`` defaults to 25 and "an error is returned" above 100; ``order_by`` is ``id`` or
``name``, default ``id asc``), .../pipelines/get, .../pipelines/create (``allow_duplicate_names``:
"If false, deployment will fail if name conflicts with that of another pipeline"; ``dry_run``),
.../pipelines/delete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._paging import decode_token, encode_token
from airflow_dbx_async.emulator._params import (
    ApiFailure,
    get_bool,
    get_int,
    get_str,
    invalid,
    json_response,
    read_params,
)
from airflow_dbx_async.emulator._schema import BOOL, INT, OBJ, STR, STR_LIST, STR_MAP, list_of, object_of

if TYPE_CHECKING:
    from airflow_dbx_async.emulator._pipeline_store import PipelineStore

__all__ = ("pipeline_routes",)

_CREATE = object_of(
    {
        "name": STR,
        "allow_duplicate_names": BOOL,
        "dry_run": BOOL,
        "catalog": STR,
        "schema": STR,
        "target": STR,
        "storage": STR,
        "root_path": STR,
        "channel": STR,
        "edition": STR,
        "budget_policy_id": STR,
        "clusters": list_of(OBJ),
        "libraries": list_of(OBJ),
        "configuration": STR_MAP,
        "parameters": STR_MAP,
        "tags": STR_MAP,
        "continuous": BOOL,
        "development": BOOL,
        "photon": BOOL,
        "serverless": BOOL,
        "notifications": list_of(OBJ),
        "run_as": OBJ,
        "environment": OBJ,
        "event_log": OBJ,
        "filters": OBJ,
        "trigger": OBJ,
        "deployment": OBJ,
    }
)
_LIST = object_of({"filter": STR, "max_results": INT, "page_token": STR, "order_by": STR_LIST})


def _store(request: web.Request) -> PipelineStore:
    store: PipelineStore = request.app[STATE].pipelines
    return store


async def _create(request: web.Request) -> web.Response:
    body = await read_params(request)
    _CREATE(body, "")
    store = _store(request)
    name = get_str(body, "name")
    if name and not get_bool(body, "allow_duplicate_names") and store.name_taken(name):
        raise ApiFailure(
            409,
            "RESOURCE_CONFLICT",
            f"Pipeline name '{name[:100]}' already exists; set allow_duplicate_names to create another.",
        )
    if get_bool(body, "dry_run"):
        spec = {k: v for k, v in body.items() if k not in ("dry_run", "allow_duplicate_names")}
        return json_response({"effective_settings": spec})
    return json_response({"pipeline_id": store.create(body)})


async def _get(request: web.Request) -> web.Response:
    store = _store(request)
    return json_response(store.details(store.get(request.match_info["pipeline_id"])))


async def _delete(request: web.Request) -> web.Response:
    store = _store(request)
    pipeline = store.get(request.match_info["pipeline_id"])
    del store.pipelines[pipeline.pipeline_id]
    return json_response({})


def _order_by(params: dict[str, Any], request: web.Request) -> list[str]:
    raw = params.get("order_by")
    if isinstance(raw, list):
        return [str(item) for item in raw]
    return [str(item) for item in request.query.getall("order_by", [])] or ([str(raw)] if raw else [])


async def _list(request: web.Request) -> web.Response:
    params = await read_params(request)
    if not request.query:
        _LIST(params, "")  # a JSON body has types; a query string is all text
    limit = get_int(params, "max_results", default=25)
    if not 1 <= limit <= 100:
        raise invalid(f"Invalid max_results {limit}: it must be between 1 and 100.")
    store = _store(request)
    found = store.matching(get_str(params, "filter"), _order_by(params, request))
    offset = decode_token(get_str(params, "page_token"))
    body: dict[str, Any] = {}
    page = found[offset : offset + limit]
    if page:
        body["statuses"] = [store.state_info(p) for p in page]
    if offset + limit < len(found):
        body["next_page_token"] = encode_token(offset + limit)
    return json_response(body)


def pipeline_routes() -> list[web.RouteDef]:
    """Routes of the Pipelines API 2.0."""
    return [
        web.get("/api/2.0/pipelines", _list),
        web.post("/api/2.0/pipelines", _create),
        web.get("/api/2.0/pipelines/{pipeline_id}", _get),
        web.delete("/api/2.0/pipelines/{pipeline_id}", _delete),
    ]
