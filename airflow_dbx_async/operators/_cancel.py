"""Cancel a Databricks run from ``on_kill``, in a thread of its own."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_dbx_async.client import JobsClient
    from airflow_dbx_async.hooks import DatabricksAsyncHook

__all__ = ("CANCEL_JOIN_SECONDS", "cancel_in_thread")

CANCEL_JOIN_SECONDS = 60.0


def cancel_in_thread(hook: DatabricksAsyncHook, run_id: int, log: Any) -> bool:
    """Ask Databricks to cancel ``run_id``; return whether it answered in time, logging the outcome.

    A separate thread: ``on_kill`` may run in a signal handler while the main thread is already inside
    ``async_to_sync``, which must not be re-entered.
    """
    errors: list[BaseException] = []
    cancel: Callable[[JobsClient], Any] = lambda client: client.cancel_run(run_id)  # noqa: E731

    def target() -> None:
        try:
            hook.run_sync(cancel)
        except Exception as exc:
            errors.append(exc)

    worker = threading.Thread(target=target, name=f"cancel-databricks-run-{run_id}", daemon=True)
    worker.start()
    worker.join(CANCEL_JOIN_SECONDS)
    if errors or worker.is_alive():
        log.error("Could not cancel Databricks run %s: %s", run_id, errors[0] if errors else "timed out")
        return False
    log.info("Cancelled Databricks run %s", run_id)
    return True
