"""The SQL engine behind the Statement Execution API: the standard library's sqlite3.

Each ``(catalog, schema)`` pair of the workspace is one in-memory SQLite database, shared by every warehouse
(as Unity Catalog tables are). Statements on one database run one at a time in a worker thread; a cancel
calls :meth:`sqlite3.Connection.interrupt`, which stops a long query between two steps of SQLite's virtual
machine (a progress handler checks for a cancel, too). ``sleep_ms(n)`` is a SQL function that waits
``n`` ms (ended early by a cancel), so tests can make a statement slow without sleeping themselves.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ("Database", "ExecResult", "SqlEngine", "json_value")

INLINE_LIMIT = 25 * 1024 * 1024
# SQLSTATE of the engine errors a client most often meets (Databricks reports them in ``sql_state``).
_SQL_STATES = (("syntax error", "42601"), ("no such table", "42P01"), ("no such column", "42703"))
_TYPES = {int: ("LONG", "bigint"), float: ("DOUBLE", "double"), str: ("STRING", "string")}


def json_value(value: Any) -> str | None:
    """A value as ``JSON_ARRAY`` shows it: text, or None for NULL (binary as base64)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


@dataclass(slots=True)
class ExecResult:
    """What one statement produced: columns, rows as text, or the engine's error."""

    columns: list[dict[str, Any]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    truncated: bool = False
    error: str | None = None
    sql_state: str | None = None
    cancelled: bool = False


class Database:
    """One in-memory SQLite database and the statement currently running on it."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.conn.create_function("sleep_ms", 1, self._sleep_ms)
        # interrupt() is lost when it lands just before a statement starts; the progress handler,
        # polled by SQLite every 1000 steps, catches a cancel in that window too.
        self.conn.set_progress_handler(self._progress, 1000)
        self.turn = threading.Lock()  # one statement at a time
        self._meta = threading.Lock()
        self._running: threading.Event | None = None

    def _sleep_ms(self, millis: Any) -> int:
        cancel = self._running
        if cancel is not None and isinstance(millis, int | float) and millis > 0:
            cancel.wait(float(millis) / 1000)
        return 0

    def _progress(self) -> int:
        running = self._running
        return 1 if running is not None and running.is_set() else 0

    def begin(self, cancel: threading.Event) -> None:
        """Mark the statement owning ``cancel`` as the running one."""
        with self._meta:
            self._running = cancel

    def end(self) -> None:
        """No statement runs any more."""
        with self._meta:
            self._running = None

    def interrupt(self, cancel: threading.Event) -> None:
        """Cancel a statement: interrupt the engine only if that statement is the one running."""
        with self._meta:
            cancel.set()
            if self._running is cancel:
                self.conn.interrupt()


def _column_type(values: list[Any]) -> tuple[str, str]:
    for value in values:
        if value is not None:
            return ("BINARY", "binary") if isinstance(value, bytes) else _TYPES.get(type(value), _TYPES[str])
    return "NULL", "void"


# The token an engine message names: `near "FORM": syntax error`, `no such column: nme`, ...
_NAMED_TOKEN = re.compile(r'near "([^"]+)"|no such (?:column|table|function): ([\w.]+)')


def _position(message: str, sql: str) -> tuple[int, int] | None:
    """Where the token a message names first stands in ``sql``: (line from 1, pos from 0), or ``None``."""
    found = _NAMED_TOKEN.search(message)
    token = (found.group(1) or found.group(2)) if found else None
    if not token:
        return None
    hit = None
    for candidate in dict.fromkeys((token, token.rsplit(".", 1)[-1])):  # `t.col` as written, else `col`
        hit = hit or re.search(r"(?<!\w)" + re.escape(candidate) + r"(?![\w])", sql, re.IGNORECASE)
    if hit is None:
        return None
    before = sql[: hit.start()]
    return before.count("\n") + 1, hit.start() - (before.rfind("\n") + 1)


def _failure(exc: sqlite3.Error, sql: str) -> ExecResult:
    """The engine's own message, with the failing token's place appended as Databricks words it."""
    message = str(exc)
    state = next((code for text, code in _SQL_STATES if text in message), None)
    position = _position(message, sql)
    if position is not None:
        message += f" (line {position[0]}, pos {position[1]})"
    return ExecResult(error=message, sql_state=state)


class SqlEngine:
    """The databases of one emulator instance, created on first use."""

    def __init__(self) -> None:
        self._databases: dict[tuple[str, str], Database] = {}
        self._lock = threading.Lock()

    def database(self, catalog: str, schema: str) -> Database:
        """The database of ``catalog.schema``."""
        with self._lock:
            return self._databases.setdefault((catalog, schema), Database())

    def close(self) -> None:
        """Close every database (their tables are gone)."""
        with self._lock:
            databases, self._databases = list(self._databases.values()), {}
        for database in databases:
            database.conn.close()

    @staticmethod
    def run(
        database: Database,
        sql: str,
        params: dict[str, Any],
        limits: tuple[int | None, int | None, bool],
        cancel: threading.Event,
    ) -> ExecResult:
        """Execute one statement (in a worker thread). ``limits`` = (row_limit, byte_limit, inline)."""
        with database.turn:
            if cancel.is_set():
                return ExecResult(cancelled=True)
            database.begin(cancel)
            try:
                result = _execute(database.conn, sql, params, limits)
            except sqlite3.Error as exc:
                result = _failure(exc, sql)
            finally:
                database.end()
        # A cancel that arrived while the statement ran wins, even if the engine finished first.
        return ExecResult(cancelled=True) if cancel.is_set() else result


def _execute(
    conn: sqlite3.Connection, sql: str, params: dict[str, Any], limits: tuple[int | None, int | None, bool]
) -> ExecResult:
    row_limit, byte_limit, inline = limits
    cursor = conn.execute(sql, params)
    if cursor.description is None:
        return ExecResult()
    names = [str(d[0]) for d in cursor.description]
    raw: list[tuple[Any, ...]] = []
    size, truncated = 0, False
    while batch := cursor.fetchmany(500):
        for row in batch:
            if row_limit is not None and len(raw) >= row_limit:
                truncated = True
                break
            size += len(json.dumps([json_value(v) for v in row]))
            if byte_limit is not None and size > byte_limit:
                truncated = True
                break
            if inline and size > INLINE_LIMIT:
                return ExecResult(error="The result set exceeds the 25 MiB limit of INLINE disposition.")
            raw.append(row)
        if truncated:
            break
    columns = []
    for position, name in enumerate(names):
        type_name, type_text = _column_type([row[position] for row in raw])
        columns.append({"name": name, "position": position, "type_name": type_name, "type_text": type_text})
    rows = [[json_value(v) for v in row] for row in raw]
    return ExecResult(columns=columns, rows=rows, truncated=truncated)
