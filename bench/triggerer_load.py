"""Triggerer load benchmark: our trigger against the official provider's, in the same run.

For each implementation and each N, a fresh child process does what a triggerer does: it runs N
triggers' ``run()`` generators as tasks on one event loop until each has yielded its event. The runs
live in the emulator (simulated mode, over TLS like real Databricks), started just before. The child
reports, per implementation:

- HTTP requests per finished run (the emulator's own count, submits excluded),
- new TLS connections per poll (a poll = one check of one run's state by one trigger),
- CPU seconds of the trigger process per 1,000 polls,
- peak RSS per deferred run,
- p50 / p99 lag from the run's ``end_time`` to its ``TriggerEvent``.

Run it with ``python -m bench.triggerer_load`` (see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import ssl
import subprocess
import sys
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import aiohttp

from airflow_dbx_async.testing._emulator_proc import EmulatorProcess

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

IMPLEMENTATIONS = ("ours", "official")
CONN_ID = "databricks_bench"


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _submit_runs(url: str, token: str, ssl_ctx: ssl.SSLContext, n: int, duration: float) -> list[int]:
    """Submit ``n`` simulated runs whose durations spread over +/-25 % of ``duration``."""
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    sem = asyncio.Semaphore(32)
    connector = aiohttp.TCPConnector(ssl=ssl_ctx, limit=32)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(i: int) -> int:
            task = {
                "task_key": "bench",
                "notebook_task": {"notebook_path": "/bench/notebook"},
                "sim_duration_seconds": duration * rng.uniform(0.75, 1.25),
            }
            async with (
                sem,
                session.post(
                    f"{url}/api/2.2/jobs/runs/submit", json={"run_name": f"b{i}", "tasks": [task]}
                ) as r,
            ):
                r.raise_for_status()
                return int((await r.json())["run_id"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _admin(url: str, ssl_ctx: ssl.SSLContext, path: str) -> Any:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx)) as session:
        async with session.get(f"{url}/_emulator/{path}") as r:
            r.raise_for_status()
            return await r.json()


def _trigger_factory(impl: str, poll: float, url: str) -> Callable[[int], Any]:
    """Import the implementation up front, so module imports do not count as per-run memory."""
    if impl == "ours":
        from airflow_dbx_async.triggers import DatabricksRunTrigger

        return lambda run_id: DatabricksRunTrigger(
            run_id=run_id, databricks_conn_id=CONN_ID, polling_period_seconds=poll
        )
    from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger

    return lambda run_id: DatabricksExecutionTrigger(
        run_id=run_id, databricks_conn_id=CONN_ID, polling_period_seconds=int(poll), run_page_url=url
    )


async def _drive(trigger: Any) -> tuple[float, str]:
    """Run one trigger as the triggerer does; keep only when its event came and whether it succeeded."""
    events: AsyncIterator[Any] = trigger.run()
    async for event in events:
        at, payload = time.time(), event.payload
        state = payload.get("run_state") or {}
        state = json.loads(state) if isinstance(state, str) else state  # the official sends JSON text
        ok = payload.get("status") == "success" or state.get("result_state") == "SUCCESS"
        return at, "success" if ok else "other"
    raise RuntimeError("trigger ended without an event")


async def _sample_peak(stop: asyncio.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], _rss_bytes())
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


def _api_counts(stats: dict[str, Any]) -> dict[str, int]:
    per = stats.get("requests", {})
    return {k: int(v) for k, v in per.items() if "/api/" in k}


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)}


async def _child(args: argparse.Namespace) -> dict[str, Any]:
    url, token = os.environ["BENCH_URL"], os.environ["BENCH_TOKEN"]
    ssl_ctx = ssl.create_default_context(cafile=os.environ["BENCH_CA"])
    run_ids = await _submit_runs(url, token, ssl_ctx, args.n, args.duration)
    make = _trigger_factory(args.impl, args.poll, url)
    make(run_ids[0])  # warm up: first-use imports and caches are not per-run costs
    stats0 = await _admin(url, ssl_ctx, "stats")
    gc.collect()
    rss0, cpu0, peak = _rss_bytes(), time.process_time(), [0]
    triggers = [make(rid) for rid in run_ids]
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_peak(stop, peak))

    async def drive(trigger: Any) -> tuple[float, str]:
        result = await _drive(trigger)
        if not stop.is_set():  # RSS "per deferred run" is sampled while all N are still deferred
            stop.set()
        return result

    results = await asyncio.gather(*(drive(t) for t in triggers))
    await sampler
    cpu = time.process_time() - cpu0
    stats1 = await _admin(url, ssl_ctx, "stats")
    runs = {int(r["run_id"]): r for r in (await _admin(url, ssl_ctx, "runs"))["runs"]}
    return _summarise(args, run_ids, results, runs, stats0, stats1, cpu, peak[0] - rss0)


def _summarise(
    args: argparse.Namespace,
    run_ids: list[int],
    results: list[tuple[float, Any]],
    runs: dict[int, Any],
    stats0: dict[str, Any],
    stats1: dict[str, Any],
    cpu: float,
    rss_growth: int,
) -> dict[str, Any]:
    requests = _delta(_api_counts(stats1), _api_counts(stats0))
    total = sum(v for k, v in requests.items() if not k.endswith("/runs/submit"))
    polls = _count_polls(args.impl, requests)
    lags = sorted(
        at - int(runs[rid]["end_time"]) / 1000.0 for rid, (at, _) in zip(run_ids, results, strict=True)
    )
    conns = int(stats1.get("connections", 0)) - int(stats0.get("connections", 0))
    return {
        "impl": args.impl,
        "n": args.n,
        "poll_seconds": args.poll,
        "requests_by_endpoint": requests,
        "succeeded": sum(1 for _, outcome in results if outcome == "success"),
        "requests_per_run": total / args.n,
        "polls": polls,
        "new_connections": conns,
        "new_connections_per_poll": conns / max(polls, 1),
        "cpu_seconds": cpu,
        "cpu_per_1000_polls": cpu * 1000 / max(polls, 1),
        "rss_per_run_bytes": max(rss_growth, 0) / args.n,
        "lag_p50": lags[len(lags) // 2],
        "lag_p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        "lag_max": lags[-1],
    }


def _count_polls(impl: str, requests: dict[str, int]) -> int:
    """A poll is one check of one run's state by one trigger."""
    if impl == "official":
        return sum(v for k, v in requests.items() if k.endswith("/runs/get"))
    from airflow_dbx_async.triggers import poll_counter

    return poll_counter.value


