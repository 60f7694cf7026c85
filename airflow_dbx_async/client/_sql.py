"""``SqlClient``: the Statement Execution API 2.0 and the SQL Warehouses API 2.0, one method per endpoint.

It is not a second owner of anything: :attr:`JobsClient.sql <airflow_dbx_async.client.JobsClient.sql>`
hands it the client's own send function, so SQL calls go through the same transport (retries, rate
ceiling, ``Retry-After`` hold, body limits, request count) and the same session as the job calls,
and stop working when that client is closed. Every argument is checked before any request: bad input
is one :class:`~airflow_dbx_async.client.errors.ConfigurationError` naming the field.

References: https://docs.databricks.com/api/workspace/statementexecution/executestatement (the request
fields; ``wait_timeout`` ``0s`` or 5 to 50 s; ``INLINE`` only with ``JSON_ARRAY``),
.../statementexecution/getstatement, .../statementexecution/cancelexecution,
.../statementexecution/getstatementresultchunkn, https://docs.databricks.com/api/workspace/warehouses
(get, list, start, stop; start and stop answer at once, the warehouse's ``state`` tells when it is done)
and https://docs.databricks.com/api/workspace/queryhistory/list (filters in dot notation,
``filter_by.statement_ids``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from airflow_dbx_async.client._numbers import check_number
from airflow_dbx_async.client._pages import Pages
from airflow_dbx_async.client._sql_models import QueryInfo, ResultChunk, Statement, Warehouse
from airflow_dbx_async.client.config import DEFAULT_MAX_PAGES
from airflow_dbx_async.client.errors import ApiError, ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Awaitable

__all__ = ("SqlClient",)

_SQL = "2.0"
_STATEMENTS = "sql/statements"
_WAREHOUSES = "sql/warehouses"
_HISTORY = "sql/history/queries"
_WAIT_TIMEOUT = re.compile(r"(\d{1,6})s")
# An id goes into the path as one segment: unreserved URL characters only, never "." or "..".
_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_ON_WAIT_TIMEOUT = ("CONTINUE", "CANCEL")
_DISPOSITIONS = ("INLINE", "EXTERNAL_LINKS")
_FORMATS = ("JSON_ARRAY", "ARROW_STREAM", "CSV")


class _Send(Protocol):
    """How a :class:`SqlClient` sends: the owning client's one request path."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        body: Mapping[str, Any] | None = None,
        version: str | None = None,
        idempotent: bool = True,
    ) -> Awaitable[dict[str, Any]]: ...


