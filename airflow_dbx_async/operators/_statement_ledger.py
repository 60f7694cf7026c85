"""Where a task try keeps the id of the SQL statement it submitted, so that a retry re-attaches to it.

A job run is found again through its idempotency token (:mod:`airflow_dbx_async.operators._idempotency`);
the Statement Execution API has no such token and no list to search, so the statement's id is kept on
the Airflow side instead, right after the submit, under the same identity: the token of slot 1 of the
task instance (:func:`~airflow_dbx_async.operators._idempotency.make_token`: DAG, task, DAG run, map
index, the DAG run's clear number, keyed with the deployment's secret). A retry that finds an entry of
its own token, for the same SQL on the same warehouse, re-attaches to the statement while it can still
succeed (pending or running); a clear changes the token and so starts afresh. The entry is removed
once the task saw the statement end (or cancelled it).

Where it is kept: the task's state store (``context["task_state_store"]``, Airflow 3.3 and later),
else an Airflow Variable named ``databricks_async.sql_statement.<token>``. Keeping it is best effort:
a store that cannot be written is logged, and the retry then submits again.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = (
    "STATE_STORE_KEY",
    "VARIABLE_PREFIX",
    "StatementLedger",
    "statement_fingerprint",
    "statement_ledger",
)

STATE_STORE_KEY = "databricks_async.sql_statement"
VARIABLE_PREFIX = "databricks_async.sql_statement."
_SAME_SQL = ("statement", "warehouse_id", "catalog", "schema", "parameters")


class _Store(Protocol):
    """One entry of one task instance: read, written and removed."""

    def read(self) -> object: ...

    def write(self, value: dict[str, str]) -> None: ...

    def delete(self) -> None: ...


class _TaskStateStore:
    """The entry in the task's state store (Airflow 3.3+), which outlives the try that wrote it."""

    def __init__(self, accessor: Any) -> None:
        self._accessor = accessor

    def read(self) -> object:
        return self._accessor.get(STATE_STORE_KEY)

    def write(self, value: dict[str, str]) -> None:
        self._accessor.set(STATE_STORE_KEY, value)

    def delete(self) -> None:
        self._accessor.delete(STATE_STORE_KEY)


class _VariableStore:
    """The entry as an Airflow Variable named by the token (Airflow before 3.3)."""

    def __init__(self, token: str) -> None:
        self._key = VARIABLE_PREFIX + token

    def read(self) -> object:
        from airflow.sdk import Variable

        raw = Variable.get(self._key, default=None)
        return json.loads(raw) if isinstance(raw, str) else raw

    def write(self, value: dict[str, str]) -> None:
        from airflow.sdk import Variable

        Variable.set(
            self._key, json.dumps(value), description="airflow-dbx-async: a SQL statement to re-attach to"
        )

    def delete(self) -> None:
        from airflow.sdk import Variable

        Variable.delete(self._key)


def statement_fingerprint(body: Mapping[str, Any]) -> str:
    """A digest of what makes two submits the same statement: the SQL, warehouse, catalog, schema, parameters.

    Query tags are left out: the Airflow tags name the try, which a retry changes.
    """
    same = {name: body.get(name) for name in _SAME_SQL}
    text = json.dumps(same, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class StatementLedger:
    """The statement id one task instance keeps for its retries.

    :param store: where the entry is kept.
    :param token: the task instance's token; an entry of another token is not this task's.
    :param log: where a store that cannot be used is reported.
    """

    def __init__(self, store: _Store, token: str, log: Any) -> None:
        self._store = store
        self._token = token
        self._log = log

    def recall(self, fingerprint: str) -> str | None:
        """The id an earlier try of this task instance kept for the same statement, or ``None``."""
        try:
            entry = self._store.read()
        except Exception as exc:
            self._log.warning("Could not read the SQL statement an earlier try submitted: %s", exc)
            return None
        if not isinstance(entry, dict) or entry.get("token") != self._token:
            return None
        statement_id = entry.get("statement_id")
        if entry.get("fingerprint") != fingerprint:
            self._log.info(
                "An earlier try submitted other SQL (statement %s); submitting this try's", statement_id
            )
            return None
        return statement_id if isinstance(statement_id, str) and statement_id else None

    def remember(self, statement_id: str, fingerprint: str) -> None:
        """Keep ``statement_id`` for a retry of this task instance."""
        entry = {"token": self._token, "statement_id": statement_id, "fingerprint": fingerprint}
        try:
            self._store.write(entry)
        except Exception as exc:
            self._log.warning(
                "Could not keep SQL statement %s for a retry (a retry will submit again): %s",
                statement_id,
                exc,
            )

    def forget(self) -> None:
        """Remove the entry: the statement ended, or this task stopped it."""
        try:
            self._store.delete()
        except Exception as exc:
            self._log.warning("Could not remove the SQL statement kept for a retry: %s", exc)


def statement_ledger(context: Mapping[str, Any], token: str, log: Any) -> StatementLedger:
    """The ledger of this task instance: its state store when Airflow has one, else a Variable."""
    accessor = context.get("task_state_store")
    store: _Store = _TaskStateStore(accessor) if accessor is not None else _VariableStore(token)
    return StatementLedger(store, token, log)
