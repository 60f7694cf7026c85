"""Which task is running: its identity for idempotency tokens, when the try started, its default task key."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from airflow_dbx_async.operators._idempotency import TaskIdentity

__all__ = ("default_task_key", "task_identity", "try_started")


def task_identity(ti: Any, *, durable: bool = True) -> TaskIdentity:
    """The task instance; with ``durable=False`` also its try number (each try gets its own tokens)."""
    map_index = getattr(ti, "map_index", None)
    try_number = getattr(ti, "try_number", None)
    return TaskIdentity(
        dag_id=str(ti.dag_id),
        task_id=str(ti.task_id),
        run_id=str(ti.run_id),
        map_index=-1 if map_index is None else int(map_index),
        try_number=None if durable else int(try_number or 1),
    )


def try_started(ti: Any) -> float:
    """When this try started, epoch seconds (now, when the task instance does not say)."""
    start = getattr(ti, "start_date", None)
    return start.timestamp() if start is not None else time.time()


def default_task_key(dag_id: str, task_id: str) -> str:
    """The Databricks ``task_key`` of an Airflow task that names none: the official provider's md5 hex.

    Not a security use of md5 (``usedforsecurity=False``, so FIPS-mode Pythons allow it).
    """
    return hashlib.md5(f"{dag_id}__{task_id}".encode(), usedforsecurity=False).hexdigest()
