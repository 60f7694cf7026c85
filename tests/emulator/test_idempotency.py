"""idempotency_token: one run per token, for submit and run-now, even when answers are lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest

from airflow_dbx_async.emulator import FaultConfig

PY = {"python_file": "dbfs:/scripts/task.py"}

if TYPE_CHECKING:
    from tests.emulator.conftest import Api

pytestmark = pytest.mark.asyncio
TASKS = [{"task_key": "a", "spark_python_task": PY, "sim_duration_seconds": 0.05}]


async def test_same_token_same_run(sim: tuple[object, Api]) -> None:
    server, api = sim
    body = {"run_name": "x", "tasks": TASKS, "idempotency_token": "tok-1"}
    ids = {(await api.post("jobs/runs/submit", body))["run_id"] for _ in range(3)}
    different_payload = {
        "run_name": "other",
        "tasks": TASKS + [{"task_key": "b", "spark_python_task": PY}],
        "idempotency_token": "tok-1",
    }
    ids.add((await api.post("jobs/runs/submit", different_payload))["run_id"])
    assert len(ids) == 1
    stats = await api.ok("GET", "/_emulator/stats")
    assert stats["runs_total"] == 1
    assert stats["submits_by_token"] == {"tok-1": 4}
    assert stats["submits"] == 4
    runs = (await api.ok("GET", "/_emulator/runs"))["runs"]
    assert [r["idempotency_token"] for r in runs] == ["tok-1"]


async def test_run_now_shares_the_token_namespace(sim: tuple[object, Api]) -> None:
    _, api = sim
    job_id = (await api.post("jobs/create", {"name": "j", "tasks": TASKS}))["job_id"]
    first = await api.post("jobs/run-now", {"job_id": job_id, "idempotency_token": "t"})
    second = await api.post("jobs/run-now", {"job_id": job_id, "idempotency_token": "t"})
    third = await api.post("jobs/runs/submit", {"tasks": TASKS, "idempotency_token": "t"})
    assert first["run_id"] == second["run_id"] == third["run_id"]
    other = await api.post("jobs/run-now", {"job_id": job_id, "idempotency_token": "u"})
    assert other["run_id"] != first["run_id"]


async def test_long_token_and_deleted_run(sim: tuple[object, Api]) -> None:
    _, api = sim
    status, body = await api.call(
        "POST", "jobs/runs/submit", json={"tasks": TASKS, "idempotency_token": "x" * 65}
    )
    assert status == 400
    run_id = (await api.post("jobs/runs/submit", {"tasks": TASKS, "idempotency_token": "gone"}))["run_id"]
    await api.wait_run(run_id)
    assert await api.post("jobs/runs/delete", {"run_id": run_id}) == {}
    status, body = await api.call(
        "POST", "jobs/runs/submit", json={"tasks": TASKS, "idempotency_token": "gone"}
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


async def test_lost_answer_after_processing_then_retry_with_token(sim: tuple[object, Api]) -> None:
    _, api = sim
    fault = FaultConfig(rate=1.0, kinds=("drop",), phase="after", paths=("runs/submit",), seed=3)
    await api.ok("POST", "/_emulator/faults", json=fault.to_json())
    body = {"tasks": TASKS, "idempotency_token": "retry-me"}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.call("POST", "jobs/runs/submit", json=body)
    runs = (await api.ok("GET", "/_emulator/runs"))["runs"]
    assert len(runs) == 1  # processed although the client got no answer
    await api.ok("POST", "/_emulator/faults", json={"rate": 0})
    answer = await api.post("jobs/runs/submit", body)
    assert answer["run_id"] == runs[0]["run_id"]
    assert len((await api.ok("GET", "/_emulator/runs"))["runs"]) == 1
