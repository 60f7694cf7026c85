"""The SQL statement operator against the emulator: submit, XCom, defer, resume, re-attach, cancel, report.

Nothing sleeps on a clock: a slow statement is the emulator's ``sleep_ms`` (ended by a cancel), and a
test waits for the emulator's own account of a statement.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest

from airflow_dbx_async.emulator._sql_engine import ExecResult
from airflow_dbx_async.emulator._warehouse_store import DEFAULT_WAREHOUSE_ID
from airflow_dbx_async.exceptions import DatabricksConfigError, DatabricksStatementFailedError
from airflow_dbx_async.operators import DatabricksSQLStatementsOperator
from airflow_dbx_async.operators._idempotency import TaskIdentity, derive_key, make_token
from airflow_dbx_async.triggers import DatabricksSQLStatementTrigger
from tests.compat import TaskDeferred
from tests.fake_databricks import TOKEN
from tests.helpers import CONN_ID, FakeStateStore, FakeTI, messages, wait_for

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from tests.fixtures import Emulated

pytestmark = pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")

WH = DEFAULT_WAREHOUSE_ID
SLOW = "SELECT sleep_ms(600000)"
SUBMIT = "POST /api/2.0/sql/statements"
# How Databricks words a syntax error: the line and position of the fault, then the SQL marked.
DATABRICKS_ERROR = (
    "[PARSE_SYNTAX_ERROR] Syntax error at or near 'FROM'. SQLSTATE: 42601 (line 2, pos 8)\n\n"
    "== SQL ==\nSELECT a,\n  b, c, FROM t\n--------^^^\n"
)


def sql_op(**kwargs: Any) -> DatabricksSQLStatementsOperator:
    params: dict[str, Any] = {
        "task_id": "task",
        "statement": "SELECT 1",
        "warehouse_id": WH,
        "databricks_conn_id": CONN_ID,
        "polling_period_seconds": 0.01,
        "databricks_retry_delay": 0,
    }
    params.update(kwargs)
    return DatabricksSQLStatementsOperator(**params)


def ctx(ti: FakeTI | None = None, store: FakeStateStore | None = None) -> Any:
    return {"ti": ti or FakeTI(), "task_state_store": store if store is not None else FakeStateStore()}


def deferred(op: DatabricksSQLStatementsOperator, context: Any) -> DatabricksSQLStatementTrigger:
    with pytest.raises(TaskDeferred) as raised:
        op.execute(context)
    assert raised.value.method_name == "execute_complete"
    trigger = raised.value.trigger
    assert isinstance(trigger, DatabricksSQLStatementTrigger)
    return trigger


def fire(trigger: DatabricksSQLStatementTrigger) -> dict[str, Any]:
    """Run the trigger as the triggerer would and return its one event's payload."""

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return asyncio.run(first())


def state_of(emulator: Emulated, statement_id: str) -> str:
    (found,) = [s for s in emulator.admin("statements")["statements"] if s["statement_id"] == statement_id]
    return str(found["state"])


def submissions(emulator: Emulated) -> int:
    return emulator.requests_to(SUBMIT)


def test_defers_with_trigger_kwargs_and_pushes_the_statement_id(emulator: Emulated) -> None:
    ti = FakeTI()
    op = sql_op(execution_timeout=timedelta(minutes=5), catalog="main", schema="default")
    trigger = deferred(op, ctx(ti))
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_dbx_async.triggers.DatabricksSQLStatementTrigger"
    assert ti.pushed == [("statement_id", op.statement_id)]
    assert kwargs["deadline"] == pytest.approx(ti.start_date.timestamp() + 300, abs=5)  # the sooner limit
    assert [state for state, _ in kwargs["history"]] == ["PENDING"]
    assert kwargs | {"deadline": None, "history": None} == {
        "statement_id": op.statement_id,
        "warehouse_id": WH,
        "cancel_on_kill": True,
        "databricks_conn_id": CONN_ID,
        "polling_period_seconds": 0.01,
        "retry_limit": 3,
        "retry_delay": 0,
        "deadline": None,
        "history": None,
    }
    assert TOKEN not in str(kwargs)
    # One request before deferring: the submit's answer carries the first state.
    (body,) = emulator.calls("/sql/statements")
    tags = {tag["key"]: tag["value"] for tag in body.pop("query_tags")}
    assert body == {
        "statement": "SELECT 1",
        "warehouse_id": WH,
        "catalog": "main",
        "schema": "default",
        "wait_timeout": "0s",
    }
    assert tags == {
        "airflow_dag_id": "dag",
        "airflow_task_id": "task",
        "airflow_run_id": ti.run_id,
        "airflow_try_number": "1",
        "airflow_map_index": "-1",
    }
    assert DatabricksSQLStatementTrigger(**kwargs).serialize() == (classpath, kwargs)
    fire(trigger)  # let it end before the emulator stops


