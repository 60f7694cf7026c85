"""A trigger holds its event until it has run ``[databricks_async] event_hold_seconds``.

Airflow 3.1 to 3.3 fail a resumed task whose trigger fired before the scheduler processed the exit
of the worker that deferred it (apache/airflow#67287, #72716): a run that ends seconds after the
deferral must not fire at once. The rest of the suite sets the hold to 0 (its triggers run in-process,
with no scheduler to race); these tests set it themselves.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.operators import DatabricksRunNowOperator, DatabricksSubmitRunOperator
from airflow_dbx_async.outcome import RunEvent
from airflow_dbx_async.triggers import DEFAULT_EVENT_HOLD_SECONDS, DatabricksRunTrigger, event_hold_seconds
from tests.helpers import CONN_ID, FakeTI, hold_runs_until_looked_at
from tests.reliability.conftest import run_try
from tests.triggers.test_sql_triggers import first, statement_trigger, submit

if TYPE_CHECKING:
    from tests.fixtures import Emulated

HOLD = "AIRFLOW__DATABRICKS_ASYNC__EVENT_HOLD_SECONDS"
QUICK_TASK = {"task_key": "t", "notebook_task": {"notebook_path": "/x"}, "sim_duration_seconds": 0}


def _quick_run(emulator: Emulated) -> int:
    run_id: int = emulator.handle.server.state.submit({"run_name": "quick", "tasks": [QUICK_TASK]})
    return run_id


def _trigger(run_id: int, **kwargs: Any) -> DatabricksRunTrigger:
    return DatabricksRunTrigger(
        run_id=run_id, databricks_conn_id=CONN_ID, polling_period_seconds=0.01, retry_delay=0.0, **kwargs
    )


def test_the_default_is_ten_seconds_and_a_negative_setting_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HOLD)
    assert event_hold_seconds() == DEFAULT_EVENT_HOLD_SECONDS == 10.0
    monkeypatch.setenv(HOLD, "-3")
    assert event_hold_seconds() == 0.0


@pytest.mark.asyncio
async def test_a_run_that_ends_at_once_fires_only_after_the_hold(
    emulator: Emulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOLD, "1.5")
    began = time.monotonic()
    (event,) = [RunEvent.from_payload(e.payload) async for e in _trigger(_quick_run(emulator)).run()]
    assert event.status == "success"
    assert time.monotonic() - began >= 1.5


@pytest.mark.asyncio
async def test_a_statement_trigger_holds_its_event_too(
    emulator: Emulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOLD, "1.5")
    statement_id = await submit(emulator, "SELECT 1")
    began = time.monotonic()
    event = await first(statement_trigger(statement_id))
    assert event["status"] == "success"
    assert time.monotonic() - began >= 1.5


@pytest.mark.asyncio
async def test_the_hold_ends_at_the_deadline(emulator: Emulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that ended before the deadline is reported as it ended, never held into a deferral timeout."""
    monkeypatch.setenv(HOLD, "600")
    deadline = time.time() + 1.0
    events = [
        RunEvent.from_payload(e.payload)
        async for e in _trigger(_quick_run(emulator), deadline=deadline).run()
    ]
    assert [event.status for event in events] == ["success"]
    assert time.time() < deadline + 5  # released at the deadline, not after the hold's 600 s


def test_a_worker_waiting_itself_never_holds(emulator: Emulated, monkeypatch: pytest.MonkeyPatch) -> None:
    """deferrable=False: nothing to race, so a 600 s hold does not delay the task."""
    monkeypatch.setenv(HOLD, "600")
    hold_runs_until_looked_at(emulator.handle.server.state)  # the worker's first look sees it running
    operator = DatabricksSubmitRunOperator(
        task_id="in_worker",
        databricks_conn_id=CONN_ID,
        tasks=[{**QUICK_TASK, "sim_duration_seconds": 0.2}],
        polling_period_seconds=0.01,
        deferrable=False,
    )
    began = time.monotonic()
    operator.execute({"ti": FakeTI(task_id="in_worker")})  # type: ignore[typeddict-item]
    assert time.monotonic() - began < 60


@pytest.mark.asyncio
async def test_a_run_that_failed_during_a_hold_up_to_the_deadline_is_not_repaired(
    emulator: Emulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deadline + repair_run + the hold: the failed run's event comes at the deadline, and the task
    resuming after it fails on that run instead of repairing one that would be cancelled at once."""
    monkeypatch.setenv(HOLD, "600")
    hold_runs_until_looked_at(emulator.handle.server.state)
    failing = {**QUICK_TASK, "sim_duration_seconds": 0.2, "sim_error": "ValueError: boom"}
    job_id = emulator.handle.server.state.create_job({"name": "fails", "tasks": [failing]})
    operator = DatabricksRunNowOperator(
        task_id="repairs",
        databricks_conn_id=CONN_ID,
        job_id=job_id,
        polling_period_seconds=0.01,
        repair_run=True,
        execution_timeout=timedelta(seconds=2),
    )
    result = await run_try(operator)
    assert result.trigger_kwargs is not None  # it deferred, and its trigger held the event
    assert [event["status"] for event in result.events] == ["failed"]
    assert [str(error) for error in result.errors] == [str(result.errors[0])]
    assert "ValueError: boom" in str(result.errors[0])
    assert not [r for r in emulator.requests if r[1].endswith("/jobs/runs/repair")]
