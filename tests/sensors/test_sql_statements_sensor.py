"""The SQL statement sensor against the emulator: it submits or watches a statement given by id."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import DAG

from airflow_dbx_async.emulator._warehouse_store import DEFAULT_WAREHOUSE_ID
from airflow_dbx_async.exceptions import DatabricksConfigError, DatabricksStatementFailedError
from airflow_dbx_async.sensors import DatabricksSQLStatementsSensor
from airflow_dbx_async.triggers import DatabricksSQLStatementTrigger
from tests.compat import TaskDeferred
from tests.helpers import CONN_ID, FakeStateStore, FakeTI, wait_for

if TYPE_CHECKING:
    from tests.fixtures import Emulated

WH = DEFAULT_WAREHOUSE_ID
SUBMIT = "POST /api/2.0/sql/statements"


def sensor(**kwargs: Any) -> DatabricksSQLStatementsSensor:
    params: dict[str, Any] = {
        "task_id": "sense",
        "warehouse_id": WH,
        "databricks_conn_id": CONN_ID,
        "polling_period_seconds": 0.01,
        "databricks_retry_delay": 0,
        "timeout": 30,
    }
    return DatabricksSQLStatementsSensor(**params | kwargs)


def ctx(ti: FakeTI | None = None) -> Any:
    return {"ti": ti or FakeTI(), "task_state_store": FakeStateStore()}


def fire(trigger: DatabricksSQLStatementTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first())


def deferred(op: DatabricksSQLStatementsSensor, context: Any) -> DatabricksSQLStatementTrigger:
    with pytest.raises(TaskDeferred) as raised:
        op.execute(context)
    trigger = raised.value.trigger
    assert isinstance(trigger, DatabricksSQLStatementTrigger)
    return trigger


def test_it_submits_pushes_the_id_defers_and_succeeds(emulator: Emulated) -> None:
    ti = FakeTI()
    op = sensor(statement="SELECT 1")
    trigger = deferred(op, ctx(ti))
    assert ti.pushed == [("statement_id", op.statement_id)]
    assert trigger.cancel_on_kill is True  # its own statement
    payload = fire(trigger)
    op.execute_complete(ctx(ti), payload)
    assert emulator.requests_to(SUBMIT) == 1


def test_it_watches_a_statement_given_by_id_and_never_cancels_it(emulator: Emulated) -> None:
    owner = sensor(statement="SELECT sleep_ms(600000)")
    deferred(owner, ctx())
    ti = FakeTI(task_id="watcher")
    watcher = sensor(statement_id=owner.statement_id, timeout=0.2)
    trigger = deferred(watcher, ctx(ti))
    assert ti.pushed == [("statement_id", owner.statement_id)]
    assert trigger.cancel_on_kill is False
    payload = fire(trigger)  # the deadline passes
    assert payload["stopped"] == "deadline"
    assert "left running" in payload["reason"]
    watcher.on_kill()
    assert emulator.calls("/cancel") == []
    assert emulator.requests_to(SUBMIT) == 1
    with pytest.raises(DatabricksStatementFailedError, match="did not end in time"):
        watcher.execute_complete(ctx(ti), payload)
    owner.on_kill()  # leave nothing running
    assert len(emulator.calls("/cancel")) == 1


def test_a_statement_given_by_id_that_ended_finishes_at_once(emulator: Emulated) -> None:
    owner = sensor(statement="SELECT 1", deferrable=False)
    owner.execute(ctx())
    watcher = sensor(statement_id=owner.statement_id)
    watcher.execute(ctx())  # no deferral: it read the final state first
    assert [p for m, p, _ in emulator.requests if m == "GET"][-1].endswith(str(owner.statement_id))


def test_deferrable_false_waits_in_the_worker(emulator: Emulated) -> None:
    op = sensor(statement="SELEC 1", deferrable=False)
    with pytest.raises(DatabricksStatementFailedError, match="syntax error"):
        op.execute(ctx())


def test_poke_reads_the_state_once(emulator: Emulated) -> None:
    op = sensor(statement="SELECT sleep_ms(600000)")
    deferred(op, ctx())
    looker = sensor(statement_id=op.statement_id)
    assert looker.poke(ctx()) is False
    op.on_kill()
    statements = emulator.state.statements.statements
    wait_for("CANCELED", lambda: statements[str(op.statement_id)].state == "CANCELED", interval=0.01)
    with pytest.raises(DatabricksStatementFailedError, match="CANCELED"):
        looker.poke(ctx())


@pytest.mark.parametrize(("statement", "statement_id"), [("SELECT 1", "abc"), ("SELECT 1", ""), ("", "")])
def test_exactly_one_of_statement_or_statement_id_when_constructed(statement: str, statement_id: str) -> None:
    with pytest.raises(ValueError, match="exactly one of statement or statement_id"):
        sensor(statement=statement, statement_id=statement_id)


def test_the_check_comes_before_rendering() -> None:
    with DAG("native", schedule=None, render_template_as_native_obj=True):
        with pytest.raises(DatabricksConfigError):
            sensor(statement="{{ None }}", statement_id="abc")


@pytest.mark.parametrize(("statement", "statement_id"), [(None, None), ("", None)])
def test_neither_fails_in_one_line_before_any_request(
    emulator: Emulated, statement: str | None, statement_id: str | None
) -> None:
    op = sensor(statement=statement, statement_id=statement_id)
    with pytest.raises(DatabricksConfigError) as raised:
        op.execute(ctx())
    assert raised.value.field == "statement"
    assert emulator.requests == []


def test_a_missing_warehouse_id_fails_when_constructed() -> None:
    with pytest.raises(DatabricksConfigError, match="warehouse_id: must be provided"):
        sensor(warehouse_id="", statement="SELECT 1")