def test_the_trigger_event_resumes_the_task_which_succeeds(
    emulator: Emulated, logs: list[MutableMapping[str, Any]]
) -> None:
    store = FakeStateStore()
    op = sql_op(query_tags={"team": "data", "airflow_try_number": None}, include_airflow_query_tags=False)
    trigger = deferred(op, ctx(store=store))
    assert store.values  # kept for a retry while it runs
    payload = fire(trigger)
    assert payload["status"] == "success"
    assert [state for state, _ in payload["history"]] == ["PENDING", "SUCCEEDED"]
    op.execute_complete(ctx(store=store), payload)
    assert store.values == {}  # the statement ended: nothing left to re-attach to
    assert f"Databricks SQL statement {op.statement_id} succeeded (SUCCEEDED)" in messages(logs, "info")
    (body,) = emulator.calls("/sql/statements")
    assert body["query_tags"] == [{"key": "team", "value": "data"}]


def test_deferrable_false_waits_in_the_worker_with_the_same_trigger(emulator: Emulated) -> None:
    ti = FakeTI()
    op = sql_op(deferrable=False, parameters=[{"name": "n", "value": "41", "type": "INT"}])
    op.statement = "SELECT :n + 1"
    op.execute(ctx(ti))
    assert ti.pushed == [("statement_id", op.statement_id)]
    assert state_of(emulator, str(op.statement_id)) == "SUCCEEDED"
    (body,) = emulator.calls("/sql/statements")
    assert body["parameters"] == [{"name": "n", "value": "41", "type": "INT"}]


def test_failure_report_marks_the_failing_line_and_the_task_fails_in_one_line(
    emulator: Emulated, logs: list[MutableMapping[str, Any]]
) -> None:
    sql = "SELECT a,\n  b, c, FROM t"
    op = sql_op(statement=sql)
    trigger = deferred(op, ctx())
    statement = emulator.state.statements.statements[str(op.statement_id)]
    wait_for("the statement to fail", lambda: statement.state == "FAILED", interval=0.01)
    statement.result = ExecResult(error=DATABRICKS_ERROR, sql_state="42601")  # Databricks' own words
    payload = fire(trigger)
    with pytest.raises(DatabricksStatementFailedError) as raised:
        op.execute_complete(ctx(), payload)
    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        f"Databricks SQL statement {op.statement_id} on warehouse {WH} failed: FAILED: BAD_REQUEST: "
        "[PARSE_SYNTAX_ERROR] Syntax error at or near 'FROM'. SQLSTATE: 42601 (line 2, pos 8)"
    )
    report = messages(logs, "error")
    start = report.index(f"  statement id: {op.statement_id}")
    block = report[start:]
    assert f"  warehouse: {WH}" in block
    assert "  error_code: BAD_REQUEST" in block
    assert "  sql_state: 42601" in block
    sql_at = block.index("  SQL (line 2, pos 8 marked):")
    assert block[sql_at + 1 : sql_at + 4] == [
        "    |   1  SELECT a,",
        "    | > 2    b, c, FROM t",
        "    |              ^",
    ]
    assert block[-1].startswith("  states seen: PENDING (+0.0 s) -> ")
    assert block[-1].endswith("FAILED", 0, block[-1].rindex(" (+"))


