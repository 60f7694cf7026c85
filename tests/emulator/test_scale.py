"""Simulated mode holds 10,000 concurrent active runs and serves every poll to completion.

The emulator clock is wall time plus an offset the test can bump: all runs are provably active at once
after submission, then the clock jumps past their end and every run is polled to completion.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from airflow_dbx_async.emulator import DEFAULT_TOKEN, EmulatorConfig, EmulatorState, create_app

PY = {"python_file": "dbfs:/scripts/task.py"}

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

RUNS = 10_000
CONCURRENCY = 32
TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


async def _in_parallel(items: list[Any], work: Callable[[Any], Awaitable[None]]) -> None:
    iterator = iter(items)

    async def worker() -> None:
        for item in iterator:
            await work(item)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


@pytest.mark.asyncio
@pytest.mark.timeout(300)  # a guard against a hang on a loaded machine, not a speed check
async def test_ten_thousand_simulated_runs() -> None:
    offset = [0.0]
    config = EmulatorConfig(simulate=True, sim_duration_seconds=60)
    state = EmulatorState(config, clock=lambda: time.time() + offset[0])
    run_ids: list[int] = []
    results: dict[int, str] = {}
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with TestServer(create_app(config, state=state)) as server:
        async with aiohttp.ClientSession(
            str(server.make_url("")), headers=headers, connector=connector
        ) as session:

            async def submit(index: int) -> None:
                body = {"run_name": f"r{index}", "tasks": [{"task_key": "t", "spark_python_task": PY}]}
                async with session.post("/api/2.2/jobs/runs/submit", json=body) as resp:
                    run_ids.append((await resp.json())["run_id"])

            async def poll(run_id: int) -> None:
                while True:
                    async with session.get("/api/2.2/jobs/runs/get", params={"run_id": str(run_id)}) as resp:
                        run = await resp.json()
                    if run["state"]["life_cycle_state"] in TERMINAL:
                        results[run_id] = run["state"]["result_state"]
                        return
                    await asyncio.sleep(0.05)

            await _in_parallel(list(range(RUNS)), submit)
            assert state.active_runs() == RUNS
            offset[0] = 61.0
            await _in_parallel(run_ids, poll)
    assert len(set(run_ids)) == RUNS
    assert set(results.values()) == {"SUCCESS"}
    assert len(results) == RUNS
    assert state.active_runs() == 0
    assert state.stats.connections <= CONCURRENCY
