"""Statements of the Statement Execution API: their life cycle and the answers that show them.

A statement is PENDING while its warehouse starts (a STOPPED warehouse is started by the submit, as the
service does), RUNNING while SQLite executes it in a worker thread, then SUCCEEDED, FAILED (``status.error``
with ``error_code`` ``BAD_REQUEST`` and the engine's own message) or CANCELED. A SUCCEEDED result is kept for
an hour and then CLOSED; a statement 12 hours past its end is gone (404). A statement that only waits
(``SELECT sleep_ms(n)``) waits on the event loop instead of in a worker thread, so thousands of them can be
RUNNING at once, as on a warehouse shared by many teams; its answer is the one SQLite gives. Reference:
https://docs.databricks.com/api/workspace/statementexecution (the ``StatementResponse`` object).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.emulator._params import ApiFailure, invalid
from airflow_dbx_async.emulator._sql_engine import ExecResult, SqlEngine
from airflow_dbx_async.emulator._warehouse_store import get_warehouse, start_warehouse, warehouse_state

if TYPE_CHECKING:
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("Statement", "StatementStore", "new_statement_id")

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "CLOSED")
_RESULT_TTL_MS = 3600 * 1000
_FORGET_MS = 12 * 3600 * 1000
_LINK_TTL_MS = 15 * 60 * 1000
_POLL_SECONDS = 0.05
_PURE_WAIT = re.compile(r"\s*select\s+(sleep_ms\s*\(\s*(\d{1,9})\s*\))\s*;?\s*", re.IGNORECASE)


@dataclass(slots=True, eq=False)
class Statement:
    """One submitted statement and, once it ended, its result or error."""

    statement_id: str
    warehouse_id: str
    sql: str
    params: dict[str, Any]
    catalog: str
    schema: str
    disposition: str
    format: str
    row_limit: int | None
    byte_limit: int | None
    created_ms: int
    state: str = "PENDING"
    ended_ms: int | None = None
    result: ExecResult = field(default_factory=ExecResult)
    cancel: threading.Event = field(default_factory=threading.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class StatementStore:
    """Every statement of one emulator instance, the engine running them and the result links."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self.engine = SqlEngine()
        self.statements: dict[str, Statement] = {}
        self.links: dict[str, tuple[str, int, int]] = {}  # token -> (statement_id, chunk_index, expiry)
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ life cycle
    def submit(self, statement: Statement) -> Statement:
        """Store ``statement``, start its warehouse if needed and run it in the background."""
        state = self._state
        warehouse = get_warehouse(state, statement.warehouse_id)
        if warehouse_state(state, warehouse) in ("DELETING", "DELETED"):
            raise invalid(f"Warehouse {warehouse.id} is deleted.")
        start_warehouse(state, warehouse)
        self.statements[statement.statement_id] = statement
        task = asyncio.get_running_loop().create_task(self._run(statement))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return statement

    def get(self, statement_id: str) -> Statement:
        """A known statement, or 404 (unknown, or forgotten 12 hours after it ended)."""
        found = self.statements.get(statement_id)
        if found is not None and found.ended_ms is not None:
            if self._state.now_ms() - found.ended_ms > _FORGET_MS:
                found = None
        if found is None:
            raise ApiFailure(404, "RESOURCE_DOES_NOT_EXIST", f"Statement {statement_id[:64]} does not exist.")
        return found

    def status(self, statement: Statement) -> str:
        """The state now (a SUCCEEDED result expires into CLOSED after an hour)."""
        if statement.state == "SUCCEEDED" and statement.ended_ms is not None:
            if self._state.now_ms() - statement.ended_ms > _RESULT_TTL_MS:
                return "CLOSED"
        return statement.state

    def cancel(self, statement: Statement) -> None:
        """Ask for cancellation; the state turns CANCELED when the execution has stopped."""
        if statement.state in TERMINAL:
            return
        database = self.engine.database(statement.catalog, statement.schema)
        database.interrupt(statement.cancel)
        statement.wake.set()

    async def wait(self, statement: Statement, seconds: float) -> bool:
        """Wait up to ``seconds`` for the statement to end; whether it did."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(statement.done.wait(), seconds)
        return statement.done.is_set()

    def _finish(self, statement: Statement, state: str, result: ExecResult | None = None) -> None:
        statement.state = state
        statement.result = result or ExecResult()
        statement.ended_ms = self._state.now_ms()

    async def _warehouse_ready(self, statement: Statement) -> bool:
        """Wait while the warehouse starts (restarting it if it was stopped meanwhile)."""
        state = self._state
        while not statement.cancel.is_set():
            warehouse = state.warehouses.get(statement.warehouse_id)
            current = "DELETED" if warehouse is None else warehouse_state(state, warehouse)
            if current == "RUNNING":
                return True
            if warehouse is None or current in ("DELETING", "DELETED"):
                error = ExecResult(error=f"Warehouse {statement.warehouse_id} was deleted.")
                self._finish(statement, "FAILED", error)
                return False
            start_warehouse(state, warehouse)
            statement.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(statement.wake.wait(), _POLL_SECONDS)
        return True

    async def _run(self, statement: Statement) -> None:
        try:
            if await self._warehouse_ready(statement) and not statement.cancel.is_set():
                await self._execute(statement)
            if statement.state not in TERMINAL:
                self._finish(statement, "CANCELED")
        finally:
            statement.done.set()

    async def _execute(self, statement: Statement) -> None:
        warehouse = self._state.warehouses[statement.warehouse_id]
        statement.state = "RUNNING"
        warehouse.running_statements += 1
        database = self.engine.database(statement.catalog, statement.schema)
        limits = (statement.row_limit, statement.byte_limit, statement.disposition == "INLINE")
        sql = statement.sql
        try:
            waits = _PURE_WAIT.fullmatch(sql)
            if waits is not None:  # wait here, then let SQLite answer at once under the same column name
                await self._wait_or_cancel(statement, int(waits.group(2)) / 1000)
                sql = 'SELECT 0 AS "{}"'.format(waits.group(1).replace('"', ""))
            result = await asyncio.to_thread(
                self.engine.run, database, sql, statement.params, limits, statement.cancel
            )
        finally:
            warehouse.running_statements -= 1
            warehouse.last_active_ms = self._state.now_ms()
        if result.cancelled:
            self._finish(statement, "CANCELED")
        else:
            self._finish(statement, "FAILED" if result.error is not None else "SUCCEEDED", result)

    @staticmethod
    async def _wait_or_cancel(statement: Statement, seconds: float) -> None:
        """Wait ``seconds``, or less when the statement is cancelled meanwhile."""
        statement.wake.clear()
        if not statement.cancel.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(statement.wake.wait(), seconds)

    def reset(self) -> None:
        """Cancel every statement and forget them, their links and the databases."""
        for statement in self.statements.values():
            self.cancel(statement)
        self.statements.clear()
        self.links.clear()
        # A worker thread may still be inside an old database: leave the old engine to the collector.
        self.engine = SqlEngine()

    async def shutdown(self) -> None:
        """Cancel every statement, wait for the worker threads, close the databases."""
        for statement in list(self.statements.values()):
            self.cancel(statement)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        self.engine.close()

    # ----------------------------------------------------------------- views
    def chunks(self, statement: Statement) -> list[tuple[int, int]]:
        """``(row_offset, row_count)`` of each chunk."""
        size = self._state.config.sql_chunk_rows
        total = len(statement.result.rows)
        return [(offset, min(size, total - offset)) for offset in range(0, total, size)]

    def response(self, statement: Statement, origin: str) -> dict[str, Any]:
        """The ``StatementResponse`` of ``statement``."""
        current = self.status(statement)
        body: dict[str, Any] = {"statement_id": statement.statement_id, "status": {"state": current}}
        result = statement.result
        if current == "FAILED":
            body["status"]["error"] = {"error_code": "BAD_REQUEST", "message": result.error}
            if result.sql_state is not None:
                body["status"]["sql_state"] = result.sql_state
        if current != "SUCCEEDED":
            return body
        body["manifest"] = self._manifest(statement)
        if result.rows:
            body["result"] = self.chunk(statement, 0, origin)
        return body

    def _manifest(self, statement: Statement) -> dict[str, Any]:
        result, links = statement.result, statement.disposition == "EXTERNAL_LINKS"
        schema: dict[str, Any] = {"column_count": len(result.columns)}
        if result.columns:
            schema["columns"] = result.columns
        manifest: dict[str, Any] = {"format": statement.format, "schema": schema}
        chunks = []
        for index, (offset, count) in enumerate(self.chunks(statement)):
            info: dict[str, Any] = {"chunk_index": index, "row_offset": offset, "row_count": count}
            if links:
                info["byte_count"] = len(self.payload(statement, index))
            chunks.append(info)
        manifest["total_chunk_count"] = len(chunks)
        if chunks:
            manifest["chunks"] = chunks
        manifest["total_row_count"] = len(result.rows)
        if links:
            manifest["total_byte_count"] = sum(c["byte_count"] for c in chunks)
        manifest["truncated"] = result.truncated
        return manifest

    def chunk(self, statement: Statement, index: int, origin: str) -> dict[str, Any]:
        """The ``ResultData`` of chunk ``index``: rows inline, or one external link."""
        if self.status(statement) != "SUCCEEDED":
            raise invalid(
                f"Statement {statement.statement_id} has no result: it is {self.status(statement)}."
            )
        chunks = self.chunks(statement)
        if not 0 <= index < len(chunks):
            raise invalid(f"Invalid chunk_index {index}: the result has {len(chunks)} chunks.")
        offset, count = chunks[index]
        data: dict[str, Any] = {"chunk_index": index, "row_offset": offset, "row_count": count}
        if index + 1 < len(chunks):
            data["next_chunk_index"] = index + 1
            data["next_chunk_internal_link"] = (
                f"/api/2.0/sql/statements/{statement.statement_id}/result/chunks/{index + 1}"
            )
        if statement.disposition == "INLINE":
            data["data_array"] = statement.result.rows[offset : offset + count]
            return data
        token = secrets.token_urlsafe(24)
        expiry = self._state.now_ms() + _LINK_TTL_MS
        self.links[token] = (statement.statement_id, index, expiry)
        stamp = datetime.fromtimestamp(expiry / 1000, UTC).isoformat(timespec="milliseconds")
        data["byte_count"] = len(self.payload(statement, index))
        data["external_link"] = f"{origin}/storage/sql-results/{token}"
        data["expiration"] = stamp.replace("+00:00", "Z")
        return {"external_links": [data]}

    def payload(self, statement: Statement, index: int) -> bytes:
        """The bytes an external link serves: compact JSON, or CSV with the header in chunk 0 only."""
        offset, count = self.chunks(statement)[index]
        rows = statement.result.rows[offset : offset + count]
        if statement.format == "JSON_ARRAY":
            return json.dumps(rows, separators=(",", ":")).encode()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        if index == 0:
            writer.writerow([c["name"] for c in statement.result.columns])
        writer.writerows([["null" if v is None else v for v in row] for row in rows])
        return out.getvalue().encode()


def new_statement_id() -> str:
    """A statement id in the service's UUID form."""
    return str(uuid.uuid4())