def test_a_retry_reattaches_to_the_statement_still_running(
    emulator: Emulated, logs: list[MutableMapping[str, Any]]
) -> None:
    store = FakeStateStore()
    first = sql_op(statement=SLOW)
    deferred(first, ctx(FakeTI(try_number=1), store))
    (entry,) = store.values.values()
    key = derive_key(TOKEN)
    assert entry["token"] == make_token(TaskIdentity("dag", "task", "manual__2026-01-01", -1, key=key), 1)
    assert entry["statement_id"] == first.statement_id
    # The first try's worker was lost; the retry finds the statement still running.
    retry = sql_op(statement=SLOW)
    ti = FakeTI(try_number=2)
    trigger = deferred(retry, ctx(ti, store))
    assert retry.statement_id == first.statement_id == trigger.statement_id
    assert submissions(emulator) == 1
    assert ti.pushed == [("statement_id", first.statement_id)]
    assert any(
        m.startswith("Re-attached to the earlier try's Databricks SQL statement") for m in messages(logs)
    )
    retry.on_kill()  # leave nothing running
    wait_for("the cancel", lambda: state_of(emulator, str(first.statement_id)) == "CANCELED", interval=0.02)


def test_a_retry_submits_anew_when_the_earlier_statement_ended_or_the_sql_changed(emulator: Emulated) -> None:
    store = FakeStateStore()
    first = sql_op()
    first_trigger = deferred(first, ctx(store=store))
    payload = fire(first_trigger)  # ended, but the worker was lost before the task resumed
    assert payload["status"] == "success"
    second = sql_op()
    fire(deferred(second, ctx(FakeTI(try_number=2), store)))
    assert second.statement_id != first.statement_id
    third = sql_op(statement="SELECT 2")  # other SQL kept under the same task instance
    fire(deferred(third, ctx(FakeTI(try_number=3), store)))
    assert len({first.statement_id, second.statement_id, third.statement_id}) == 3
    assert submissions(emulator) == 3


@pytest.mark.parametrize(
    ("kwargs", "context"),
    [
        ({"durable": False}, {"task_state_store": FakeStateStore()}),
        ({"wait_for_termination": False}, {"task_state_store": FakeStateStore()}),
    ],
    ids=["durable-false", "no-wait"],
)
def test_nothing_is_kept_for_a_retry_when_not_durable_or_not_waiting(
    emulator: Emulated, kwargs: dict[str, Any], context: dict[str, Any]
) -> None:
    ti = FakeTI()
    op = sql_op(**kwargs)
    try:
        op.execute(cast("Any", {"ti": ti, **context}))
    except TaskDeferred as raised:
        fire(raised.trigger)
    assert context["task_state_store"].values == {}
    assert ti.pushed == [("statement_id", op.statement_id)]


def test_the_deadline_cancels_the_statement(emulator: Emulated) -> None:
    op = sql_op(statement=SLOW, timeout=0.3)
    trigger = deferred(op, ctx())
    payload = fire(trigger)
    assert payload["stopped"] == "deadline"
    wait_for("the cancel", lambda: state_of(emulator, str(op.statement_id)) == "CANCELED", interval=0.02)
    assert emulator.calls(f"/sql/statements/{op.statement_id}/cancel") == [{}]
    with pytest.raises(DatabricksStatementFailedError) as raised:
        op.execute_complete(ctx(), payload)
    assert str(raised.value) == (
        f"Databricks SQL statement {op.statement_id} on warehouse {WH} did not end in time: the deadline "
        "passed while the statement was RUNNING; the statement was cancelled (timeout=0.3 s)"
    )


