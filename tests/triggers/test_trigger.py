"""DatabricksRunTrigger against a scripted fake workspace that follows the runs/list contract.

Most behaviours are checked on both paths a trigger can take: the shared ``runs/list`` sweep
(``sweep``) and the ``runs/get`` fallback for runs the list does not show (``fallback``).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.client._workspace import WORKSPACES
from airflow_dbx_async.outcome._events import MAX_EVENT_BYTES, RunEvent
from airflow_dbx_async.outcome._failure_details import MAX_REPORTED_TASKS
from airflow_dbx_async.outcome._failure_report import report_lines
from airflow_dbx_async.outcome._verdict import StopReason
from airflow_dbx_async.triggers import TRIGGER_CLASSPATH, DatabricksRunTrigger, poll_delays, steady_delays
from tests.fake_databricks import TOKEN, FakeDatabricks, state
from tests.helpers import CONN_ID, messages

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


@pytest.fixture(autouse=True)
def back_to_back_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WORKSPACES, "min_sweep_gap", 0.0)


@pytest.fixture(params=["sweep", "fallback"])
def path(request: pytest.FixtureRequest, fake: FakeDatabricks) -> str:
    """Which way the trigger learns the run's state: the shared sweep, or runs/get."""
    fake.list_visible = request.param == "sweep"
    return str(request.param)


def test_serialize_round_trip() -> None:
    trigger = make_trigger(42, deadline=1234.5, cancel_on_kill=False, api_version="2.1")
    classpath, kwargs = trigger.serialize()
    assert classpath == TRIGGER_CLASSPATH == "airflow_dbx_async.triggers.DatabricksRunTrigger"
    rebuilt = DatabricksRunTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert all(isinstance(v, str | int | float | bool | type(None)) for v in kwargs.values())
    assert TOKEN not in repr(trigger)
    assert TOKEN not in str(kwargs)


def test_a_repair_history_travels_in_the_kwargs_and_old_kwargs_still_load() -> None:
    earlier = ["Databricks run 42 failed (TERMINATED/FAILED): task nb: ValueError: ***"]
    repaired = make_trigger(42, repairs=1, earlier_failures=earlier)
    classpath, kwargs = repaired.serialize()
    assert (kwargs["repairs"], kwargs["earlier_failures"]) == (1, earlier)
    assert DatabricksRunTrigger(**kwargs).serialize() == (classpath, kwargs)
    # A first watch serialises as the previous release did; what that release stored loads with defaults.
    first = make_trigger(42).serialize()[1]
    assert "repairs" not in first
    assert "earlier_failures" not in first
    old = DatabricksRunTrigger(**first)
    assert (old.repairs, old.earlier_failures) == (0, ())


def test_poll_delays_start_quick_and_never_exceed_period() -> None:
    delays = poll_delays(10, random.Random(7))
    first = [next(delays) for _ in range(8)]
    assert 0.9 <= first[0] <= 1.0
    assert 2.7 <= first[1] <= 3.0
    assert 8.1 <= first[2] <= 9.0
    assert all(d <= 10 for d in first)
    assert first[-1] >= 9.0


def test_steady_delays_wait_a_period_from_the_first_poll() -> None:
    """Statements and warehouses: every check is a request, so no quick first checks."""
    delays = steady_delays(30, random.Random(7))
    first = [next(delays) for _ in range(6)]
    assert all(27.0 <= d <= 30.0 for d in first), first
    assert len(set(first)) > 1  # jittered, so a triggerer's statements do not poll in lockstep


