"""Statement Execution API 2.0 (``/api/2.0/sql/statements``) and the result links it hands out.

References: https://docs.databricks.com/api/workspace/statementexecution/executestatement (request fields,
``wait_timeout`` of ``0s`` or 5 to 50 s, ``on_wait_timeout``, ``INLINE`` only with ``JSON_ARRAY``),
.../statementexecution/getstatement, .../statementexecution/cancelexecution and
.../statementexecution/getstatementresultchunkn; the query history's list
(https://docs.databricks.com/api/workspace/queryhistory/list) shows the same statements, with the
warehouse that ran them, for 30 days. ``EXTERNAL_LINKS`` results are served by the emulator at
``/storage/sql-results/<token>``: like a presigned cloud-storage URL, the link carries its own credential,
expires after 15 minutes, and refuses a request that also sends an ``Authorization`` header.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._paging import decode_token, encode_token
from airflow_dbx_async.emulator._params import ApiFailure, invalid, json_response, read_params
from airflow_dbx_async.emulator._schema import INT, STR, Check, list_of, malformed, object_of
from airflow_dbx_async.emulator._statements import Statement, new_statement_id

if TYPE_CHECKING:
    from airflow_dbx_async.emulator._statements import StatementStore
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("sql_routes",)

DEFAULT_CATALOG = "main"
DEFAULT_SCHEMA = "default"
_MAX_STATEMENT = 16 * 1024 * 1024
_WAIT = re.compile(r"^(\d{1,6})s$")
_HISTORY_DAYS_MS = 30 * 24 * 3600 * 1000
# The query history's filters the emulator applies, and the QueryInfo field each one matches.
_HISTORY_FILTERS = {"statement_ids": "query_id", "warehouse_ids": "warehouse_id", "statuses": "status"}
# The query history's status of each statement state.
_HISTORY_STATUS = {
    "PENDING": "QUEUED",
    "RUNNING": "RUNNING",
    "SUCCEEDED": "FINISHED",
    "CLOSED": "FINISHED",
    "FAILED": "FAILED",
    "CANCELED": "CANCELED",
}
_ENUMS = {
    "on_wait_timeout": ("CONTINUE", "CANCEL"),
    "disposition": ("INLINE", "EXTERNAL_LINKS"),
    "format": ("JSON_ARRAY", "ARROW_STREAM", "CSV"),
}
_INTEGERS = frozenset({"TINYINT", "BYTE", "SMALLINT", "SHORT", "INT", "INTEGER", "BIGINT", "LONG"})
_DECIMALS = frozenset({"FLOAT", "REAL", "DOUBLE", "DECIMAL", "DEC", "NUMERIC"})
_TEXTS = frozenset(
    {"STRING", "VARCHAR", "CHAR", "DATE", "TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "BINARY", "VOID"}
)


def _scalar(value: Any, path: str) -> None:
    """Parameter values are strings; numbers are taken as their text."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise malformed(path, "string", value)


_BODY: Check = object_of(
    {
        "statement": STR,
        "warehouse_id": STR,
        "catalog": STR,
        "schema": STR,
        "parameters": list_of(object_of({"name": STR, "value": _scalar, "type": STR})),
        "wait_timeout": STR,
        "on_wait_timeout": STR,
        "disposition": STR,
        "format": STR,
        "byte_limit": INT,
        "row_limit": INT,
        "query_tags": list_of(object_of({"key": STR, "value": STR})),
    }
)


def _state(request: web.Request) -> EmulatorState:
    state: EmulatorState = request.app[STATE]
    return state


def _store(request: web.Request) -> StatementStore:
    return _state(request).statements


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _parameter(item: dict[str, Any], path: str) -> tuple[str, Any]:
    """One ``{name, value, type}`` as a SQLite binding (the value cast as ``type`` would cast it)."""
    name = str(item.get("name") or "")
    if not name:
        raise invalid(f"Missing required field: {path}.name")
    value = item.get("value")
    found = re.match(r"\s*([A-Za-z_]+)", str(item.get("type") or "STRING"))
    kind = found.group(1).upper() if found else ""
    if kind not in _INTEGERS | _DECIMALS | _TEXTS | {"BOOLEAN"}:
        raise invalid(f"Invalid {path}.type {str(item.get('type'))[:40]!r}: it must be a scalar SQL type.")
    if value is None or kind in _TEXTS:
        return name, None if value is None else str(value)
    text = str(value).strip()
    try:
        if kind == "BOOLEAN":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return name, int(text.lower() == "true")
        return name, int(text) if kind in _INTEGERS else float(text)
    except ValueError:
        raise invalid(f"Invalid {path}.value {text[:40]!r}: it cannot be cast to {kind}.") from None


