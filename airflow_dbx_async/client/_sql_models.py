"""Frozen value objects of the Statement Execution and SQL Warehouses APIs, and the statement judge.

Like the run models, they are parsed once at the client boundary and parsing never raises: an unknown
statement or warehouse state becomes the explicit ``UNKNOWN`` member (the text received is kept), a
missing field its empty value. :func:`judge_statement` is the single place that decides whether a
statement is still pending, succeeded, failed, was canceled or closed.

References: https://docs.databricks.com/api/workspace/statementexecution (``StatementResponse``,
``StatementStatus``, ``ResultManifest``, ``ResultData``),
https://docs.databricks.com/api/workspace/warehouses/get (``EndpointInfo``) and
https://docs.databricks.com/api/workspace/queryhistory/list (``QueryInfo``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from airflow_dbx_async.client._numbers import lenient_int
from airflow_dbx_async.client.models import _ApiEnum, _mapping, _str

__all__ = (
    "QueryInfo",
    "ResultChunk",
    "Statement",
    "StatementJudgement",
    "StatementOutcome",
    "StatementState",
    "StatementStatus",
    "Warehouse",
    "WarehouseState",
    "judge_statement",
)

Row = tuple[str | None, ...]


def _optional_int(value: object) -> int | None:
    """An int that may be absent: ``None`` when missing or malformed (0 is a real count)."""
    parsed = lenient_int(value, -1)
    return parsed if parsed >= 0 else None


def _cell(value: object) -> str | None:
    """One ``JSON_ARRAY`` value: text, or ``None`` for SQL NULL (anything else as its text)."""
    return value if value is None or isinstance(value, str) else str(value)


def _rows(value: object) -> tuple[Row, ...] | None:
    """A ``data_array``: ``None`` when absent (no inline rows), rows that are not arrays left out."""
    if not isinstance(value, list):
        return None
    return tuple(tuple(_cell(v) for v in row) for row in value if isinstance(row, list))


class StatementState(_ApiEnum):
    """The ``status.state`` of a SQL statement."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    CLOSED = "CLOSED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """True for the states after which the statement can no longer change."""
        return self in _TERMINAL_STATEMENT


_TERMINAL_STATEMENT = frozenset(
    {StatementState.SUCCEEDED, StatementState.FAILED, StatementState.CANCELED, StatementState.CLOSED}
)


@dataclass(frozen=True)
class StatementStatus:
    """The status of a SQL statement.

    :param state: where the statement is in its life cycle.
    :param error_code: ``status.error.error_code`` of a failed statement (``BAD_REQUEST`` ...).
    :param error_message: ``status.error.message``: the engine's message for a failed statement.
    :param sql_state: the SQLSTATE of a failed statement (``42601`` ...), when Databricks sent one.
    :param raw_state: the text received, kept when it was not recognised.
    """

    state: StatementState
    error_code: str = ""
    error_message: str = ""
    sql_state: str | None = None
    raw_state: str = ""

    @classmethod
    def from_api(cls, data: object) -> StatementStatus:
        """Parse a ``status`` object; a missing or malformed one gives ``UNKNOWN``."""
        body = _mapping(data)
        error = _mapping(body.get("error"))
        raw = _str(body.get("state"))
        sql_state = body.get("sql_state")
        return cls(
            state=StatementState.parse(raw),
            error_code=_str(error.get("error_code")),
            error_message=_str(error.get("message")),
            sql_state=sql_state if isinstance(sql_state, str) and sql_state else None,
            raw_state=raw,
        )

    def describe(self) -> str:
        """One short line such as ``FAILED: BAD_REQUEST: near "SELEC": syntax error (SQLSTATE 42601)``."""
        text = self.raw_state or self.state.value
        detail = ": ".join(part for part in (self.error_code, self.error_message) if part)
        if detail:
            text += f": {detail}"
        if self.sql_state:
            text += f" (SQLSTATE {self.sql_state})"
        return text


