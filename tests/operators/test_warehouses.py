"""Start and stop a SQL warehouse against the emulator: what is sent, the wait, and how it fails.

Warehouse transitions follow the emulator's clock: a test makes them take 1,000 s and moves the clock
on (``Emulated.advance``) when it wants the next state, so nothing waits on a real transition.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.emulator._warehouse_store import add_warehouse, start_warehouse, stop_warehouse
from airflow_dbx_async.exceptions import DatabricksConfigError, DatabricksWarehouseError
from airflow_dbx_async.operators import DatabricksStartWarehouseOperator, DatabricksStopWarehouseOperator
from airflow_dbx_async.triggers import DatabricksWarehouseTrigger
from tests.compat import TaskDeferred
from tests.helpers import CONN_ID, FakeTI, messages, wait_for

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from airflow_dbx_async.operators import DatabricksWarehouseOperatorBase
    from tests.fixtures import Emulated

SLOW = 1000.0  # seconds a transition takes on the emulator's clock


@pytest.fixture
def slow(emulator: Emulated) -> Emulated:
    """The emulator with transitions that take :data:`SLOW` s, and a warehouse in each state."""
    state = emulator.state
    state.config = dataclasses.replace(state.config, warehouse_transition_seconds=SLOW)
    for name in ("STOPPED", "RUNNING", "DELETED"):
        add_warehouse(state, {"id": f"wh-{name.lower()}"}, status=name)
    add_warehouse(state, {"id": "wh-stopping"}, status="RUNNING")
    stop_warehouse(state, state.warehouses["wh-stopping"])
    add_warehouse(state, {"id": "wh-starting"}, status="STOPPED")
    start_warehouse(state, state.warehouses["wh-starting"])
    return emulator


# A test that fails leaves no trigger polling for long: each gives up after TIMEOUT s.
TIMEOUT = 30
PARAMS: dict[str, Any] = {
    "databricks_conn_id": CONN_ID,
    "polling_period_seconds": 0.01,
    "databricks_retry_delay": 0,
    "timeout": TIMEOUT,
}


def context() -> Any:
    return {"ti": FakeTI()}


def start_op(warehouse_id: str, **kwargs: Any) -> DatabricksStartWarehouseOperator:
    params = PARAMS
    return DatabricksStartWarehouseOperator(task_id="start", warehouse_id=warehouse_id, **params | kwargs)


def stop_op(warehouse_id: str, **kwargs: Any) -> DatabricksStopWarehouseOperator:
    params = PARAMS
    return DatabricksStopWarehouseOperator(task_id="stop", warehouse_id=warehouse_id, **params | kwargs)


def deferred(op: DatabricksWarehouseOperatorBase) -> DatabricksWarehouseTrigger:
    with pytest.raises(TaskDeferred) as raised:
        op.execute(context())
    trigger = raised.value.trigger
    assert isinstance(trigger, DatabricksWarehouseTrigger)
    assert raised.value.method_name == "execute_complete"
    return trigger


def in_background(trigger: DatabricksWarehouseTrigger) -> concurrent.futures.Future[dict[str, Any]]:
    """Run the trigger as the triggerer would, in a thread of its own; its event's payload comes later."""

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(asyncio.run, first())
    pool.shutdown(wait=False)
    return future


def sent(emulator: Emulated, warehouse_id: str) -> list[str]:
    """The warehouse requests, in order: ``GET``, ``start``, ``stop``."""
    prefix = f"/api/2.0/sql/warehouses/{warehouse_id}"
    return [
        "GET" if method == "GET" else path.rsplit("/", 1)[1]
        for method, path, _ in emulator.requests
        if path.startswith(prefix)
    ]


def dedup(requests: list[str]) -> list[str]:
    return [r for i, r in enumerate(requests) if i == 0 or r != requests[i - 1]]


def test_start_sends_the_start_defers_and_succeeds_once_running(
    slow: Emulated, logs: list[MutableMapping[str, Any]]
) -> None:
    op = start_op("wh-stopped")
    trigger = deferred(op)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_dbx_async.triggers.DatabricksWarehouseTrigger"
    assert kwargs["target_state"] == "RUNNING"
    assert [state for state, _ in kwargs["history"]] == ["STOPPED"]
    assert sent(slow, "wh-stopped") == ["GET", "start"]
    waiting = in_background(trigger)
    wait_for("STARTING", lambda: "STARTING" in dict(trigger.history), interval=0.01)
    slow.advance(SLOW + 1)
    payload = waiting.result(30)
    assert payload["status"] == "success"
    op.execute_complete({}, payload)
    assert "Databricks SQL warehouse wh-stopped reached RUNNING" in messages(logs, "info")
    assert dedup(sent(slow, "wh-stopped")) == ["GET", "start", "GET"]


def test_start_of_a_stopping_warehouse_waits_for_the_stop_then_starts_it(slow: Emulated) -> None:
    trigger = deferred(start_op("wh-stopping"))
    assert sent(slow, "wh-stopping") == ["GET"]  # a start now would race the stop
    waiting = in_background(trigger)
    wait_for("STOPPING seen", lambda: len(sent(slow, "wh-stopping")) > 1, interval=0.01)
    slow.advance(SLOW + 1)  # the stop ends
    wait_for("the start", lambda: "start" in sent(slow, "wh-stopping"), interval=0.01)
    slow.advance(SLOW + 1)  # the start ends
    payload = waiting.result(30)
    assert payload["status"] == "success"
    seen = [state for state, _ in payload["history"]]
    assert seen[:2] == ["STOPPING", "STOPPED"]
    assert seen[-1] == "RUNNING"
    assert dedup(sent(slow, "wh-stopping")) == ["GET", "start", "GET"]


