"""Which task is running: its identity for idempotency tokens, when the try started, its default task key."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from airflow_dbx_async._compat import conf
from airflow_dbx_async.client import lenient_int
from airflow_dbx_async.hooks import register_connection_secrets
from airflow_dbx_async.operators._idempotency import TaskIdentity, derive_key

__all__ = (
    "clear_number",
    "default_task_key",
    "idempotency_key",
    "stored_run_id",
    "task_identity",
    "try_started",
)

_log = logging.getLogger(__name__)


def clear_number(context: Any) -> int:
    """How many times the DAG run was cleared (``dag_run.clear_number``; 0 when unknown)."""
    dag_run = context.get("dag_run") if hasattr(context, "get") else None
    number = getattr(dag_run, "clear_number", None)
    return int(number) if isinstance(number, int) and number > 0 else 0


def idempotency_key(conn_id: str) -> bytes | None:
    """The key of derived tokens: ``[databricks_async] idempotency_key``, else the connection's secrets.

    ``None`` when neither exists (a connection without a secret, such as a managed identity): the
    tokens are then unkeyed, as before, and can be computed by anyone who knows the DAG.
    """
    configured = conf.get("databricks_async", "idempotency_key", fallback="") or ""
    if configured.strip():
        return derive_key(configured.strip())
    secrets = register_connection_secrets(conn_id)
    return derive_key("\n".join(sorted(secrets))) if secrets else None


def task_identity(ti: Any, *, durable: bool = True, clear: int = 0, key: bytes | None = None) -> TaskIdentity:
    """The task instance; with ``durable=False`` also its try number (each try gets its own tokens).

    :param clear: the DAG run's clear number (:func:`clear_number`).
    :param key: the HMAC key of the tokens (:func:`idempotency_key`).
    """
    map_index = getattr(ti, "map_index", None)
    try_number = getattr(ti, "try_number", None)
    return TaskIdentity(
        dag_id=str(ti.dag_id),
        task_id=str(ti.task_id),
        run_id=str(ti.run_id),
        map_index=-1 if map_index is None else int(map_index),
        try_number=None if durable else int(try_number or 1),
        clear_number=clear,
        key=key,
    )


def stored_run_id(context: Any, key: str | None) -> int | None:
    """The run id kept under ``key`` in the task state store (Airflow 3.3), or ``None``.

    The official operators keep their run there with ``durable`` (``databricks_run_id`` for submit,
    ``databricks_run_now_id`` for run-now); earlier Airflow versions have no store. A store that
    cannot be read is logged and treated as empty: the idempotency tokens still prevent a second run
    of this package's own tries.
    """
    store = context.get("task_state_store") if key and hasattr(context, "get") else None
    if store is None:
        return None
    try:
        value = store.get(key)
    except Exception as exc:  # the supervisor's answer: not a reason to fail the task
        _log.warning("Could not read the task state key %r: %s", key, exc)
        return None
    return lenient_int(value) or None


def try_started(ti: Any) -> float:
    """When this try started, epoch seconds (now, when the task instance does not say)."""
    start = getattr(ti, "start_date", None)
    return start.timestamp() if start is not None else time.time()


def default_task_key(dag_id: str, task_id: str) -> str:
    """The Databricks ``task_key`` of an Airflow task that names none: the official provider's md5 hex.

    Not a security use of md5 (``usedforsecurity=False``, so FIPS-mode Pythons allow it).
    """
    return hashlib.md5(f"{dag_id}__{task_id}".encode(), usedforsecurity=False).hexdigest()