@pytest.mark.asyncio
async def test_success_yields_one_event_and_logs_state_changes_only(
    fake: FakeDatabricks, path: str, async_server: str, logs: list[MutableMapping[str, Any]]
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
    assert events[0].state is not None
    assert events[0].state.raw_result_state == "SUCCESS"
    assert f"#job/777/run/{run.run_id}" in events[0].run_page_url
    info = messages(logs, "info")
    assert len(info) == 3, info
    assert "PENDING" in info[0]
    assert "RUNNING" in info[1]
    assert "SUCCESS" in info[2]
    if path == "sweep":  # every state came from the run list: no request of its own
        assert fake.calls("runs/get") == []
        assert fake.calls("runs/list")
    else:
        assert len(fake.calls("runs/get")) == 6


FAILED_TASKS = [
    {"run_id": 11, "task_key": "ingest", "attempt_number": 0, "state": state("TERMINATED", "FAILED", "boom")},
    {
        "run_id": 12,
        "task_key": "ingest",
        "attempt_number": 1,
        "state": state("TERMINATED", "FAILED", "again"),
    },
    {"run_id": 13, "task_key": "train", "state": state("TERMINATED", "FAILED", "Workload failed")},
    {"run_id": 14, "task_key": "ok", "state": state("TERMINATED", "SUCCESS")},
]


@pytest.mark.asyncio
async def test_failed_run_event_names_the_failed_tasks_without_their_outputs(
    fake: FakeDatabricks, path: str, async_server: str, logs: list[MutableMapping[str, Any]]
) -> None:
    run = fake.add_run(
        [state("RUNNING"), state("INTERNAL_ERROR", "FAILED", "Task ingest failed")], tasks=FAILED_TASKS
    )
    (event,) = await collect(make_trigger(run.run_id))
    assert event.status == "failed"
    assert [(t.task_key, t.run_id) for t in event.failed_tasks] == [("ingest", 12), ("train", 13)]
    assert event.failed_tasks[0].state is not None
    assert event.failed_tasks[0].state.state_message == "again"
    assert event.failed_total == 2
    assert fake.calls("get-output") == []  # the bulky outputs are fetched by the worker
    # A failed run seen in the run list has no tasks: it is read once with runs/get.
    assert len(fake.calls("runs/get")) == (1 if path == "sweep" else 2)
    # The trigger logs one summary line; the full report is written once, by execute_complete.
    errors = messages(logs, "error")
    assert len(errors) == 1, errors
    assert "task ingest: again; task train: Workload failed" in errors[0]
    assert "the failure report follows" in errors[0]


@pytest.mark.asyncio
async def test_a_transient_error_re_reading_a_failed_run_keeps_the_failure(
    fake: FakeDatabricks, async_server: str
) -> None:
    run = fake.add_run([state("TERMINATED", "FAILED", "Workload failed")], tasks=FAILED_TASKS)
    fake.faults["get"] = [503]  # the run list showed the failure; reading its tasks fails once
    (event,) = await collect(make_trigger(run.run_id))
    assert event.status == "failed"
    assert [t.task_key for t in event.failed_tasks] == ["ingest", "train"]
    assert len(fake.calls("runs/get")) == 2


@pytest.mark.asyncio
async def test_a_wide_failure_keeps_the_event_small_and_says_how_many_failed(
    fake: FakeDatabricks, path: str, async_server: str
) -> None:
    tasks = [
        {"run_id": 100 + i, "task_key": f"t{i}", "state": state("TERMINATED", "FAILED", "x" * 2000)}
        for i in range(120)
    ]
    run = fake.add_run([state("TERMINATED", "FAILED")], tasks=tasks)
    (event,) = await collect(make_trigger(run.run_id))
    shown = len(event.failed_tasks)
    assert 0 < shown < MAX_REPORTED_TASKS  # long state messages: fewer tasks fit in the event
    assert event.failed_total == 120
    assert len(json.dumps(event.to_payload())) <= MAX_EVENT_BYTES
    assert f"120 failed tasks; the first {shown} follow (the run page lists them all):" in report_lines(event)


@pytest.mark.asyncio
async def test_non_transient_error_yields_one_error_event(
    fake: FakeDatabricks, path: str, async_server: str, logs: list[MutableMapping[str, Any]]
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
    fake.list_visible = False
    run = fake.add_run([state("RUNNING"), state("TERMINATED", "SUCCESS")])
    fake.faults["get"] = [503, 503, 503]
    (event,) = await collect(make_trigger(run.run_id))
    assert event.status == "success"
    assert len(fake.calls("runs/get")) == 5


class SteppingClock:
    """Epoch seconds that move on by ``step`` each time they are read."""

    def __init__(self, start: float = 1_000_000.0, step: float = 1.0) -> None:
        self.now, self.step = start, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.asyncio
async def test_deadline_cancels_the_run(fake: FakeDatabricks, path: str, async_server: str) -> None:
    run = fake.add_run([state("RUNNING")])
    clock = SteppingClock()
    trigger = make_trigger(run.run_id, deadline=clock.now + 5)
    trigger._clock = clock
    (event,) = await collect(trigger)
    assert event.status == "failed"
    assert "execution_timeout" in event.reason
    assert "cancelled" in event.reason
    assert event.state is not None  # the last state seen before the deadline
    assert event.state.raw_life_cycle_state == "RUNNING"
    assert event.stopped is StopReason.DEADLINE
    assert fake.cancelled == [run.run_id]
    assert clock.now >= trigger.deadline  # type: ignore[operator]


@pytest.mark.asyncio
async def test_every_event_repeats_the_repair_history(fake: FakeDatabricks, async_server: str) -> None:
    history = {"repairs": 1, "earlier_failures": ["first attempt failed"]}
    ended = fake.add_run([state("TERMINATED", "FAILED", "boom")])
    going = fake.add_run([state("RUNNING")])
    (final,) = await collect(make_trigger(ended.run_id, **history))
    (deadline,) = await collect(make_trigger(going.run_id, deadline=0.0, cancel_on_kill=False, **history))
    (gave_up,) = await collect(make_trigger(999, **history))
    stopped = [(e.stopped, e.repairs, e.earlier_failures) for e in (final, deadline, gave_up)]
    assert stopped == [
        (StopReason.FINAL, 1, ("first attempt failed",)),
        (StopReason.DEADLINE, 1, ("first attempt failed",)),
        (StopReason.GAVE_UP, 1, ("first attempt failed",)),
    ]


@pytest.mark.asyncio
async def test_deadline_without_cancel_on_kill_leaves_the_run(
    fake: FakeDatabricks, async_server: str
) -> None:
    run = fake.add_run([state("RUNNING")])
    clock = SteppingClock()
    trigger = make_trigger(run.run_id, deadline=clock.now - 1, cancel_on_kill=False)
    trigger._clock = clock
    (event,) = await collect(trigger)
    assert event.status == "failed"
    assert fake.cancelled == []
    assert fake.calls("runs/get") == []
    assert fake.calls("runs/list") == []


@pytest.mark.asyncio
async def test_on_kill_cancels_the_run(fake: FakeDatabricks, async_server: str) -> None:
    fake.list_visible = False
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
