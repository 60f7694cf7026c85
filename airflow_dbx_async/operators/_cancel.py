"""Cancel a Databricks run or SQL statement from ``on_kill``, in a thread of its own."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from airflow_dbx_async.client import JobsClient
    from airflow_dbx_async.hooks import DatabricksAsyncHook

__all__ = ("CANCEL_JOIN_SECONDS", "cancel_in_thread", "cancel_statement_in_thread")

CANCEL_JOIN_SECONDS = 60.0


def _cancel_in_thread(
    hook: DatabricksAsyncHook, cancel: Callable[[JobsClient], Awaitable[Any]], what: str, log: Any
) -> bool:
    """Send ``cancel`` from a thread of its own; return whether it answered in time, logging the outcome.

    A separate thread: ``on_kill`` may run in a signal handler while the main thread is already inside
    ``async_to_sync``, which must not be re-entered.
    """
    errors: list[BaseException] = []

    def target() -> None:
        try:
            hook.run_sync(cancel)
        except Exception as exc:
            errors.append(exc)

    name = "cancel-" + "-".join(what.lower().split())
    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(CANCEL_JOIN_SECONDS)
    if errors or worker.is_alive():
        log.error("Could not cancel %s: %s", what, errors[0] if errors else "timed out")
        return False
    log.info("Cancelled %s", what)
    return True


def cancel_in_thread(hook: DatabricksAsyncHook, run_id: int, log: Any) -> bool:
    """Ask Databricks to cancel ``run_id``; return whether it answered in time, logging the outcome."""
    return _cancel_in_thread(hook, lambda client: client.cancel_run(run_id), f"Databricks run {run_id}", log)


def cancel_statement_in_thread(hook: DatabricksAsyncHook, statement_id: str, log: Any) -> bool:
    """Ask Databricks to cancel SQL statement ``statement_id``, as :func:`cancel_in_thread` does a run."""
    return _cancel_in_thread(
        hook,
        lambda client: client.sql.cancel_statement(statement_id),
        f"Databricks SQL statement {statement_id}",
        log,
    )
