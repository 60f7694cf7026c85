"""``deferrable=False``: watch the run from the worker, for deployments without a triggerer.

The worker runs the very trigger the deferrable path hands to the triggerer, through
``asgiref.sync.async_to_sync``: the same client, poll schedule, transient-error tolerance, deadline
and failure details, so both modes report a failure identically.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync

from airflow_dbx_async.outcome import RunEvent

if TYPE_CHECKING:
    from airflow_dbx_async.triggers import (
        DatabricksRunTrigger,
        DatabricksSQLStatementTrigger,
        DatabricksWarehouseTrigger,
    )

__all__ = ("first_payload_in_worker", "wait_in_worker")


def wait_in_worker(trigger: DatabricksRunTrigger) -> RunEvent:
    """Run ``trigger`` to its one event in this thread and return the event, decoded."""
    trigger.event_hold = False  # no scheduler waits to resume this task: the event is used at once

    async def first_event() -> RunEvent:
        async for event in trigger.run():
            return RunEvent.from_payload(event.payload)
        raise RuntimeError("the Databricks run watch ended without an event")

    return async_to_sync(first_event)()


def first_payload_in_worker(trigger: DatabricksSQLStatementTrigger | DatabricksWarehouseTrigger) -> Any:
    """Run a SQL statement or warehouse trigger to its one event in this thread; return its payload."""
    trigger.event_hold = False  # no scheduler waits to resume this task: the event is used at once

    async def first() -> Any:
        async for event in trigger.run():
            return event.payload
        raise RuntimeError(f"{type(trigger).__name__} ended without an event")

    return async_to_sync(first)()