def _run_child(
    impl: str, n: int, emulator: EmulatorProcess, args: argparse.Namespace
) -> dict[str, Any] | None:
    env = dict(os.environ)
    # host, port and schema as separate fields: the official hook drops a port written into host.
    parts = urllib.parse.urlsplit(emulator.url)
    conn: dict[str, Any] = {"conn_type": "databricks", "host": parts.hostname, "port": parts.port}
    conn.update(schema=parts.scheme, password=emulator.token, extra=json.dumps({"ca_file": emulator.ca_file}))
    env.update(
        BENCH_URL=emulator.url,
        BENCH_TOKEN=emulator.token,
        BENCH_CA=emulator.ca_file or "",
        SSL_CERT_FILE=emulator.ca_file or "",
        **{f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(conn)},
    )
    cmd = [sys.executable, "-m", "bench.triggerer_load", "--child", "--impl", impl, "--n", str(n)]
    cmd += ["--poll", str(args.poll), "--duration", str(args.duration)]
    try:
        out = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=args.child_timeout, check=True
        )
    except subprocess.TimeoutExpired:
        print(f"  {impl} N={n}: did not finish within {args.child_timeout:.0f} s", flush=True)
        return None
    except subprocess.CalledProcessError as exc:
        print(f"  {impl} N={n}: failed\n{exc.stderr[-3000:]}", flush=True)
        return None
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _print_table(rows: dict[tuple[str, int], dict[str, Any]], sizes: list[int]) -> None:
    metrics = [
        ("requests_per_run", "HTTP requests per finished run", "{:.3f}"),
        ("new_connections_per_poll", "new TLS connections per poll", "{:.4f}"),
        ("cpu_per_1000_polls", "CPU seconds per 1,000 polls", "{:.3f}"),
        ("rss_per_run_bytes", "peak RSS per deferred run (bytes)", "{:.0f}"),
        ("lag_p50", "lag end->event p50 (s)", "{:.2f}"),
        ("lag_p99", "lag end->event p99 (s)", "{:.2f}"),
    ]
    for n in sizes:
        ours, official = rows.get(("ours", n)), rows.get(("official", n))
        print(f"\nN = {n:,}")
        print(f"  {'metric':38} {'ours':>12} {'official':>12} {'ours/official':>14}")
        for key, label, fmt in metrics:
            a = fmt.format(ours[key]) if ours else "-"
            b = fmt.format(official[key]) if official else "n/a"
            ratio = f"{ours[key] / official[key]:.3f}" if ours and official and official[key] else "-"
            print(f"  {label:38} {a:>12} {b:>12} {ratio:>14}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (parent) or one measurement (``--child``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--impl", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS)
    parser.add_argument("--poll", type=float, default=20.0, help="polling_period_seconds for both triggers")
    parser.add_argument("--duration", type=float, default=90.0, help="mean simulated run duration (s)")
    parser.add_argument("--child-timeout", type=float, default=900.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.n, args.impl = args.n[0], args.impl[0]
        logging.basicConfig(level=logging.INFO, filename=os.devnull)
        print(json.dumps(asyncio.run(_child(args))), flush=True)
        return 0
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    with EmulatorProcess(simulate=True, tls=True) as emulator:
        for n in args.n:
            for impl in args.impl:
                emulator.reset()
                print(f"running {impl} with N={n:,} ...", flush=True)
                result = _run_child(impl, n, emulator, args)
                if result is not None:
                    rows[(impl, n)] = result
                    print("  " + json.dumps(result), flush=True)
    _print_table(rows, args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
