"""Other people's jobs in the benchmark's workspace, submitted from a process of their own.

``python -m bench._foreign --existing 5000 --rate 5 --duration 30`` submits ``existing`` simulated
runs at once, prints ``ready``, then submits ``rate`` new runs per second until its standard input
closes (the parent ends it that way). Its CPU time is its own, so it never counts as trigger CPU; its
only requests are ``runs/submit``, which the benchmark does not count. Reads ``BENCH_URL``,
``BENCH_TOKEN`` and ``BENCH_CA`` from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import ssl
import sys
import time

import aiohttp

__all__ = ("main",)

_CONCURRENCY = 16


def _body(rng: random.Random, index: int, duration: float) -> dict[str, object]:
    task = {
        "task_key": "other",
        "notebook_task": {"notebook_path": "/other/notebook"},
        "sim_duration_seconds": duration * rng.uniform(0.5, 1.5),
    }
    return {"run_name": f"foreign-{index}", "tasks": [task]}


async def _submit(session: aiohttp.ClientSession, url: str, body: dict[str, object]) -> None:
    async with session.post(f"{url}/api/2.2/jobs/runs/submit", json=body) as answer:
        answer.raise_for_status()
        await answer.read()


async def _stdin_closed() -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


async def _arrivals(session: aiohttp.ClientSession, url: str, args: argparse.Namespace) -> None:
    """Submit ``rate`` runs per second (Poisson arrivals) until cancelled."""
    rng, index = random.Random(11), args.existing
    pending: set[asyncio.Task[None]] = set()
    next_at = time.monotonic()
    while True:
        next_at += rng.expovariate(args.rate)
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        task = asyncio.create_task(_submit(session, url, _body(rng, index, args.duration)))
        pending.add(task)
        task.add_done_callback(pending.discard)
        index += 1


async def _main(args: argparse.Namespace) -> None:
    url, token = os.environ["BENCH_URL"], os.environ["BENCH_TOKEN"]
    ssl_ctx = ssl.create_default_context(cafile=os.environ["BENCH_CA"] or None)
    connector = aiohttp.TCPConnector(ssl=ssl_ctx, limit=_CONCURRENCY, keepalive_timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        rng, sem = random.Random(5), asyncio.Semaphore(_CONCURRENCY)

        async def one(index: int) -> None:
            async with sem:
                await _submit(session, url, _body(rng, index, args.duration))

        await asyncio.gather(*(one(i) for i in range(args.existing)))
        print("ready", flush=True)
        arrivals = asyncio.create_task(_arrivals(session, url, args)) if args.rate > 0 else None
        await _stdin_closed()
        if arrivals is not None:
            arrivals.cancel()
            await asyncio.gather(arrivals, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    """Submit the existing foreign runs, then keep new ones arriving until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--existing", type=int, default=0, help="foreign runs submitted at once")
    parser.add_argument("--rate", type=float, default=0.0, help="new foreign runs per second")
    parser.add_argument("--duration", type=float, default=30.0, help="mean foreign run duration (s)")
    asyncio.run(_main(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
