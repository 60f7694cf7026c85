"""DatabricksRunTrigger against a scripted fake workspace."""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async._events import RunEvent
from airflow_dbx_async.triggers import TRIGGER_CLASSPATH, DatabricksRunTrigger, poll_delays
from tests.airflow.conftest import CONN_ID, messages
from tests.airflow.fake_databricks import TOKEN, FakeDatabricks, state

if TYPE_CHECKING:
    from collections.abc import MutableMapping


def make_trigger(run_id: int, **kwargs: Any) -> DatabricksRunTrigger:
    params: dict[str, Any] = {
        "run_id": run_id,
        "databricks_conn_id": CONN_ID,
        "polling_period_seconds": 0.01,
        "retry_limit": 1,
        "retry_delay": 0.0,
        "run_page_url": "http://example/run",
    }
    params.update(kwargs)
    return DatabricksRunTrigger(**params)


async def collect(trigger: DatabricksRunTrigger) -> list[RunEvent]:
    return [RunEvent.from_payload(e.payload) async for e in trigger.run()]


def test_serialize_round_trip() -> None:
    trigger = make_trigger(42, deadline=1234.5, cancel_on_kill=False, api_version="2.1")
    classpath, kwargs = trigger.serialize()
    assert classpath == TRIGGER_CLASSPATH == "airflow_dbx_async.triggers.DatabricksRunTrigger"
    rebuilt = DatabricksRunTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert all(isinstance(v, str | int | float | bool | type(None)) for v in kwargs.values())
    assert TOKEN not in repr(trigger)
    assert TOKEN not in str(kwargs)


def test_poll_delays_start_quick_and_never_exceed_period() -> None:
    delays = poll_delays(10, random.Random(7))
    first = [next(delays) for _ in range(8)]
    assert 0.9 <= first[0] <= 1.0
    assert 2.7 <= first[1] <= 3.0
    assert 8.1 <= first[2] <= 9.0
    assert all(d <= 10 for d in first)
    assert first[-1] >= 9.0


@pytest.mark.asyncio
async def test_success_yields_one_event_and_logs_state_changes_only(
    fake: FakeDatabricks, async_server: str, logs: list[MutableMapping[str, Any]]
) -> None:
    run = fake.add_run(
        [state("PENDING", message="Waiting"), state("PENDING", message="Waiting"), state("RUNNING")]
        + [state("RUNNING")] * 2
        + [state("TERMINATED", "SUCCESS")]
    )
    events = await collect(make_trigger(run.run_id))
    assert len(events) == 1
    assert events[0].status == "success"
    assert events[0].run_id == run.run_id
    assert events[0].run_state["result_state"] == "SUCCESS"
    assert f"#job/777/run/{run.run_id}" in events[0].run_page_url
    info = messages(logs, "info")
    assert len(info) == 3, info
    assert "PENDING" in info[0]
    assert "RUNNING" in info[1]
    assert "SUCCESS" in info[2]
    assert len(fake.calls("runs/get")) == 6


@pytest.mark.asyncio
async def test_failed_multi_task_run_carries_every_task_detail(
    fake: FakeDatabricks, async_server: str, logs: list[MutableMapping[str, Any]]
) -> None:
    tasks = [
        {
            "run_id": 11,
            "task_key": "ingest",
            "attempt_number": 0,
            "state": state("TERMINATED", "FAILED", "boom"),
        },
        {
            "run_id": 12,
            "task_key": "ingest",
            "attempt_number": 1,
            "state": state("TERMINATED", "FAILED", "again"),
        },
        {"run_id": 13, "task_key": "train", "state": state("TERMINATED", "FAILED", "Workload failed")},
        {"run_id": 14, "task_key": "ok", "state": state("TERMINATED", "SUCCESS")},
    ]
    fake.outputs[12] = {
        "error": "ValueError: bad input",
        "error_trace": "\x1b[0;31mTraceback\x1b[0m\n  File x\nValueError: bad input",
        "notebook_output": {"result": "partial"},
    }
    fake.outputs[13] = {"error": "ZeroDivisionError", "logs": "line 1\nline 2\n", "logs_truncated": True}
    run = fake.add_run(
        [state("RUNNING"), state("INTERNAL_ERROR", "FAILED", "Task ingest failed")], tasks=tasks
    )
    (event,) = await collect(make_trigger(run.run_id))
    assert event.status == "failed"
    by_key = {t.task_key: t for t in event.failed_tasks}
    assert set(by_key) == {"ingest", "train"}
    assert by_key["ingest"].run_id == 12
    assert by_key["ingest"].error == "ValueError: bad input"
    assert "Traceback" in by_key["ingest"].error_trace
    assert "\x1b" not in by_key["ingest"].error_trace
    assert by_key["ingest"].notebook_result == "partial"
    assert by_key["train"].logs == "line 1\nline 2\n"
    assert by_key["train"].logs_truncated
    assert not any(
        path.endswith("get-output") and body.get("run_id") == "11" for _, path, body in fake.requests
    )
    # The trigger logs one summary line; the full report is written once, by execute_complete.
    errors = messages(logs, "error")
    assert len(errors) == 1, errors
    assert "failed" in errors[0]
    assert "the failure report follows" in errors[0]


