"""The SQL statement and warehouse triggers against the emulator, and their kwargs."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.client import ConfigurationError
from airflow_dbx_async.emulator._warehouse_store import DEFAULT_WAREHOUSE_ID, add_warehouse
from airflow_dbx_async.outcome import StatementEvent, WarehouseEvent
from airflow_dbx_async.triggers import (
    STATEMENT_TRIGGER_CLASSPATH,
    WAREHOUSE_TRIGGER_CLASSPATH,
    DatabricksSQLStatementTrigger,
    DatabricksWarehouseTrigger,
)
from tests.fake_databricks import TOKEN
from tests.helpers import CONN_ID, async_wait_for, set_connection

if TYPE_CHECKING:
    from tests.fixtures import Emulated

pytestmark = pytest.mark.asyncio
WH = DEFAULT_WAREHOUSE_ID
FAST: dict[str, Any] = {"databricks_conn_id": CONN_ID, "polling_period_seconds": 0.01, "retry_delay": 0.0}


def statement_trigger(statement_id: str, **kwargs: Any) -> DatabricksSQLStatementTrigger:
    return DatabricksSQLStatementTrigger(statement_id=statement_id, warehouse_id=WH, **FAST | kwargs)


async def first(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("no event")


async def submit(emulator: Emulated, sql: str) -> str:
    def post() -> str:
        request = urllib.request.Request(
            f"{emulator.url}/api/2.0/sql/statements",
            data=json.dumps({"statement": sql, "warehouse_id": WH, "wait_timeout": "0s"}).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the local emulator
            return str(json.loads(answer.read())["statement_id"])

    return await asyncio.to_thread(post)


async def faults(emulator: Emulated, **settings: Any) -> None:
    def post() -> None:
        request = urllib.request.Request(
            f"{emulator.url}/_emulator/faults", data=json.dumps(settings).encode(), method="POST"
        )
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - the local emulator

    await asyncio.to_thread(post)


# -- kwargs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "classpath"),
    [
        (
            DatabricksSQLStatementTrigger(
                statement_id="01ef-1",
                warehouse_id="wh",
                deadline=1_900_000_000.5,
                cancel_on_kill=False,
                history=[["PENDING", 1_800_000_000.0]],
            ),
            STATEMENT_TRIGGER_CLASSPATH,
        ),
        (
            DatabricksWarehouseTrigger(
                warehouse_id="wh", target_state="STOPPED", deadline=1.5, history=[("RUNNING", 1.0)]
            ),
            WAREHOUSE_TRIGGER_CLASSPATH,
        ),
    ],
    ids=["statement", "warehouse"],
)
async def test_serialize_round_trips_primitives_only(trigger: Any, classpath: str) -> None:
    path, kwargs = trigger.serialize()
    assert path == classpath == f"airflow_dbx_async.triggers.{type(trigger).__name__}"
    assert json.loads(json.dumps(kwargs)) == kwargs  # primitives only: the triggerer stores them as JSON
    assert type(trigger)(**kwargs).serialize() == (path, kwargs)


async def test_a_warehouse_is_waited_for_to_run_or_stop_only() -> None:
    with pytest.raises(ConfigurationError, match="target_state"):
        DatabricksWarehouseTrigger(warehouse_id="wh", target_state="STARTING")


# -- statements ---------------------------------------------------------------------------------------


async def test_state_changes_travel_in_the_event(emulator: Emulated) -> None:
    statement_id = await submit(emulator, "SELECT 1")
    payload = await first(statement_trigger(statement_id, history=[["PENDING", 1.0]]))
    event = StatementEvent.from_payload(payload)
    assert event.status == "success"
    assert event.warehouse_id == WH
    assert [state for state, _ in event.history][0] == "PENDING"
    assert event.history[-1][0] == "SUCCEEDED"


async def test_on_kill_cancels_the_statement(emulator: Emulated) -> None:
    statement_id = await submit(emulator, "SELECT sleep_ms(600000)")
    await statement_trigger(statement_id).on_kill()
    assert emulator.calls(f"/sql/statements/{statement_id}/cancel") == [{}]
    statements = emulator.state.statements.statements
    await async_wait_for("CANCELED", lambda: statements[statement_id].state == "CANCELED", 10, 0.01)


async def test_on_kill_leaves_it_when_cancel_on_kill_is_off(emulator: Emulated) -> None:
    statement_id = await submit(emulator, "SELECT 1")
    await statement_trigger(statement_id, cancel_on_kill=False).on_kill()
    assert emulator.calls("/cancel") == []


async def test_an_unknown_statement_ends_the_watch_without_a_cancel(emulator: Emulated) -> None:
    event = StatementEvent.from_payload(await first(statement_trigger("no-such-statement")))
    assert event.status == "error"
    assert event.reason.startswith("NotFound: ")
    assert emulator.calls("/cancel") == []


async def test_a_refused_credential_ends_the_watch_and_tries_to_cancel(
    emulator: Emulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    statement_id = await submit(emulator, "SELECT 1")
    set_connection(monkeypatch, emulator.url, password="dapi-wrong")
    event = StatementEvent.from_payload(await first(statement_trigger(statement_id)))
    assert event.status == "error"
    assert event.reason.startswith("cancelling the statement failed too; AuthError: ")


async def test_transient_errors_are_waited_out(emulator: Emulated) -> None:
    statement_id = await submit(emulator, "SELECT 1")
    await faults(emulator, rate=1.0, kinds=["500"], paths=["sql/statements/"])
    watching = asyncio.create_task(first(statement_trigger(statement_id)))
    await async_wait_for(
        "faults", lambda: sum(emulator.admin("stats")["faults_injected"].values()) >= 4, 10, 0.01
    )
    await faults(emulator, rate=0)
    assert StatementEvent.from_payload(await watching).status == "success"


# -- warehouses ---------------------------------------------------------------------------------------


async def test_a_warehouse_waited_for_to_stop_is_stopped_when_running(emulator: Emulated) -> None:
    add_warehouse(emulator.state, {"id": "wh-on"}, status="RUNNING")
    trigger = DatabricksWarehouseTrigger(warehouse_id="wh-on", target_state="STOPPED", **FAST)
    watching = asyncio.create_task(first(trigger))
    await async_wait_for("the stop", lambda: emulator.calls("/wh-on/stop"), 10, 0.01)
    emulator.advance(5)
    event = WarehouseEvent.from_payload(await watching)
    assert (event.status, event.last_state) == ("success", "STOPPED")
    assert (event.history[0][0], event.history[-1][0]) == ("RUNNING", "STOPPED")
    assert len(emulator.calls("/wh-on/stop")) == 1


async def test_a_deleted_warehouse_fails_the_wait(emulator: Emulated) -> None:
    add_warehouse(emulator.state, {"id": "wh-gone"}, status="DELETED")
    trigger = DatabricksWarehouseTrigger(warehouse_id="wh-gone", target_state="RUNNING", **FAST)
    event = WarehouseEvent.from_payload(await first(trigger))
    assert (event.status, event.reason) == ("failed", "entered DELETED while waiting for RUNNING")
    assert emulator.calls("/wh-gone/start") == []