def test_on_kill_cancels_the_statement_waited_for_in_the_worker(
    emulator: Emulated, logs: list[MutableMapping[str, Any]]
) -> None:
    op = sql_op(statement=SLOW, deferrable=False)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(ctx())
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    wait_for("the statement to run", lambda: op.statement_id and op._active, interval=0.01)
    wait_for("RUNNING", lambda: state_of(emulator, str(op.statement_id)) == "RUNNING", interval=0.01)
    op.on_kill()
    worker.join(30)
    assert state_of(emulator, str(op.statement_id)) == "CANCELED"
    (exc,) = failed
    assert isinstance(exc, DatabricksStatementFailedError)
    assert str(exc) == (
        f"Databricks SQL statement {op.statement_id} on warehouse {WH} was stopped, the task was killed; "
        "last state: CANCELED"
    )
    assert f"Cancelled Databricks SQL statement {op.statement_id}" in messages(logs, "info")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"statement": "  "}, "statement"),
        ({"statement": None}, "statement"),
        ({"warehouse_id": ""}, "warehouse_id"),
        ({"parameters": [{"name": "x", "value": True}]}, "parameters[0].value"),
        ({"query_tags": {"team": 3}}, "query_tags['team']"),
    ],
)
def test_bad_input_fails_in_one_line_naming_the_field_before_any_request(
    emulator: Emulated, kwargs: dict[str, Any], field: str
) -> None:
    op = sql_op(**kwargs)
    with pytest.raises(DatabricksConfigError) as raised:
        op.execute(ctx())
    assert raised.value.field == field
    assert "\n" not in str(raised.value)
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"polling_period_seconds": -1}, "polling_period_seconds"),
        ({"polling_period_seconds": "often"}, "polling_period_seconds"),
        ({"timeout": -1}, "timeout"),
        ({"databricks_retry_limit": 0}, "databricks_retry_limit"),
    ],
)
def test_bad_settings_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(DatabricksConfigError) as raised:
        sql_op(**kwargs)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("state", "error", "expected"),
    [
        ("SUCCEEDED", {}, None),
        ("CLOSED", {}, None),
        ("FAILED", {"error_code": "500", "error_message": "Something went wrong"}, "FAILED: 500: Something"),
        ("RUNNING", {"error_code": "TIMEOUT", "error_message": "timed out after 12"}, "did not end in time"),
    ],
)
def test_an_official_trigger_event_resumes_in_ours(
    state: str, error: dict[str, str], expected: str | None
) -> None:
    # The official trigger's payload: ``SQLStatementState(state).to_json()``, written out so that this
    # runs where the official provider is not installed (the lowest leg).
    official_state = json.dumps({"state": state, "error_code": "", "error_message": ""})
    event = {"statement_id": "01ef", "state": official_state, "error": error}
    op = sql_op()
    if expected is None:
        op.execute_complete(None, event)
    else:
        with pytest.raises(DatabricksStatementFailedError, match=expected):
            op.execute_complete(None, event)
    assert op.statement_id == "01ef"


def test_a_malformed_event_fails_in_one_line() -> None:
    with pytest.raises(DatabricksStatementFailedError, match="Malformed event"):
        sql_op().execute_complete(None, {"status": "maybe"})


def test_before_airflow_3_3_the_statement_id_is_kept_in_a_variable(
    emulator: Emulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import Variable

    variables: dict[str, str] = {}
    monkeypatch.setattr(Variable, "get", staticmethod(lambda key, default=None: variables.get(key, default)))
    monkeypatch.setattr(
        Variable, "set", staticmethod(lambda key, value, **_: variables.__setitem__(key, value))
    )
    monkeypatch.setattr(Variable, "delete", staticmethod(lambda key: variables.pop(key, None)))
    first = sql_op(statement=SLOW)
    deferred(first, {"ti": FakeTI()})  # no task_state_store: an Airflow before 3.3
    ((key, value),) = variables.items()
    token = make_token(TaskIdentity("dag", "task", "manual__2026-01-01", -1, key=derive_key(TOKEN)), 1)
    assert key == f"databricks_async.sql_statement.{token}"
    assert json.loads(value)["statement_id"] == first.statement_id
    retry = sql_op(statement=SLOW)
    trigger = deferred(retry, {"ti": FakeTI(try_number=2)})
    assert retry.statement_id == first.statement_id
    assert submissions(emulator) == 1
    retry.on_kill()
    payload = fire(trigger)
    with pytest.raises(DatabricksStatementFailedError):
        retry.execute_complete(cast("Any", {"ti": FakeTI(try_number=2)}), payload)
    assert variables == {}