class SqlClient:
    """SQL statements and SQL warehouses of one workspace, over a :class:`JobsClient`'s transport.

    Not built directly: use ``client.sql`` of an open :class:`~airflow_dbx_async.client.JobsClient`
    (or of ``borrowed.client`` in a trigger), which shares that client's session, transport and
    call policy.

    :param send: the owning client's request function.
    """

    __slots__ = ("_send",)

    def __init__(self, send: _Send) -> None:
        self._send = send

    # -- statements -------------------------------------------------------------------------------

    async def execute_statement(
        self,
        statement: str,
        warehouse_id: str,
        *,
        catalog: str | None = None,
        schema: str | None = None,
        parameters: Sequence[Mapping[str, Any]] | None = None,
        wait_timeout: str = "0s",
        on_wait_timeout: str | None = None,
        disposition: str | None = None,
        format: str | None = None,
        row_limit: int | None = None,
        byte_limit: int | None = None,
        query_tags: Mapping[str, str | None] | None = None,
    ) -> Statement:
        """``POST /api/2.0/sql/statements``: submit a statement; by default return at once (``0s``).

        :param statement: the SQL text, with ``:name`` markers for ``parameters``.
        :param warehouse_id: the SQL warehouse to run it on (started by the submit if stopped).
        :param catalog: the default catalog, as ``USE CATALOG``.
        :param schema: the default schema, as ``USE SCHEMA``.
        :param parameters: ``{"name", "value", "type"}`` entries; ``value`` text or a number (sent as
            text), absent or ``None`` for NULL; ``type`` a SQL type name, STRING when absent.
        :param wait_timeout: how long the call waits for the result: ``"0s"`` (return at once, then
            poll with :meth:`get_statement`) or ``"5s"`` to ``"50s"``.
        :param on_wait_timeout: ``CONTINUE`` (Databricks' default) or ``CANCEL`` the statement when
            ``wait_timeout`` passes.
        :param disposition: ``INLINE`` (Databricks' default) or ``EXTERNAL_LINKS``.
        :param format: ``JSON_ARRAY`` (Databricks' default), ``ARROW_STREAM`` or ``CSV``; the last two
            need ``EXTERNAL_LINKS``.
        :param row_limit: keep at most this many rows (the result says ``truncated``).
        :param byte_limit: keep at most this many bytes of result.
        :param query_tags: tags attached to the statement, sent as ``[{"key", "value"}]``.
        :raises ConfigurationError: naming the field, before any request, for bad input.
        :raises ApiError: ``INVALID_RESPONSE`` when the answer has no ``statement_id``.
        """
        body: dict[str, Any] = {
            "statement": _sql_text(statement),
            "warehouse_id": _id("warehouse_id", warehouse_id),
            "wait_timeout": _wait_timeout(wait_timeout),
        }
        for name, value in (("catalog", catalog), ("schema", schema)):
            if value is not None:
                body[name] = _text(name, value)
        for name, value, allowed in (
            ("on_wait_timeout", on_wait_timeout, _ON_WAIT_TIMEOUT),
            ("disposition", disposition, _DISPOSITIONS),
            ("format", format, _FORMATS),
        ):
            if value is not None:
                body[name] = _choice(name, value, allowed)
        if body.get("disposition", "INLINE") == "INLINE" and body.get("format", "JSON_ARRAY") != "JSON_ARRAY":
            raise ConfigurationError(
                "format", f"{format} needs disposition EXTERNAL_LINKS; INLINE is JSON_ARRAY"
            )
        for name, limit in (("row_limit", row_limit), ("byte_limit", byte_limit)):
            if limit is not None:
                check_number(name, limit, minimum=1, whole=True)
                body[name] = limit
        if parameters is not None:
            body["parameters"] = _parameters(parameters)
        if query_tags is not None:
            body["query_tags"] = _query_tags(query_tags)
        # Not idempotent: a repeat after a lost answer would run the statement twice.
        answer = await self._send("POST", _STATEMENTS, body=body, version=_SQL, idempotent=False)
        parsed = Statement.from_api(answer)
        if not parsed.statement_id:
            message = "the answer has no valid 'statement_id'"
            raise ApiError(200, "INVALID_RESPONSE", message, "POST", f"/api/{_SQL}/{_STATEMENTS}")
        return parsed

    async def get_statement(self, statement_id: str) -> Statement:
        """``GET /api/2.0/sql/statements/{statement_id}``: one poll of a statement.

        The status and, once succeeded, the manifest and the first result chunk.
        """
        path = f"{_STATEMENTS}/{_id('statement_id', statement_id)}"
        answer = await self._send("GET", path, version=_SQL)
        answer.setdefault("statement_id", statement_id)
        return Statement.from_api(answer)

    async def cancel_statement(self, statement_id: str) -> None:
        """``POST .../sql/statements/{statement_id}/cancel``: ask Databricks to cancel (poll for CANCELED)."""
        await self._send("POST", f"{_STATEMENTS}/{_id('statement_id', statement_id)}/cancel", version=_SQL)

    async def get_statement_result_chunk(self, statement_id: str, chunk_index: int) -> ResultChunk:
        """``GET .../sql/statements/{statement_id}/result/chunks/{chunk_index}``: one chunk of a result.

        :raises ConfigurationError: naming ``chunk_index`` when it is not a whole number >= 0.
        """
        check_number("chunk_index", chunk_index, minimum=0, whole=True)
        path = f"{_STATEMENTS}/{_id('statement_id', statement_id)}/result/chunks/{chunk_index}"
        return ResultChunk.from_api(await self._send("GET", path, version=_SQL))

    async def get_query(self, statement_id: str) -> QueryInfo | None:
        """The query history's entry of one statement, or ``None`` when the history does not list it.

        ``GET /api/2.0/sql/history/queries`` with ``filter_by.statement_ids``: the history says which
        warehouse ran the statement and what it ran, also once ``get_statement`` answers 404.
        """
        params = {"filter_by.statement_ids": _id("statement_id", statement_id)}
        answer = await self._send("GET", _HISTORY, params=params, version=_SQL)
        listed = answer.get("res")
        for item in listed if isinstance(listed, list) else ():
            query = QueryInfo.from_api(item)
            if query.query_id == statement_id:
                return query
        return None

    # -- warehouses -------------------------------------------------------------------------------

    async def get_warehouse(self, warehouse_id: str) -> Warehouse:
        """``GET /api/2.0/sql/warehouses/{warehouse_id}``."""
        path = f"{_WAREHOUSES}/{_id('warehouse_id', warehouse_id)}"
        answer = await self._send("GET", path, version=_SQL)
        answer.setdefault("id", warehouse_id)
        return Warehouse.from_api(answer)

    async def list_warehouses(self, *, max_pages: int = DEFAULT_MAX_PAGES) -> tuple[Warehouse, ...]:
        """Every warehouse from ``GET /api/2.0/sql/warehouses``, following ``next_page_token``.

        :param max_pages: pages followed at most; more fail with ``ApiError`` ``TOO_MANY_PAGES``.
        """
        pages = Pages(f"/api/{_SQL}/{_WAREHOUSES}", max_pages)
        found: list[Warehouse] = []
        token: str | None = None
        while True:
            body = await self._send("GET", _WAREHOUSES, params={"page_token": token}, version=_SQL)
            page = body.get("warehouses")
            if isinstance(page, list):
                found.extend(Warehouse.from_api(w) for w in page if isinstance(w, Mapping))
            token = pages.follow(body.get("next_page_token"))
            if token is None:
                return tuple(found)

    async def start_warehouse(self, warehouse_id: str) -> None:
        """``POST .../sql/warehouses/{warehouse_id}/start``; poll :meth:`get_warehouse` for RUNNING."""
        await self._send("POST", f"{_WAREHOUSES}/{_id('warehouse_id', warehouse_id)}/start", version=_SQL)

    async def stop_warehouse(self, warehouse_id: str) -> None:
        """``POST .../sql/warehouses/{warehouse_id}/stop``; poll :meth:`get_warehouse` for STOPPED."""
        await self._send("POST", f"{_WAREHOUSES}/{_id('warehouse_id', warehouse_id)}/stop", version=_SQL)