@dataclass(frozen=True)
class ResultChunk:
    """One chunk of a statement's result (``ResultData``).

    :param chunk_index: the chunk's position, from 0.
    :param row_offset: the index of its first row in the whole result.
    :param row_count: the rows it holds.
    :param rows: its rows (``data_array``) with ``INLINE`` disposition, each value text or ``None``
        for NULL; ``None`` when the chunk carries no inline rows.
    :param next_chunk_index: the chunk after this one, ``None`` on the last.
    :param external_links: with ``EXTERNAL_LINKS`` disposition, the presigned URLs of the chunk's
        data; each URL is a credential, so it stays out of the ``repr``.
    """

    chunk_index: int = 0
    row_offset: int = 0
    row_count: int = 0
    rows: tuple[Row, ...] | None = None
    next_chunk_index: int | None = None
    external_links: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_api(cls, data: object) -> ResultChunk:
        """Parse a ``ResultData`` object (a ``result`` or an answer of ``result/chunks/{n}``)."""
        body = _mapping(data)
        raw_links = body.get("external_links")
        links = [_mapping(link) for link in raw_links] if isinstance(raw_links, list) else []
        first = links[0] if links else body
        return cls(
            chunk_index=lenient_int(first.get("chunk_index")),
            row_offset=lenient_int(first.get("row_offset")),
            row_count=lenient_int(first.get("row_count")),
            rows=_rows(body.get("data_array")),
            next_chunk_index=_optional_int((links[-1] if links else body).get("next_chunk_index")),
            external_links=tuple(url for link in links if (url := _str(link.get("external_link")))),
        )


@dataclass(frozen=True)
class Statement:
    """A SQL statement as ``POST /sql/statements`` and ``GET /sql/statements/{id}`` describe it.

    :param statement_id: the statement's id.
    :param status: its state and, once failed, the error.
    :param total_row_count: rows in the whole result (``manifest``), once succeeded.
    :param total_chunk_count: chunks of the whole result, once succeeded.
    :param columns: the result's column names, in order.
    :param truncated: the result was cut at ``row_limit`` or ``byte_limit``.
    :param rows: the first chunk's rows with ``INLINE`` disposition; ``None`` when the answer holds
        none (not succeeded, no rows, or ``EXTERNAL_LINKS``).
    :param next_chunk_index: the chunk to fetch next with ``get_statement_result_chunk``, ``None``
        when the answer's chunk was the last (or there was none).
    """

    statement_id: str
    status: StatementStatus
    total_row_count: int | None = None
    total_chunk_count: int | None = None
    columns: tuple[str, ...] = ()
    truncated: bool = False
    rows: tuple[Row, ...] | None = None
    next_chunk_index: int | None = None

    @classmethod
    def from_api(cls, data: object) -> Statement:
        """Parse a ``StatementResponse``; never raises."""
        body = _mapping(data)
        manifest = _mapping(body.get("manifest"))
        raw_columns = _mapping(manifest.get("schema")).get("columns")
        columns = raw_columns if isinstance(raw_columns, list) else []
        result = ResultChunk.from_api(body.get("result")) if "result" in body else None
        return cls(
            statement_id=_str(body.get("statement_id")),
            status=StatementStatus.from_api(body.get("status")),
            total_row_count=_optional_int(manifest.get("total_row_count")),
            total_chunk_count=_optional_int(manifest.get("total_chunk_count")),
            columns=tuple(_str(_mapping(c).get("name")) for c in columns),
            truncated=manifest.get("truncated") is True,
            rows=result.rows if result else None,
            next_chunk_index=result.next_chunk_index if result else None,
        )


@dataclass(frozen=True)
class QueryInfo:
    """A statement as the query history lists it (``QueryInfo``): what ran, where and when.

    The Statement Execution API does not say which warehouse ran a statement, and forgets a statement
    12 hours after it ended; the query history says both, and keeps it for 30 days.

    :param query_id: the statement's id.
    :param status: ``QUEUED``, ``RUNNING``, ``FINISHED``, ``FAILED``, ``CANCELED`` ..., as received.
    :param warehouse_id: the SQL warehouse that ran it (the older ``endpoint_id`` when only that is sent).
    :param query_text: the SQL as Databricks received it.
    :param error_message: the error of a failed statement.
    :param query_start_time_ms: when it was received (epoch milliseconds), 0 when not sent.
    :param query_end_time_ms: when it ended, 0 while it goes on.
    """

    query_id: str
    status: str = ""
    warehouse_id: str = ""
    query_text: str = ""
    error_message: str = ""
    query_start_time_ms: int = 0
    query_end_time_ms: int = 0

    @classmethod
    def from_api(cls, data: object) -> QueryInfo:
        """Parse a ``QueryInfo`` object; never raises."""
        body = _mapping(data)
        return cls(
            query_id=_str(body.get("query_id")),
            status=_str(body.get("status")),
            warehouse_id=_str(body.get("warehouse_id")) or _str(body.get("endpoint_id")),
            query_text=_str(body.get("query_text")),
            error_message=_str(body.get("error_message")),
            query_start_time_ms=lenient_int(body.get("query_start_time_ms")),
            query_end_time_ms=lenient_int(body.get("query_end_time_ms")),
        )


