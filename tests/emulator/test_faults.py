"""Fault injection: each kind, seeded replay, path filter, phases; admin endpoints are never faulted."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import aiohttp
import pytest

from airflow_dbx_async.emulator import FaultConfig

PY = {"python_file": "dbfs:/scripts/task.py"}

if TYPE_CHECKING:
    from tests.emulator.conftest import Api, MakeApi

pytestmark = pytest.mark.asyncio


async def _set(api: Api, **settings: object) -> None:
    await api.ok("POST", "/_emulator/faults", json=settings)


async def _statuses(api: Api, n: int) -> list[object]:
    out: list[object] = []
    for _ in range(n):
        try:
            async with api.session.get("/api/2.2/jobs/runs/list") as resp:
                out.append(resp.status)
        except aiohttp.ServerDisconnectedError:
            out.append("drop")
    return out


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("429", 429, "REQUEST_LIMIT_EXCEEDED"),
        ("503", 503, "TEMPORARILY_UNAVAILABLE"),
        ("500", 500, "INTERNAL_ERROR"),
    ],
)
async def test_error_kinds(sim: tuple[object, Api], kind: str, status: int, code: str) -> None:
    _, api = sim
    await _set(api, rate=1.0, kinds=[kind])
    got, body = await api.call("GET", "jobs/runs/list")
    assert (got, body["error_code"]) == (status, code)
    async with api.session.get("/api/2.2/jobs/runs/list") as resp:
        if kind in ("429", "503"):
            assert resp.headers["Retry-After"] == "1"
        else:
            assert "Retry-After" not in resp.headers


async def test_drop_closes_the_connection(sim: tuple[object, Api]) -> None:
    _, api = sim
    await _set(api, rate=1.0, kinds=["drop"])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.call("GET", "jobs/runs/list")
    stats = await api.ok("GET", "/_emulator/stats")
    assert stats["faults_injected"]["drop"] >= 1  # aiohttp may retry a GET once on a reused connection


async def test_stall_delays_then_answers(sim: tuple[object, Api]) -> None:
    _, api = sim
    await _set(api, rate=1.0, kinds=["stall"], stall_seconds=0.3)
    start = time.monotonic()
    status, _ = await api.call("GET", "jobs/runs/list")
    assert status == 200
    assert time.monotonic() - start >= 0.3
    await _set(api, rate=1.0, kinds=["stall"], stall_seconds=5)
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(asyncio.TimeoutError):
        await api.call("GET", "jobs/runs/list", timeout=timeout)


async def test_seeded_faults_replay(sim: tuple[object, Api]) -> None:
    _, api = sim
    settings = {"rate": 0.5, "kinds": ["429", "500", "503", "drop"], "seed": 7}
    await _set(api, **settings)
    first = await _statuses(api, 30)
    await _set(api, **settings)
    second = await _statuses(api, 30)
    assert first == second
    assert 200 in first
    assert len(set(first)) > 2


async def test_paths_filter_and_admin_never_faulted(sim: tuple[object, Api]) -> None:
    _, api = sim
    await _set(api, rate=1.0, kinds=["500"], paths=["runs/submit"])
    assert (await api.call("GET", "jobs/runs/list"))[0] == 200
    assert (
        await api.call(
            "POST", "jobs/runs/submit", json={"tasks": [{"task_key": "a", "spark_python_task": PY}]}
        )
    )[0] == 500
    assert (await api.ok("GET", "/_emulator/faults"))["paths"] == ["runs/submit"]
    assert (await api.call("GET", "/_emulator/stats"))[0] == 200
    assert (await api.ok("GET", "/_emulator/runs"))["runs"] == []  # phase "before": nothing processed


async def test_after_phase_processes_then_fails(sim: tuple[object, Api]) -> None:
    _, api = sim
    await _set(api, rate=1.0, kinds=["503"], phase="after", paths=["runs/submit"])
    status, _ = await api.call(
        "POST", "jobs/runs/submit", json={"tasks": [{"task_key": "a", "spark_python_task": PY}]}
    )
    assert status == 503
    assert len((await api.ok("GET", "/_emulator/runs"))["runs"]) == 1


async def test_bad_fault_settings_rejected(sim: tuple[object, Api]) -> None:
    _, api = sim
    status, body = await api.call("POST", "/_emulator/faults", json={"rate": 2})
    assert status == 400
    status, body = await api.call("POST", "/_emulator/faults", json={"kinds": ["boom"]})
    assert status == 400


async def test_faults_from_config_at_start(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True, faults=FaultConfig(rate=1.0, kinds=("429",), seed=1))
    assert (await api.call("GET", "jobs/runs/list"))[0] == 429