# -- input checks ---------------------------------------------------------------------------------


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(name, f"must be a non-empty string, got {_shown(value)}")
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _sql_text(statement: object) -> str:
    if not isinstance(statement, str) or not statement.strip():
        raise ConfigurationError("statement", f"must be non-empty SQL text, got {_shown(statement)}")
    return statement


def _id(name: str, value: object) -> str:
    """An id for one path segment (or a body field): letters, digits, ``.``, ``_`` and ``-``."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ConfigurationError(name, f"must be an id (letters, digits, '.', '_', '-'), got {_shown(value)}")
    return value


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigurationError(name, f"must be one of {', '.join(allowed)}, got {_shown(value)}")
    return str(value)


def _wait_timeout(value: object) -> str:
    found = _WAIT_TIMEOUT.fullmatch(value) if isinstance(value, str) else None
    seconds = int(found.group(1)) if found else -1
    if seconds != 0 and not 5 <= seconds <= 50:
        raise ConfigurationError("wait_timeout", f"must be '0s' or '5s' to '50s', got {_shown(value)}")
    return f"{seconds}s"


def _parameters(parameters: object) -> list[dict[str, str]]:
    if not isinstance(parameters, Sequence) or isinstance(parameters, str | bytes):
        raise ConfigurationError(
            "parameters", f"must be a list of {{name, value, type}}, got {_shown(parameters)}"
        )
    checked: list[dict[str, str]] = []
    for index, item in enumerate(parameters):
        field = f"parameters[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigurationError(
                field, f"must be a mapping with 'name', 'value', 'type', got {_shown(item)}"
            )
        unknown = sorted(str(k) for k in item if k not in ("name", "value", "type"))
        if unknown:
            raise ConfigurationError(field, f"unknown keys {unknown}; use 'name', 'value' and 'type'")
        entry = {"name": _text(f"{field}.name", item.get("name"))}
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, str | int | float | None):
            raise ConfigurationError(f"{field}.value", f"must be text, a number or None, got {_shown(value)}")
        if value is not None:
            entry["value"] = value if isinstance(value, str) else str(value)
        if item.get("type") is not None:
            entry["type"] = _text(f"{field}.type", item.get("type"))
        checked.append(entry)
    return checked


def _query_tags(tags: object) -> list[dict[str, str]]:
    if not isinstance(tags, Mapping):
        raise ConfigurationError("query_tags", f"must be a mapping of key to value, got {_shown(tags)}")
    checked: list[dict[str, str]] = []
    for key, value in tags.items():
        tag = {"key": _text("query_tags", key)}
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"query_tags[{key!r}]", f"must be text or None, got {_shown(value)}")
        if value is not None:
            tag["value"] = value
        checked.append(tag)
    return checked