def _wait_seconds(body: dict[str, Any]) -> int:
    raw = str(body.get("wait_timeout", "10s"))
    found = _WAIT.match(raw)
    seconds = int(found.group(1)) if found else -1
    if seconds != 0 and not 5 <= seconds <= 50:
        raise invalid(f"Invalid wait_timeout {raw[:40]!r}: it must be 0s or between 5s and 50s.")
    return seconds


def _limit(body: dict[str, Any], name: str) -> int | None:
    if body.get(name) is None:
        return None
    value = int(str(body[name]).strip()) if isinstance(body[name], str) else int(body[name])
    if value <= 0:
        raise invalid(f"Invalid {name} {value}: it must be a positive number.")
    return value


def _statement(state: EmulatorState, body: dict[str, Any]) -> tuple[Statement, int, str]:
    """Check an execute request: the statement, its wait in seconds and ``on_wait_timeout``."""
    _BODY(body, "")
    for name in ("statement", "warehouse_id"):
        if not body.get(name):
            raise invalid(f"Missing required field: {name}")
    if len(body["statement"].encode()) > _MAX_STATEMENT:
        raise invalid("statement must be at most 16 MiB.")
    for name, allowed in _ENUMS.items():
        if name in body and body[name] not in allowed:
            raise invalid(f"Invalid {name} {str(body[name])[:40]!r}: it must be one of {', '.join(allowed)}.")
    disposition, fmt = body.get("disposition", "INLINE"), body.get("format", "JSON_ARRAY")
    if disposition == "INLINE" and fmt != "JSON_ARRAY":
        raise invalid(
            f"format {fmt} is supported only with disposition EXTERNAL_LINKS; INLINE needs JSON_ARRAY."
        )
    if fmt == "ARROW_STREAM":
        raise invalid("format ARROW_STREAM is not supported by the emulator; use JSON_ARRAY or CSV.")
    for index, tag in enumerate(body.get("query_tags") or ()):
        if not str(tag.get("key") or "").strip():
            raise invalid(f"Missing required field: query_tags[{index}].key")
    params = dict(_parameter(p, f"parameters[{i}]") for i, p in enumerate(body.get("parameters") or ()))
    wait = _wait_seconds(body)
    if body["warehouse_id"] not in state.warehouses:
        raise invalid(f"Warehouse {body['warehouse_id'][:64]} does not exist.")
    statement = Statement(
        statement_id=new_statement_id(),
        warehouse_id=body["warehouse_id"],
        sql=body["statement"],
        params=params,
        catalog=body.get("catalog") or DEFAULT_CATALOG,
        schema=body.get("schema") or DEFAULT_SCHEMA,
        disposition=disposition,
        format=fmt,
        row_limit=_limit(body, "row_limit"),
        byte_limit=_limit(body, "byte_limit"),
        created_ms=state.now_ms(),
    )
    return statement, wait, body.get("on_wait_timeout", "CONTINUE")


async def _execute(request: web.Request) -> web.Response:
    body = await read_params(request)
    state = _state(request)
    statement, wait, on_timeout = _statement(state, body)
    store = state.statements
    store.submit(statement)
    if wait and not await store.wait(statement, wait) and on_timeout == "CANCEL":
        store.cancel(statement)
        await store.wait(statement, 5)
    return json_response(store.response(statement, _origin(request)))


async def _get(request: web.Request) -> web.Response:
    store = _store(request)
    statement = store.get(request.match_info["statement_id"])
    return json_response(store.response(statement, _origin(request)))


async def _cancel(request: web.Request) -> web.Response:
    store = _store(request)
    store.cancel(store.get(request.match_info["statement_id"]))
    return json_response({})


async def _chunk(request: web.Request) -> web.Response:
    store = _store(request)
    statement = store.get(request.match_info["statement_id"])
    raw = request.match_info["chunk_index"]
    if not raw.isdigit():
        raise invalid(f"Invalid chunk_index {raw[:40]!r}: it must be a non-negative integer.")
    return json_response(store.chunk(statement, int(raw), _origin(request)))


def _storage_error(status: int, code: str, message: str) -> web.Response:
    return web.Response(status=status, text=f"{code}: {message}", content_type="text/plain")