@pytest.mark.parametrize(
    ("make", "warehouse_id"),
    [(start_op, "wh-running"), (stop_op, "wh-stopped")],
    ids=["start-running", "stop-stopped"],
)
def test_nothing_is_sent_when_the_warehouse_is_already_there(
    slow: Emulated, make: Any, warehouse_id: str
) -> None:
    make(warehouse_id).execute(context())
    assert sent(slow, warehouse_id) == ["GET"]


@pytest.mark.parametrize(
    ("make", "warehouse_id"),
    [(start_op, "wh-starting"), (stop_op, "wh-stopping")],
    ids=["start-starting", "stop-stopping"],
)
def test_a_transition_under_way_is_only_waited_for(slow: Emulated, make: Any, warehouse_id: str) -> None:
    trigger = deferred(make(warehouse_id))
    waiting = in_background(trigger)
    wait_for("a poll", lambda: len(sent(slow, warehouse_id)) > 1, interval=0.01)
    slow.advance(SLOW + 1)
    assert waiting.result(30)["status"] == "success"
    assert set(sent(slow, warehouse_id)) == {"GET"}


def test_stop_in_the_worker_with_deferrable_false(slow: Emulated) -> None:
    slow.state.config = dataclasses.replace(slow.state.config, warehouse_transition_seconds=0.05)
    add_warehouse(slow.state, {"id": "wh-quick"}, status="RUNNING")
    stop_op("wh-quick", deferrable=False, wait_for_termination=True).execute(context())
    assert dedup(sent(slow, "wh-quick")) == ["GET", "stop", "GET"]


def test_wait_for_termination_false_returns_after_the_request(slow: Emulated) -> None:
    start_op("wh-stopped", wait_for_termination=False).execute(context())
    assert sent(slow, "wh-stopped") == ["GET", "start"]
    # A stopping warehouse is then started at once: nobody would wait to start it later.
    start_op("wh-stopping", wait_for_termination=False).execute(context())
    assert sent(slow, "wh-stopping") == ["GET", "start"]


def test_a_deleted_warehouse_fails_in_one_line_before_any_start(slow: Emulated) -> None:
    with pytest.raises(DatabricksWarehouseError) as raised:
        start_op("wh-deleted").execute(context())
    assert str(raised.value) == "Databricks SQL warehouse wh-deleted is DELETED; it cannot become RUNNING."
    assert sent(slow, "wh-deleted") == ["GET"]


def test_the_deadline_fails_the_task_with_the_last_state(
    slow: Emulated, logs: list[MutableMapping[str, Any]]
) -> None:
    op = start_op("wh-starting", timeout=0.2)
    payload = in_background(deferred(op)).result(30)
    assert payload["stopped"] == "deadline"
    with pytest.raises(DatabricksWarehouseError) as raised:
        op.execute_complete({}, payload)
    assert str(raised.value) == (
        "Databricks SQL warehouse wh-starting did not reach RUNNING within 0.2s; last state: STARTING."
    )
    assert any(m.startswith("  states seen: STARTING (+0.0 s)") for m in messages(logs, "error"))


def test_a_start_that_ends_stopped_fails_at_once(slow: Emulated) -> None:
    trigger = deferred(start_op("wh-starting"))
    waiting = in_background(trigger)
    wait_for("STARTING seen", lambda: len(sent(slow, "wh-starting")) > 1, interval=0.01)
    warehouse = slow.state.warehouses["wh-starting"]
    stop_warehouse(slow.state, warehouse)  # as a start that fails: back to STOPPED
    slow.advance(SLOW + 1)
    payload = waiting.result(30)
    with pytest.raises(DatabricksWarehouseError) as raised:
        start_op("wh-starting").execute_complete({}, payload)
    assert str(raised.value) == "Databricks SQL warehouse wh-starting stopped while starting; it is STOPPED."


@pytest.mark.parametrize("warehouse_id", ["", None, "  "])
def test_a_missing_warehouse_id_fails_in_one_line_before_any_request(
    emulator: Emulated, warehouse_id: Any
) -> None:
    with pytest.raises(DatabricksConfigError) as raised:
        stop_op(warehouse_id).execute(context())
    assert raised.value.field == "warehouse_id"
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"status": "deleted", "warehouse_id": "w", "target_state": "RUNNING", "last_state": "DELETED"},
            "entered",
        ),
        (
            {"status": "timeout", "warehouse_id": "w", "target_state": "RUNNING", "last_state": "STARTING"},
            "within",
        ),
    ],
)
def test_an_official_trigger_event_resumes_in_ours(event: dict[str, Any], expected: str) -> None:
    with pytest.raises(DatabricksWarehouseError, match=expected):
        start_op("w").execute_complete({}, event)
    start_op("w").execute_complete({}, {**event, "status": "success"})
