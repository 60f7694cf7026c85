"""Throughput of the simulated emulator: submit N runs, poll them to completion, report req/s.

Usage: ``python -m bench.emulator_throughput [--runs 10000] [--tls] [--concurrency 64]``.
Uses plain aiohttp with one pooled session (the client layer is deliberately not involved).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

__all__ = ("main", "run_benchmark")

TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


async def _pool(items: Iterable[Any], concurrency: int, work: Callable[[Any], Awaitable[None]]) -> None:
    iterator = iter(items)

    async def worker() -> None:
        for item in iterator:
            await work(item)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_benchmark(runs: int, *, tls: bool, concurrency: int, sim_duration: float) -> dict[str, float]:
    """Run the benchmark and return its measurements."""
    config = EmulatorConfig(simulate=True, tls=tls, sim_duration_seconds=sim_duration)
    async with EmulatorServer(config) as server:
        context = ssl.create_default_context(cafile=server.ca_file) if server.ca_file else None
        connector = aiohttp.TCPConnector(limit=concurrency, ssl=context if context is not None else True)
        headers = {"Authorization": f"Bearer {server.token}"}
        run_ids: list[int] = []
        polls = [0, 0.0]
        async with aiohttp.ClientSession(server.url, headers=headers, connector=connector) as session:

            async def submit(index: int) -> None:
                body = {"run_name": f"bench-{index}", "tasks": [{"task_key": "t"}]}
                async with session.post("/api/2.2/jobs/runs/submit", json=body) as resp:
                    run_ids.append((await resp.json())["run_id"])

            async def poll(run_id: int) -> None:
                while True:
                    began = time.perf_counter()
                    async with session.get("/api/2.2/jobs/runs/get", params={"run_id": str(run_id)}) as resp:
                        state = (await resp.json())["state"]["life_cycle_state"]
                    polls[0] += 1
                    polls[1] += time.perf_counter() - began
                    if state in TERMINAL:
                        return
                    await asyncio.sleep(0.2)

            start = time.perf_counter()
            await _pool(range(runs), concurrency, submit)
            submitted = time.perf_counter()
            await _pool(run_ids, concurrency, poll)
            done = time.perf_counter()
        connections = server.state.stats.connections
    poll_wall = done - submitted
    return {
        "runs": runs,
        "submit_seconds": submitted - start,
        "submits_per_second": runs / (submitted - start),
        "runs_get_requests": polls[0],
        "runs_get_per_second": polls[0] / poll_wall if poll_wall else 0.0,
        "mean_runs_get_latency_ms": 1000 * polls[1] / max(1, int(polls[0])),
        "total_seconds": done - start,
        "connections": connections,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.emulator_throughput")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sim-duration", type=float, default=1.0)
    args = parser.parse_args(argv)
    result = asyncio.run(
        run_benchmark(args.runs, tls=args.tls, concurrency=args.concurrency, sim_duration=args.sim_duration)
    )
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value:,.1f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