@pytest.mark.asyncio
async def test_non_transient_error_yields_one_error_event(
    fake: FakeDatabricks, async_server: str, logs: list[MutableMapping[str, Any]]
) -> None:
    (event,) = await collect(make_trigger(999))
    assert event.status == "error"
    assert "does not exist" in event.reason
    assert any("Stopped watching" in m for m in messages(logs, "error"))


@pytest.mark.asyncio
async def test_missing_connection_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)
    (event,) = await collect(make_trigger(5))
    assert event.status == "error"
    assert CONN_ID in event.reason
    assert "databricks_conn_id" in event.reason


@pytest.mark.asyncio
async def test_transient_503s_keep_polling(fake: FakeDatabricks, async_server: str) -> None:
    run = fake.add_run([state("RUNNING"), state("TERMINATED", "SUCCESS")])
    fake.faults["get"] = [503, 503, 503]
    (event,) = await collect(make_trigger(run.run_id))
    assert event.status == "success"
    assert len(fake.calls("runs/get")) == 5


@pytest.mark.asyncio
async def test_deadline_cancels_the_run(fake: FakeDatabricks, async_server: str) -> None:
    run = fake.add_run([state("RUNNING")])
    started = time.monotonic()
    (event,) = await collect(make_trigger(run.run_id, polling_period_seconds=5, deadline=time.time() + 0.3))
    assert time.monotonic() - started < 3
    assert event.status == "failed"
    assert "execution_timeout" in event.reason
    assert "cancelled" in event.reason
    assert fake.cancelled == [run.run_id]


@pytest.mark.asyncio
async def test_deadline_without_cancel_on_kill_leaves_the_run(
    fake: FakeDatabricks, async_server: str
) -> None:
    run = fake.add_run([state("RUNNING")])
    (event,) = await collect(make_trigger(run.run_id, deadline=time.time() - 1, cancel_on_kill=False))
    assert event.status == "failed"
    assert fake.cancelled == []


@pytest.mark.asyncio
async def test_on_kill_cancels_the_run(fake: FakeDatabricks, async_server: str) -> None:
    run = fake.add_run([state("RUNNING")])
    trigger = make_trigger(run.run_id, polling_period_seconds=0.05)
    fake.polled = asyncio.Event()
    task = asyncio.ensure_future(collect(trigger))
    await asyncio.wait_for(fake.polled.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await trigger.on_kill()
    assert fake.cancelled == [run.run_id]


@pytest.mark.asyncio
async def test_on_kill_respects_cancel_on_kill_false(fake: FakeDatabricks, async_server: str) -> None:
    await make_trigger(5, cancel_on_kill=False).on_kill()
    assert fake.cancelled == []
    assert fake.requests == []


@pytest.mark.asyncio
async def test_wide_failed_run_fetches_output_of_the_reported_tasks_only(
    fake: FakeDatabricks, async_server: str
) -> None:
    tasks = [
        {"run_id": 100 + i, "task_key": f"t{i}", "state": state("TERMINATED", "FAILED", f"failed {i}")}
        for i in range(25)
    ]
    fake.outputs.update({100 + i: {"error": f"boom {i}"} for i in range(25)})
    fake.faults["get-output"] = [400]
    run = fake.add_run([state("TERMINATED", "FAILED")], tasks=tasks)
    (event,) = await collect(make_trigger(run.run_id))
    assert len(event.failed_tasks) == 25
    assert len(fake.calls("get-output")) == 20
    errors = [t.error for t in event.failed_tasks]
    assert sum("could not fetch the task output" in e for e in errors) == 1
    assert sum(e.startswith("boom ") for e in errors[:20]) == 19
    assert errors[20:] == [""] * 5
    assert event.failed_tasks[24].state_message == "failed 24"