async def _download(request: web.Request) -> web.Response:
    """A result chunk behind an external link: no bearer token (the link is the credential)."""
    if "Authorization" in request.headers:
        return _storage_error(
            400, "InvalidArgument", "Only one auth mechanism allowed; drop the Authorization header."
        )
    store = _store(request)
    link = store.links.get(request.match_info["token"])
    state = _state(request)
    if link is None:
        return _storage_error(403, "AccessDenied", "The link is not valid.")
    statement_id, index, expiry = link
    if state.now_ms() > expiry:
        return _storage_error(403, "AccessDenied", "Request has expired.")
    try:
        statement = store.get(statement_id)
    except ApiFailure:
        return _storage_error(404, "NoSuchKey", "The result no longer exists.")
    if store.status(statement) != "SUCCEEDED":
        return _storage_error(404, "NoSuchKey", "The result no longer exists.")
    kind = "application/json" if statement.format == "JSON_ARRAY" else "text/csv"
    return web.Response(body=store.payload(statement, index), content_type=kind)


def _query_info(store: StatementStore, statement: Statement) -> dict[str, Any]:
    """The query history's ``QueryInfo`` of ``statement``."""
    status = _HISTORY_STATUS.get(store.status(statement), "RUNNING")
    info: dict[str, Any] = {
        "query_id": statement.statement_id,
        "status": status,
        "query_text": statement.sql,
        "query_start_time_ms": statement.created_ms,
        "warehouse_id": statement.warehouse_id,
        "endpoint_id": statement.warehouse_id,
        "is_final": statement.ended_ms is not None,
    }
    if statement.ended_ms is not None:
        info["execution_end_time_ms"] = info["query_end_time_ms"] = statement.ended_ms
        info["duration"] = statement.ended_ms - statement.created_ms
    if status == "FAILED" and statement.result.error:
        info["error_message"] = statement.result.error
    return info


def _max_results(raw: str | None) -> int:
    if raw is None:
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise invalid(f"Invalid max_results {raw[:40]!r}: it must be between 1 and 1000.")
    return int(raw)


async def _history(request: web.Request) -> web.Response:
    """``GET /api/2.0/sql/history/queries``: the statements of the last 30 days, newest first."""
    query = request.rel_url.query
    unknown = sorted(k for k in query if k.startswith("filter_by.") and k[10:] not in _HISTORY_FILTERS)
    if unknown:
        raise invalid(
            f"Unsupported filter {unknown[0][:60]}: the emulator filters by {', '.join(_HISTORY_FILTERS)}."
        )
    wanted = {field: set(query.getall(f"filter_by.{name}", [])) for name, field in _HISTORY_FILTERS.items()}
    store, now = _store(request), _state(request).now_ms()
    kept = (s for s in reversed(store.statements.values()) if now - s.created_ms <= _HISTORY_DAYS_MS)
    listed = (_query_info(store, s) for s in kept)
    found = [info for info in listed if all(not v or info[field] in v for field, v in wanted.items())]
    offset, size = decode_token(query.get("page_token", "")), _max_results(query.get("max_results"))
    body: dict[str, Any] = {"res": found[offset : offset + size], "has_next_page": offset + size < len(found)}
    if body["has_next_page"]:
        body["next_page_token"] = encode_token(offset + size)
    return json_response(body)


async def _admin_statements(request: web.Request) -> web.Response:
    store = _store(request)
    shown = [
        {
            "statement_id": s.statement_id,
            "warehouse_id": s.warehouse_id,
            "state": store.status(s),
            "statement": s.sql,
            "created_ms": s.created_ms,
            "ended_ms": s.ended_ms,
        }
        for s in store.statements.values()
    ]
    return json_response({"statements": shown})


def sql_routes() -> list[web.RouteDef]:
    """Routes of the Statement Execution API, its result links, the query history and the admin list."""
    prefix = "/api/2.0/sql/statements"
    return [
        web.post(prefix, _execute),
        web.post(prefix + "/", _execute),
        web.get(prefix + "/{statement_id}", _get),
        web.post(prefix + "/{statement_id}/cancel", _cancel),
        web.get(prefix + "/{statement_id}/result/chunks/{chunk_index}", _chunk),
        web.get("/storage/sql-results/{token}", _download),
        web.get("/api/2.0/sql/history/queries", _history),
        web.get("/_emulator/statements", _admin_statements),
    ]