class StatementOutcome(enum.Enum):
    """The verdict on a SQL statement."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    CLOSED = "closed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StatementJudgement:
    """The verdict on a SQL statement, with one short line saying why."""

    outcome: StatementOutcome
    reason: str

    @property
    def is_final(self) -> bool:
        """True when the statement will not change any more."""
        return self.outcome not in (StatementOutcome.PENDING, StatementOutcome.UNKNOWN)


_OUTCOMES = {
    StatementState.PENDING: StatementOutcome.PENDING,
    StatementState.RUNNING: StatementOutcome.PENDING,
    StatementState.SUCCEEDED: StatementOutcome.SUCCEEDED,
    StatementState.FAILED: StatementOutcome.FAILED,
    StatementState.CANCELED: StatementOutcome.CANCELED,
    StatementState.CLOSED: StatementOutcome.CLOSED,
}


def judge_statement(status: StatementStatus) -> StatementJudgement:
    """Decide whether a statement is still pending, succeeded, failed, was canceled or closed.

    ``PENDING`` (waiting for the warehouse) and ``RUNNING`` are both pending. ``CLOSED`` is its own
    outcome: the statement succeeded, but its result can no longer be fetched; the caller decides
    whether that is enough. A state this version does not know is ``UNKNOWN``: callers keep polling
    and say so, rather than guessing.
    """
    outcome = _OUTCOMES.get(status.state)
    if outcome is None:
        shown = status.raw_state or "<missing>"
        return StatementJudgement(StatementOutcome.UNKNOWN, f"unrecognised statement state {shown!r}")
    return StatementJudgement(outcome, status.describe())


class WarehouseState(_ApiEnum):
    """The ``state`` of a SQL warehouse."""

    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    DELETING = "DELETING"
    DELETED = "DELETED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Warehouse:
    """A SQL warehouse, with what a start or stop waiter reads.

    :param id: the warehouse's id.
    :param name: its name.
    :param state: where it is in its life cycle.
    :param num_clusters: clusters running now (0 unless ``RUNNING``).
    :param health_status: ``health.status`` (``HEALTHY``, ``DEGRADED``, ``FAILED`` ...), when sent.
    :param health_summary: ``health.summary`` (or the older ``health.message``): why a warehouse is
        degraded or failed to start.
    :param raw_state: the text received, kept when it was not recognised.
    """

    id: str
    name: str = ""
    state: WarehouseState = WarehouseState.UNKNOWN
    num_clusters: int = 0
    health_status: str = ""
    health_summary: str = ""
    raw_state: str = ""

    @classmethod
    def from_api(cls, data: object) -> Warehouse:
        """Parse an ``EndpointInfo`` object; never raises."""
        body = _mapping(data)
        health = _mapping(body.get("health"))
        raw = _str(body.get("state"))
        return cls(
            id=_str(body.get("id")),
            name=_str(body.get("name")),
            state=WarehouseState.parse(raw),
            num_clusters=lenient_int(body.get("num_clusters")),
            health_status=_str(health.get("status")),
            health_summary=_str(health.get("summary")) or _str(health.get("message")),
            raw_state=raw,
        )

    def describe(self) -> str:
        """One short line such as ``STOPPED (FAILED: no capacity)``."""
        text = self.raw_state or self.state.value
        detail = ": ".join(part for part in (self.health_status, self.health_summary) if part)
        return f"{text} ({detail})" if detail else text
