"""Re-attach or new run: one test per row of the table in docs/reliability.md, on the emulator.

Every try runs the operator's real ``execute`` (submit, probe, re-attach decision), the trigger built
from its serialized kwargs and ``execute_complete``. Cancelled runs stay TERMINATING for
``cancel_grace_seconds``: a try that re-attached to one would fail CANCELED; a try that starts the next
run waits for the stopping one to end first.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from airflow_dbx_async.client import ConfigurationError
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.operators import DatabricksRunNowOperator, DatabricksSubmitRunOperator
from airflow_dbx_async.operators._idempotency import (
    Decision,
    TaskIdentity,
    derive_key,
    make_token,
    reattach_decision,
)
from tests.helpers import hold_runs_until_looked_at
from tests.reliability.conftest import CONN_ID, SECRET, run_try, set_connection

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

JOB = 4242
NB = {"notebook_path": "/Shared/reattach"}
DEFERRABLE = pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "in-worker"])


@pytest_asyncio.fixture
async def emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig(simulate=True, sim_duration_seconds=0.2, tokens=(SECRET,), cancel_grace_seconds=2)
    async with EmulatorServer(config) as server:
        task = {"task_key": "nb", "notebook_task": NB}
        body = {"name": "reattach", "tasks": [task], "max_concurrent_runs": 10}
        server.state.create_job(body, job_id=JOB)
        set_connection(monkeypatch, server.url)
        yield server


def _run_now(task_id: str = "run_now", **kwargs: Any) -> DatabricksRunNowOperator:
    params: dict[str, Any] = {"polling_period_seconds": 0.05, "databricks_retry_delay": 0, **kwargs}
    return DatabricksRunNowOperator(task_id=task_id, databricks_conn_id=CONN_ID, job_id=JOB, **params)


def _submit(task_id: str = "submit", **kwargs: Any) -> DatabricksSubmitRunOperator:
    params: dict[str, Any] = {
        "polling_period_seconds": 0.05,
        "databricks_retry_delay": 0,
        "notebook_task": NB,
    }
    return DatabricksSubmitRunOperator(task_id=task_id, databricks_conn_id=CONN_ID, **{**params, **kwargs})


def _ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def _statuses(result: Any) -> list[str]:
    return [event["status"] for event in result.events]


# -- retry after the worker was lost: re-attach -------------------------------------------------------


@pytest.mark.asyncio
@DEFERRABLE
async def test_retry_after_a_lost_worker_reattaches(emulator: EmulatorServer, deferrable: bool) -> None:
    hold_runs_until_looked_at(emulator.state)
    long = {"sim_duration_seconds": "1"}
    lost = await run_try(_run_now(notebook_params=long, wait_for_termination=False))
    assert lost.errors == []
    (run_id,) = emulator.state.runs
    retry = await run_try(_run_now(notebook_params=long, deferrable=deferrable), try_number=2)
    assert retry.errors == []
    assert list(emulator.state.runs) == [run_id]
    if deferrable:
        assert retry.trigger_kwargs is not None
        assert retry.trigger_kwargs["run_id"] == run_id


# -- retry after a failure: new run ----------------------------------------------------------------


@pytest.mark.asyncio
@DEFERRABLE
async def test_retry_after_a_failure_starts_a_new_run(emulator: EmulatorServer, deferrable: bool) -> None:
    failing = {"sim_result": "FAILED", "sim_error": "ValueError: planned"}
    first = await run_try(_run_now(notebook_params=failing, deferrable=deferrable), start_date=_ago(5))
    assert len(first.errors) == 1
    retry = await run_try(_run_now(notebook_params=failing, deferrable=deferrable), try_number=2)
    assert len(retry.errors) == 1
    assert "ValueError: planned" in str(retry.errors[0])
    assert len(emulator.state.runs) == 2


# -- retry after a deadline cancel: new run (issue 28, reproduction 2) ------------------------------


@pytest.mark.asyncio
@DEFERRABLE
async def test_retry_after_a_deadline_cancel_starts_a_new_run(
    emulator: EmulatorServer, deferrable: bool
) -> None:
    slow = {"sim_duration_seconds": "1"}
    timeout = timedelta(seconds=5)
    # Try 1 started 10 s ago: its deadline has passed, so its trigger cancels the run at once.
    first = await run_try(
        _run_now(notebook_params=slow, execution_timeout=timeout, deferrable=deferrable), start_date=_ago(10)
    )
    assert len(first.errors) == 1
    (cancelled,) = emulator.state.runs.values()
    assert cancelled.cancel_requested
    retry = await run_try(
        _run_now(notebook_params=slow, execution_timeout=timeout, deferrable=deferrable), try_number=2
    )
    assert retry.errors == []  # never re-attached to the run try 1 cancelled (still TERMINATING)
    assert len(emulator.state.runs) == 2


# -- retry with cancel_previous_runs: new run (issue 28, reproduction 2) ------------------------------


@pytest.mark.asyncio
@DEFERRABLE
async def test_retry_with_cancel_previous_runs_starts_a_new_run(
    emulator: EmulatorServer, deferrable: bool
) -> None:
    lost = await run_try(_run_now(cancel_previous_runs=True, wait_for_termination=False), start_date=_ago(5))
    assert lost.errors == []
    retry = await run_try(_run_now(cancel_previous_runs=True, deferrable=deferrable), try_number=2)
    assert retry.errors == []  # its own cancel-all stopped try 1's run: not re-attached
    assert len(emulator.state.runs) == 2
    assert sum(run.cancel_requested for run in emulator.state.runs.values()) == 1


# -- clear of a finished task or DAG run: new run (issue 28, reproduction 1) ------------------------


@pytest.mark.asyncio
@DEFERRABLE
async def test_clear_of_a_finished_task_starts_a_new_run(emulator: EmulatorServer, deferrable: bool) -> None:
    first = await run_try(_run_now(deferrable=deferrable), start_date=_ago(5))
    assert first.errors == []
    cleared = await run_try(_run_now(deferrable=deferrable), clear_number=1, try_number=2)
    assert cleared.errors == []
    assert len(emulator.state.runs) == 2
    tokens = {run.idempotency_token for run in emulator.state.runs.values()}
    assert len(tokens) == 2


@pytest.mark.asyncio
async def test_a_retry_after_a_clear_keeps_the_cleared_run(emulator: EmulatorServer) -> None:
    long = {"sim_duration_seconds": "1"}
    await run_try(_run_now(notebook_params=long, wait_for_termination=False), clear_number=3)
    retry = await run_try(_run_now(notebook_params=long), clear_number=3, try_number=2)
    assert retry.errors == []
    assert len(emulator.state.runs) == 1


# -- mapped instances: a run each --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mapped_instances_start_a_run_each(emulator: EmulatorServer) -> None:
    results = [await run_try(_submit(), map_index=index) for index in (0, 1, 2)]
    assert [r.errors for r in results] == [[], [], []]
    assert len(emulator.state.runs) == 3


# -- a user token shared by several tasks: fails loudly (issue 28, reproduction 3) ---------------------


@pytest.mark.asyncio
async def test_a_user_token_shared_by_two_run_now_tasks_of_one_job_fails_the_second(
    emulator: EmulatorServer,
) -> None:
    long = {"sim_duration_seconds": "1"}
    r1 = await run_try(
        _run_now(
            "r1",
            idempotency_token="shared",
            notebook_params={**long, "table": "a"},
            wait_for_termination=False,
        )
    )
    assert r1.errors == []
    (run_id,) = emulator.state.runs
    r2 = await run_try(_run_now("r2", idempotency_token="shared", notebook_params={**long, "table": "b"}))
    (error,) = r2.errors
    assert isinstance(error, ConfigurationError)
    assert error.field == "idempotency_token"
    assert f"already belongs to Databricks run {run_id} (its notebook_params differ" in str(error)
    assert r2.ti.pushed == []  # nothing of r1's run reaches r2's XComs


@pytest.mark.asyncio
async def test_a_submit_token_shared_with_another_body_fails(emulator: EmulatorServer) -> None:
    first = await run_try(_submit("same", idempotency_token="tok", wait_for_termination=False))
    assert first.errors == []
    other = {"notebook_path": "/Shared/other"}
    second = await run_try(_submit("same", idempotency_token="tok", notebook_task=other))
    (error,) = second.errors
    assert "has another notebook_task than the one sent" in str(error)


# -- derived tokens (issue 23): keyed, and checked like user tokens --------------------------------


@pytest.mark.asyncio
async def test_a_derived_token_claimed_in_advance_fails_the_task(emulator: EmulatorServer) -> None:
    """Another user computes the old, unkeyed token and claims it: the keyed token is not that one.

    Even with the key known (a leaked credential), the run they started does not match what the task
    sends, and the task fails instead of pushing that run's output to XCom.
    """
    identity = TaskIdentity("reliability", "run_now", "manual__reliability")
    unkeyed = make_token(identity, 1)
    keyed = make_token(replace(identity, key=derive_key(SECRET)), 1)
    assert unkeyed != keyed
    emulator.state.run_now({"job_id": JOB, "idempotency_token": unkeyed, "notebook_params": {"evil": "1"}})
    emulator.state.run_now({"job_id": JOB, "idempotency_token": keyed, "notebook_params": {"evil": "1"}})
    result = await run_try(_run_now(notebook_params={"table": "a"}))
    (error,) = result.errors
    assert "its notebook_params differ from the ones sent" in str(error)
    assert result.ti.pushed == []


@pytest.mark.asyncio
async def test_a_configured_key_replaces_the_credential(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__DATABRICKS_ASYNC__IDEMPOTENCY_KEY", "deployment-key")
    result = await run_try(_submit())
    assert result.errors == []
    (run,) = emulator.state.runs.values()
    identity = TaskIdentity("reliability", "submit", "manual__reliability", key=derive_key("deployment-key"))
    assert run.idempotency_token == make_token(identity, 1)


# -- the decision itself -------------------------------------------------------------------------------


def _run_json(life_cycle: str, result: str | None = None, start: int = 1_000, **extra: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"life_cycle_state": life_cycle}
    if result:
        state["result_state"] = result
    return {"run_id": 7, "job_id": JOB, "start_time": start, "state": state, **extra}


@pytest.mark.parametrize(
    ("life_cycle", "result", "start", "decision"),
    [
        ("RUNNING", None, 500, Decision.REATTACH),  # worker lost
        ("PENDING", None, 500, Decision.REATTACH),
        ("TERMINATING", None, 500, Decision.NEW_RUN),  # cancelled by an earlier try, stopping
        ("TERMINATED", "CANCELED", 500, Decision.NEW_RUN),
        ("TERMINATED", "FAILED", 500, Decision.NEW_RUN),
        ("TERMINATED", "SUCCESS", 500, Decision.NEW_RUN),
        ("TERMINATED", "FAILED", 2_000, Decision.WATCH),  # this try's own run
        ("RUNNING", None, 2_000, Decision.WATCH),
    ],
)
def test_reattach_decision_table(life_cycle: str, result: str | None, start: int, decision: Decision) -> None:
    run = _run_json(life_cycle, result, start)
    verdict = reattach_decision(run, {"job_id": JOB}, try_started_ms=1_000, user_token=False)
    assert verdict.decision is decision


def test_a_user_token_never_moves_to_a_new_run() -> None:
    run = _run_json("TERMINATING", start=500)
    verdict = reattach_decision(run, {"job_id": JOB}, try_started_ms=1_000, user_token=True)
    assert verdict.decision is Decision.COLLISION
    assert "stopping" in verdict.why


def test_a_run_cancelled_while_still_running_is_not_reattached() -> None:
    run = _run_json("RUNNING", start=500)
    run["state"]["user_cancelled_or_timedout"] = True
    verdict = reattach_decision(run, {"job_id": JOB}, try_started_ms=1_000, user_token=False)
    assert verdict.decision is Decision.NEW_RUN


def test_parameters_are_compared_as_databricks_stores_them() -> None:
    run = _run_json(
        "RUNNING", start=500, overriding_parameters={"notebook_params": {"flag": "true", "n": "1"}}
    )
    same = {"job_id": JOB, "notebook_params": {"flag": True, "n": 1}}
    assert reattach_decision(run, same, try_started_ms=1_000, user_token=True).decision is Decision.REATTACH
    other = {"job_id": JOB, "notebook_params": {"flag": False, "n": 1}}
    assert reattach_decision(run, other, try_started_ms=1_000, user_token=True).decision is Decision.COLLISION


def test_the_clear_number_is_part_of_the_token() -> None:
    base = TaskIdentity("d", "t", "r")
    assert make_token(base, 1) != make_token(replace(base, clear_number=1), 1)
