"""The deferrable operators: submit, XComs, defer, fast path, resume, idempotency, cancellation."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_dbx_async.client import RunState
from airflow_dbx_async.operators import (
    DatabricksRunFailedError,
    DatabricksRunNowDeferrableOperator,
    DatabricksRunNowOperator,
    DatabricksSubmitRunDeferrableOperator,
    DatabricksSubmitRunOperator,
)
from airflow_dbx_async.operators._idempotency import TaskIdentity, derive_key, make_token
from airflow_dbx_async.outcome._events import RunEvent
from airflow_dbx_async.outcome._failure_details import FailedTask
from airflow_dbx_async.triggers import DatabricksRunTrigger
from tests.compat import TaskDeferred
from tests.fake_databricks import TOKEN, FakeDatabricks, state
from tests.fixtures import CLUSTER as EXISTING_CLUSTER
from tests.helpers import CONN_ID, FakeTI, context, messages

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from tests.fixtures import Emulated

NOTEBOOK = {"notebook_path": "/Users/airflow@example.com/Quickstart_Notebook"}
CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}


def submit_op(**kwargs: Any) -> DatabricksSubmitRunDeferrableOperator:
    params: dict[str, Any] = {
        "task_id": "task",
        "databricks_conn_id": CONN_ID,
        "new_cluster": CLUSTER,
        "notebook_task": NOTEBOOK,
        "databricks_retry_delay": 0,
    }
    params.update(kwargs)
    return DatabricksSubmitRunDeferrableOperator(**params)


def ending_at_once(result: str = "SUCCESS", error: str | None = None) -> dict[str, Any]:
    """A notebook task the emulator ends at once, with ``result`` (and ``error``, when it fails)."""
    sim: dict[str, Any] = {"sim_duration_seconds": "0", "sim_result": result}
    if error is not None:
        sim["sim_error"] = error
    return {"notebook_task": NOTEBOOK | {"base_parameters": sim}}


def runs(emulator: Emulated) -> list[dict[str, Any]]:
    """The runs of the emulated workspace, as its admin listing shows them."""
    listed: list[dict[str, Any]] = emulator.admin("runs")["runs"]
    return listed


def test_aliases_are_the_deferrable_operators() -> None:
    assert DatabricksSubmitRunOperator is DatabricksSubmitRunDeferrableOperator
    assert DatabricksRunNowOperator is DatabricksRunNowDeferrableOperator
    assert submit_op().operator_extra_links[0].name == "See Databricks Job Run"


def test_execute_defers_with_trigger_kwargs_and_pushes_xcoms(emulator: Emulated) -> None:
    ti = FakeTI()
    op = submit_op(polling_period_seconds=7, execution_timeout=timedelta(hours=1))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context(ti))
    (run,) = runs(emulator)
    workspace_id = emulator.handle.server.config.workspace_id
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow_dbx_async.triggers.DatabricksRunTrigger"
    assert deferred.value.method_name == "execute_complete"
    expected_deadline = ti.start_date.timestamp() + 3600
    assert kwargs["deadline"] == pytest.approx(expected_deadline)
    assert kwargs | {"deadline": None} == {
        "run_id": run["run_id"],
        "databricks_conn_id": CONN_ID,
        "polling_period_seconds": 7,
        "retry_limit": 3,
        "retry_delay": 0,
        "run_page_url": f"{emulator.url}/?o={workspace_id}#job/{run['job_id']}/run/{run['run_id']}",
        "deadline": None,
        "cancel_on_kill": True,
        "api_version": "2.2",
    }
    assert 3600 < deferred.value.timeout.total_seconds() <= 3600 + 150
    assert ti.pushed == [
        ("job_id", run["job_id"]),
        ("run_id", run["run_id"]),
        ("run_page_url", kwargs["run_page_url"]),
    ]
    assert [p for _, p, _ in emulator.requests] == ["/api/2.2/jobs/runs/submit", "/api/2.2/jobs/runs/get"]
    (body,) = emulator.calls("runs/submit")
    assert body["run_name"] == "task"
    assert body["notebook_task"] == NOTEBOOK
    assert body["new_cluster"]["num_workers"] == "1"
    assert body["idempotency_token"] == make_token(
        TaskIdentity("dag", "task", ti.run_id, -1, key=derive_key(TOKEN)), 1
    )
    assert TOKEN not in repr(deferred.value.trigger)
    assert TOKEN not in str(kwargs)


def test_no_xcoms_when_do_xcom_push_is_false(emulator: Emulated) -> None:
    ti = FakeTI()
    with pytest.raises(TaskDeferred) as deferred:
        submit_op(do_xcom_push=False).execute(context(ti))
    assert ti.pushed == []
    assert deferred.value.timeout is None
    assert deferred.value.trigger.serialize()[1]["deadline"] is None


def test_wait_for_termination_false_returns_after_submit(emulator: Emulated) -> None:
    ti = FakeTI()
    submit_op(wait_for_termination=False).execute(context(ti))
    assert [k for k, _ in ti.pushed] == ["job_id", "run_id", "run_page_url"]
    assert len(emulator.requests) == 2
    assert emulator.admin("stats")["requests_total"] == 2


def test_fast_path_success_completes_without_deferring(
    emulator: Emulated, logs: list[MutableMapping[str, Any]]
) -> None:
    submit_op(**ending_at_once()).execute(context())
    assert any("succeeded" in m for m in messages(logs, "info"))
    assert any(emulator.url in m for m in messages(logs, "info"))


def test_fast_path_failure_uses_the_failure_report(
    emulator: Emulated, logs: list[MutableMapping[str, Any]]
) -> None:
    task = {
        "task_key": "nb",
        "existing_cluster_id": EXISTING_CLUSTER,
        **ending_at_once("FAILED", "ValueError: bad input"),
    }
    with pytest.raises(DatabricksRunFailedError) as failed:
        submit_op(tasks=[task], new_cluster=None, notebook_task=None).execute(context())
    message = str(failed.value)
    assert "\n" not in message
    assert "task nb: ValueError: bad input" in message
    assert "See http" in message
    assert any("Traceback (most recent call last)" in m for m in messages(logs, "error"))
    assert len(emulator.calls("get-output")) == 1


def _failed_event(fake: FakeDatabricks | None = None, **overrides: Any) -> dict[str, Any]:
    """A failed run's event; its tasks' outputs are on ``fake``, for the worker to fetch."""
    failed = RunState.from_api(state("TERMINATED", "FAILED", "Workload failed"))
    tasks = tuple(FailedTask(f"t{i}", 100 + i, f"http://dbx/run/{100 + i}", failed) for i in range(2))
    for i in range(2 if fake is not None else 0):
        assert fake is not None
        fake.outputs[100 + i] = {
            "error": f"ValueError: bad input {i}",
            "error_trace": f"Traceback (most recent call last):\n  frame {i}\nValueError: bad input {i}",
            "notebook_output": {"result": f"result {i}"},
            "logs": f"stdout of task {i}\n",
        }
    event = RunEvent(
        status="failed",
        run_id=123,
        run_page_url="http://dbx/?o=1#job/1/run/123",
        state=failed,
        reason="TERMINATED/FAILED: Workload failed",
        failed_tasks=tasks,
        failed_total=2,
    )
    return event.to_payload() | overrides


def test_execute_complete_success_logs_and_returns(logs: list[MutableMapping[str, Any]]) -> None:
    success = RunState.from_api(state("TERMINATED", "SUCCESS")).to_payload()
    payload = _failed_event(status="success", failed_tasks=[], reason="TERMINATED/SUCCESS", run_state=success)
    submit_op().execute_complete(context(), payload)
    assert any("123" in m and "succeeded" in m for m in messages(logs, "info"))


def test_execute_complete_judges_the_state_not_the_status() -> None:
    with pytest.raises(DatabricksRunFailedError, match="Malformed event"):
        submit_op().execute_complete(context(), _failed_event(status="success", failed_tasks=[]))


def test_execute_complete_fetches_the_outputs_and_raises_one_line(
    fake: FakeDatabricks, thread_server: str, logs: list[MutableMapping[str, Any]]
) -> None:
    """On the scripted fake: each failed task's output carries an error, a trace, a notebook result and
    logs at once. A workspace (and the emulator) answers a failed notebook without its result and
    without logs, so only the fake can show that the report logs all four.
    """
    op = submit_op()
    with pytest.raises(DatabricksRunFailedError) as failed:
        op.execute_complete(context(), _failed_event(fake))
    assert isinstance(failed.value, AirflowException)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("Databricks run 123 failed (TERMINATED/FAILED): task t0")
    assert "task t0: ValueError: bad input 0" in message
    assert "See http://dbx/?o=1#job/1/run/123" in message
    logged = "\n".join(messages(logs, "error"))
    for i in range(2):
        for piece in (
            f"bad input {i}",
            f"frame {i}",
            f"result {i}",
            f"stdout of task {i}",
            f"http://dbx/run/{100 + i}",
        ):
            assert piece in logged
    assert [body["run_id"] for body in fake.calls("get-output")] == ["100", "101"]
    assert op.run_id == 123


def test_execute_complete_still_reports_when_outputs_cannot_be_fetched(
    logs: list[MutableMapping[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)
    with pytest.raises(DatabricksRunFailedError, match="task t0: Workload failed"):
        submit_op().execute_complete(context(), _failed_event())
    logged = "\n".join(messages(logs, "error"))
    assert "[1/2] task 't0' (task run 100): Workload failed" in logged
    assert "could not fetch the task output" in logged


def test_execute_complete_error_event_raises(logs: list[MutableMapping[str, Any]]) -> None:
    payload = RunEvent(status="error", run_id=9, reason="AuthError: Databricks API error 403").to_payload()
    with pytest.raises(DatabricksRunFailedError, match="Could not watch Databricks run 9: AuthError"):
        submit_op().execute_complete(context(), payload)


def test_execute_complete_rejects_a_malformed_event() -> None:
    with pytest.raises(DatabricksRunFailedError, match="Malformed event"):
        submit_op().execute_complete(context(), {"status": "weird"})


def test_retried_try_reattaches_to_the_active_run(
    emulator: Emulated, logs: list[MutableMapping[str, Any]]
) -> None:
    first = FakeTI()
    with pytest.raises(TaskDeferred):
        submit_op().execute(context(first))
    emulator.advance(120)  # the first try's run is RUNNING now
    later = FakeTI(try_number=2, start_date=first.start_date + timedelta(seconds=30))
    with pytest.raises(TaskDeferred) as deferred:
        submit_op().execute(context(later))
    (run,) = runs(emulator)
    assert run["life_cycle_state"] == "RUNNING"
    assert deferred.value.trigger.serialize()[1]["run_id"] == run["run_id"]
    assert any("Re-attached" in m for m in messages(logs, "info"))


def test_finished_run_of_an_earlier_try_moves_to_the_next_slot(emulator: Emulated) -> None:
    ti = FakeTI(try_number=2)
    identity = TaskIdentity(ti.dag_id, ti.task_id, ti.run_id, -1, key=derive_key(TOKEN))
    emulator.advance(-60)  # the first try submitted its run a minute before this try started
    old_run_id = emulator.state.submit(
        {
            "run_name": "task",
            "existing_cluster_id": EXISTING_CLUSTER,
            "idempotency_token": make_token(identity, 1),
            **ending_at_once("FAILED"),
        }
    )
    emulator.advance(60)
    with pytest.raises(TaskDeferred) as deferred:
        submit_op().execute(context(ti))
    tokens = [body["idempotency_token"] for body in emulator.calls("runs/submit")]
    assert tokens == [make_token(identity, 1), make_token(identity, 2)]
    new_run_id = deferred.value.trigger.serialize()[1]["run_id"]
    assert new_run_id != old_run_id
    assert len(runs(emulator)) == 2


def test_user_idempotency_token_is_sent_as_is(emulator: Emulated) -> None:
    with pytest.raises(TaskDeferred):
        submit_op(idempotency_token="my-token").execute(context())
    assert [b["idempotency_token"] for b in emulator.calls("runs/submit")] == ["my-token"]


def test_on_kill_cancels_a_run_submitted_in_this_process(emulator: Emulated) -> None:
    op = submit_op()
    op.on_kill()
    assert emulator.requests == []
    with pytest.raises(TaskDeferred):
        op.execute(context())
    op.on_kill()
    assert op.run_id is not None
    assert [body["run_id"] for body in emulator.calls("runs/cancel")] == [op.run_id]
    assert emulator.run_state(op.run_id) == ("TERMINATED", "CANCELED")


def test_on_kill_leaves_the_run_when_cancel_on_kill_is_false(emulator: Emulated) -> None:
    op = submit_op(cancel_on_kill=False)
    with pytest.raises(TaskDeferred):
        op.execute(context())
    op.on_kill()
    assert op.run_id is not None
    assert emulator.calls("runs/cancel") == []
    assert emulator.requests_to("POST /api/2.2/jobs/runs/cancel") == 0
    assert emulator.run_state(op.run_id)[1] is None


def test_run_now_resolves_job_name(emulator: Emulated) -> None:
    task = {"task_key": "nb", "existing_cluster_id": EXISTING_CLUSTER, "notebook_task": NOTEBOOK}
    emulator.state.create_job({"name": "nightly", "tasks": [task]}, job_id=5)
    op = DatabricksRunNowDeferrableOperator(
        task_id="run_now",
        databricks_conn_id=CONN_ID,
        job_name="nightly",
        notebook_params={"Variable": 5},
    )
    with pytest.raises(TaskDeferred):
        op.execute(context())
    (body,) = emulator.calls("run-now")
    assert body["job_id"] == 5
    assert "job_name" not in body
    assert body["notebook_params"] == {"Variable": "5"}
    assert body["idempotency_token"].startswith("airflow-")


def test_secret_never_reaches_logs(emulator: Emulated, logs: list[MutableMapping[str, Any]]) -> None:
    with pytest.raises(DatabricksRunFailedError) as failed:
        submit_op(**ending_at_once("FAILED")).execute(context())
    assert TOKEN not in str(failed.value)
    assert all(TOKEN not in str(event) for event in logs)


def test_trigger_built_by_operator_round_trips() -> None:
    trigger = DatabricksRunTrigger(run_id=1, deadline=time.time())
    assert DatabricksRunTrigger(**trigger.serialize()[1]).serialize() == trigger.serialize()
