"""State progression of simulated runs, driven by an injected clock (no sleeping)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from airflow_dbx_async.emulator import DEFAULT_TOKEN, EmulatorConfig, EmulatorState, create_app

PY = {"python_file": "dbfs:/scripts/task.py"}

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.asyncio
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, client: TestClient[Any, Any], clock: Clock) -> None:
        self.client = client
        self.clock = clock

    async def submit(self, body: dict[str, Any]) -> int:
        resp = await self.client.post("/api/2.1/jobs/runs/submit", json=body, headers=AUTH)
        assert resp.status == 200, await resp.text()
        return int((await resp.json())["run_id"])

    async def run(self, run_id: int) -> dict[str, Any]:
        resp = await self.client.get("/api/2.1/jobs/runs/get", params={"run_id": str(run_id)}, headers=AUTH)
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body

    async def at(self, seconds: float, run_id: int) -> dict[str, Any]:
        self.clock.now = 1_700_000_000.0 + seconds
        return await self.run(run_id)


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    clock = Clock()
    config = EmulatorConfig(simulate=True, sim_duration_seconds=10)
    app = create_app(config, state=EmulatorState(config, clock=clock))
    async with TestClient(TestServer(app)) as client:
        yield Harness(client, clock)


def _lc(run: dict[str, Any]) -> tuple[str, str | None]:
    return run["state"]["life_cycle_state"], run["state"].get("result_state")


async def test_single_task_progression_and_durations(harness: Harness) -> None:
    run_id = await harness.submit({"run_name": "x", "tasks": [{"task_key": "a", "spark_python_task": PY}]})
    seen = [_lc(await harness.at(t, run_id)) for t in (0, 0.5, 5, 9.5, 10)]
    assert seen == [
        ("PENDING", None),
        ("PENDING", None),
        ("RUNNING", None),
        ("TERMINATING", None),
        ("TERMINATED", "SUCCESS"),
    ]
    run = await harness.at(11, run_id)
    assert run["status"] == {
        "state": "TERMINATED",
        "termination_details": {"code": "SUCCESS", "type": "SUCCESS", "message": ""},
    }
    task = run["tasks"][0]
    assert task["setup_duration"] + task["execution_duration"] + task["cleanup_duration"] == 10_000
    assert run["start_time"] == 1_700_000_000_000
    assert run["end_time"] == 1_700_000_010_000
    assert run["run_duration"] == 10_000
    running = await harness.at(5, run_id)
    assert running["end_time"] == 0
    assert running["status"]["state"] == "RUNNING"


async def test_dependencies_blocked_then_upstream_failed(harness: Harness) -> None:
    tasks = [
        {"task_key": "a", "spark_python_task": PY, "sim_duration_seconds": 2, "sim_result": "FAILED"},
        {
            "task_key": "b",
            "spark_python_task": PY,
            "depends_on": [{"task_key": "a"}],
            "sim_duration_seconds": 2,
        },
        {
            "task_key": "c",
            "spark_python_task": PY,
            "depends_on": [{"task_key": "a"}],
            "run_if": "ALL_DONE",
            "sim_duration_seconds": 2,
        },
    ]
    run_id = await harness.submit({"tasks": tasks})
    early = await harness.at(1, run_id)
    assert [t["state"]["life_cycle_state"] for t in early["tasks"]] == ["RUNNING", "BLOCKED", "BLOCKED"]
    mid = await harness.at(3, run_id)
    assert [t["state"]["life_cycle_state"] for t in mid["tasks"]] == ["TERMINATED", "SKIPPED", "RUNNING"]
    assert mid["tasks"][1]["state"]["result_state"] == "UPSTREAM_FAILED"
    done = await harness.at(5, run_id)
    assert _lc(done) == ("TERMINATED", "FAILED")
    assert (
        done["state"]["state_message"]
        == "Task a failed with message: Workload failed, see run output for details."
    )
    assert done["status"]["termination_details"]["code"] == "RUN_EXECUTION_ERROR"


async def test_timeout_internal_error_and_skipped(harness: Harness) -> None:
    timed = await harness.submit(
        {"tasks": [{"task_key": "a", "spark_python_task": PY, "timeout_seconds": 3}]}
    )
    run = await harness.at(4, timed)
    assert _lc(run) == ("TERMINATED", "TIMEDOUT")
    assert run["state"]["user_cancelled_or_timedout"] is True
    assert run["end_time"] == 1_700_000_003_000
    harness.clock.now = 1_700_000_000.0
    run_level = await harness.submit(
        {"timeout_seconds": "2", "tasks": [{"task_key": "a", "spark_python_task": PY}]}
    )
    assert _lc(await harness.at(2.5, run_level)) == ("TERMINATED", "TIMEDOUT")
    harness.clock.now = 1_700_000_000.0
    internal = await harness.submit(
        {"tasks": [{"task_key": "a", "spark_python_task": PY, "sim_result": "INTERNAL_ERROR"}]}
    )
    assert _lc(await harness.at(11, internal)) == ("INTERNAL_ERROR", "FAILED")
    harness.clock.now = 1_700_000_000.0
    skipped = await harness.submit(
        {"tasks": [{"task_key": "a", "spark_python_task": PY, "sim_result": "SKIPPED"}]}
    )
    assert _lc(await harness.at(11, skipped))[0] == "SKIPPED"


async def test_cancel_freezes_the_timeline(harness: Harness) -> None:
    run_id = await harness.submit(
        {
            "tasks": [
                {"task_key": "a", "spark_python_task": PY},
                {"task_key": "b", "spark_python_task": PY, "depends_on": [{"task_key": "a"}]},
            ]
        }
    )
    harness.clock.now += 5
    resp = await harness.client.post("/api/2.2/jobs/runs/cancel", json={"run_id": run_id}, headers=AUTH)
    assert await resp.json() == {}
    terminating = await harness.at(5.1, run_id)  # the started task cleans up first (asynchronous cancel)
    assert terminating["state"]["life_cycle_state"] == "TERMINATING"
    run = await harness.at(100, run_id)
    assert _lc(run) == ("TERMINATED", "CANCELED")
    assert [t["state"]["result_state"] for t in run["tasks"]] == ["CANCELED", "CANCELED"]
    assert run["tasks"][1]["start_time"] == 0
    assert run["end_time"] == 1_700_000_005_200  # the default 0.2 s cancel grace


async def test_success_with_failures_when_only_non_leaf_failed(harness: Harness) -> None:
    tasks = [
        {"task_key": "a", "spark_python_task": PY, "sim_result": "FAILED"},
        {"task_key": "b", "spark_python_task": PY, "depends_on": [{"task_key": "a"}], "run_if": "ALL_DONE"},
    ]
    run_id = await harness.submit({"tasks": tasks})
    assert _lc(await harness.at(30, run_id)) == ("TERMINATED", "SUCCESS_WITH_FAILURES")
