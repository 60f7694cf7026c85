"""A minimal stand-in for Airflow's runtime task instance and context."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class FakeTI:
    dag_id: str = "dag"
    task_id: str = "task"
    run_id: str = "manual__2026-01-01"
    map_index: int = -1
    try_number: int = 1
    start_date: datetime = field(default_factory=lambda: datetime.now(UTC))
    pushed: list[tuple[str, Any]] = field(default_factory=list)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))


def context(ti: FakeTI | None = None) -> Any:
    return {"ti": ti or FakeTI()}


async def first_event(trigger: Any) -> Any:
    """Run a trigger as the triggerer does and return its first event, decoded."""
    from airflow_dbx_async._events import RunEvent

    async for event in trigger.run():
        return RunEvent.from_payload(event.payload)
    raise AssertionError("the trigger ended without an event")
