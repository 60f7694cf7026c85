"""Triggerer load benchmark: our trigger against the official provider's, in the same run.

For each workspace shape, each N and each implementation, a fresh child process does what a
triggerer does: it runs N triggers' ``run()`` generators as tasks on one event loop until each has
yielded its event. The runs live in the emulator (simulated mode, over TLS like real Databricks),
started just before. Shapes (see ``SHAPES``):

- ``quiet``: only the watched runs;
- ``busy``: other people's runs too, some existing (newer than the watched runs) and more arriving
  at a rate during the deferral;
- ``long``: long-running watched runs among many short foreign ones;
- ``statements``: N waiting SQL statements (:mod:`bench._statements`) instead of runs.

Foreign runs come from a separate process (:mod:`bench._foreign`), so their CPU is not trigger CPU.
The child reports, per implementation:

- HTTP requests per finished run or statement (the emulator's own count, submits excluded),
- new TLS connections per poll (a poll = one check of one run's state by one trigger),
- CPU seconds of the trigger process per finished run,
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from airflow_dbx_async.testing._emulator_proc import EmulatorProcess
from bench._load_table import print_saved, print_table, print_targets
from bench._statements import (
    STATEMENT_GET,
    STATEMENT_SUBMIT,
    event_succeeded,
    is_statement_get,
    statement_ends,
    statement_trigger_factory,
    submit_statements,
    watch_one_first,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

IMPLEMENTATIONS = ("ours", "official")
SHAPE_NAMES = ("quiet", "busy", "long", "statements")
CONN_ID = "databricks_bench"


@dataclass(frozen=True)
class Shape:
    """A workspace: how long the watched runs take, and what else runs there."""

    duration: float
    foreign_existing: int = 0
    foreign_rate: float = 0.0
    foreign_duration: float = 0.0
    statements: bool = False


def _shapes(args: argparse.Namespace) -> dict[str, Shape]:
    return {
        "quiet": Shape(args.duration),
        "busy": Shape(args.duration, args.foreign_existing, args.foreign_rate, args.foreign_duration),
        "long": Shape(args.long_duration, args.foreign_existing, args.foreign_rate, args.short_duration),
        "statements": Shape(args.duration, statements=True),
    }


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


_GUESSED_SUBMITS_PER_SECOND = 200.0


async def _submit_runs(
    url: str, token: str, ssl_ctx: ssl.SSLContext, n: int, duration: float, later: int = 0
) -> list[int]:
    """Submit ``n`` simulated runs lasting ``duration`` +/-25 % from the moment the triggers start.

    Submitting 10,000 runs takes a while, and ``later`` foreign runs are submitted after them (by a
    process with half the concurrency); a run submitted early gets the expected time until all are
    in added to its simulated duration (estimated from the submit rate so far), so no run ends
    before the triggers start and every N sees the same spread of durations.
    """
    rng = random.Random(7)
    spans = [duration * rng.uniform(0.75, 1.25) for _ in range(n)]
    headers = {"Authorization": f"Bearer {token}"}
    sem, started, done = asyncio.Semaphore(32), time.monotonic(), [0]
    connector = aiohttp.TCPConnector(ssl=ssl_ctx, limit=32)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(i: int) -> int:
            async with sem:
                elapsed = time.monotonic() - started
                rate = done[0] / elapsed if done[0] >= 64 else _GUESSED_SUBMITS_PER_SECOND
                task = {
                    "task_key": "bench",
                    "notebook_task": {"notebook_path": "/bench/notebook"},
                    "sim_duration_seconds": spans[i] + (n - done[0] + 2 * later) / rate,
                }
                body = {"run_name": f"b{i}", "tasks": [task]}
                async with session.post(f"{url}/api/2.2/jobs/runs/submit", json=body) as r:
                    r.raise_for_status()
                    done[0] += 1
                    return int((await r.json())["run_id"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def _start_foreign(shape: Shape) -> subprocess.Popen[str] | None:
    """Start the foreign-run process and wait until its existing runs are in; ``None`` when quiet."""
    if not shape.foreign_existing and not shape.foreign_rate:
        return None
    cmd = [sys.executable, "-m", "bench._foreign", "--existing", str(shape.foreign_existing)]
    cmd += ["--rate", str(shape.foreign_rate), "--duration", str(shape.foreign_duration)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the foreign-run process did not start")
    return proc


def _stop_foreign(proc: subprocess.Popen[str] | None) -> None:
    if proc is not None:
        proc.communicate(timeout=30)  # closes its stdin: it stops submitting and exits


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


async def _look_up_connection_once() -> None:
    """Read the connection once both ways, so the modules a first lookup imports are not trigger CPU.

    Airflow's own lookup only: neither implementation's cache of the result is warmed.
    """
    from airflow.sdk import BaseHook

    BaseHook.get_connection(CONN_ID)
    await BaseHook.aget_connection(CONN_ID)


async def _drive(trigger: Any) -> tuple[float, str]:
    """Run one trigger as the triggerer does; keep only when its event came and whether it succeeded."""
    events: AsyncIterator[Any] = trigger.run()
    async for event in events:
        at, payload = time.time(), event.payload
        if "statement_id" in payload:
            ok = event_succeeded(payload)
        else:
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
    shape = _shapes(args)[args.shape]
    make: Callable[[Any], Any]
    if shape.statements:
        make = statement_trigger_factory(args.impl, args.poll, CONN_ID)
    else:
        make = _trigger_factory(args.impl, args.poll, url)
    example: Any = "0" if shape.statements else 0
    make(example)  # warm up before the runs start: first-use imports and caches are not per-run costs
    await _look_up_connection_once()
    _quiet_logs()  # after Airflow's import has set up its own logging
    began = time.monotonic()
    watched: list[Any]
    if shape.statements:
        await watch_one_first(url, token, ssl_ctx, args.impl, CONN_ID)
        watched = await submit_statements(url, token, ssl_ctx, args.n, shape.duration)
    else:
        watched = await _submit_runs(url, token, ssl_ctx, args.n, shape.duration, shape.foreign_existing)
    submitted = time.monotonic()
    foreign = _start_foreign(shape)
    try:
        summary = await _measure(args, make, url, ssl_ctx, watched)
    finally:
        _stop_foreign(foreign)
    summary["seconds"] = {"submit": submitted - began, "total": time.monotonic() - began}
    return summary


async def _measure(
    args: argparse.Namespace,
    make: Callable[[Any], Any],
    url: str,
    ssl_ctx: ssl.SSLContext,
    run_ids: list[Any],
) -> dict[str, Any]:
    stats0 = await _admin(url, ssl_ctx, "stats")
    gc.collect()
    rss0, cpu0, peak, started = _rss_bytes(), time.process_time(), [0], time.time()
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
    end_of: dict[Any, float]
    if args.shape == "statements":
        end_of = dict(statement_ends(await _admin(url, ssl_ctx, "statements")))
    else:
        end_of = {
            int(r["run_id"]): int(r["end_time"]) / 1000.0
            for r in (await _admin(url, ssl_ctx, "runs"))["runs"]
        }
    summary = _summarise(args, run_ids, results, end_of, (stats0, stats1), cpu, peak[0] - rss0)
    ends = [end_of[rid] for rid in run_ids]
    summary["ended_before_triggers"] = sum(1 for end in ends if end < started)
    return summary


def _summarise(
    args: argparse.Namespace,
    run_ids: list[Any],
    results: list[tuple[float, Any]],
    end_of: dict[Any, float],
    stats: tuple[dict[str, Any], dict[str, Any]],
    cpu: float,
    rss_growth: int,
) -> dict[str, Any]:
    requests = _delta(_api_counts(stats[1]), _api_counts(stats[0]))
    requests = _per_endpoint({k: v for k, v in requests.items() if not _is_submit(k)})
    total = sum(requests.values())
    polls = _count_polls(args.impl, args.shape, requests)
    lags = sorted(at - end_of[rid] for rid, (at, _) in zip(run_ids, results, strict=True))
    conns = int(stats[1].get("connections", 0)) - int(stats[0].get("connections", 0))
    return {
        "shape": args.shape,
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
        "cpu_per_run": cpu / args.n,
        "rss_per_run_bytes": max(rss_growth, 0) / args.n,
        "lag_p50": lags[len(lags) // 2],
        "lag_p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        "lag_max": lags[-1],
    }


def _per_endpoint(requests: dict[str, int]) -> dict[str, int]:
    """Counts per endpoint: the emulator counts each statement's path apart; add them up."""
    merged: dict[str, int] = {}
    for key, count in requests.items():
        key = STATEMENT_GET if is_statement_get(key) else key
        merged[key] = merged.get(key, 0) + count
    return merged


def _is_submit(endpoint: str) -> bool:
    return endpoint.endswith("/runs/submit") or endpoint.rstrip("/") == STATEMENT_SUBMIT


def _count_polls(impl: str, shape: str, requests: dict[str, int]) -> int:
    """A poll is one check of one run's (or statement's) state by one trigger."""
    if shape == "statements":  # no list endpoint: every check is one GET of one statement
        return requests.get(STATEMENT_GET, 0)
    if impl == "official":
        return sum(v for k, v in requests.items() if k.endswith("/runs/get"))
    from airflow_dbx_async.triggers import poll_counter

    return poll_counter.value


def _child_command(impl: str, shape: str, n: int, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "bench.triggerer_load", "--child", "--impl", impl, "--n", str(n)]
    cmd += ["--shapes", shape, "--poll", str(args.poll), "--duration", str(args.duration)]
    cmd += ["--long-duration", str(args.long_duration), "--short-duration", str(args.short_duration)]
    cmd += ["--foreign-existing", str(args.foreign_existing), "--foreign-rate", str(args.foreign_rate)]
    return [*cmd, "--foreign-duration", str(args.foreign_duration)]


def _run_child(
    impl: str, shape: str, n: int, emulator: EmulatorProcess, args: argparse.Namespace
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
        # The lag measured is the polling's: our triggers' hold after their start (a guard against a
        # scheduler race, docs/polling.md) is off, as no scheduler consumes these events.
        AIRFLOW__DATABRICKS_ASYNC__EVENT_HOLD_SECONDS="0",
        **{f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(conn)},
    )
    try:
        out = subprocess.run(
            _child_command(impl, shape, n, args),
            env=env,
            capture_output=True,
            text=True,
            timeout=args.child_timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        print(f"  {impl} {shape} N={n}: did not finish within {args.child_timeout:.0f} s", flush=True)
        return None
    except subprocess.CalledProcessError as exc:
        print(f"  {impl} {shape} N={n}: failed\n{exc.stderr[-3000:]}", flush=True)
        return None
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPE_NAMES), choices=SHAPE_NAMES)
    parser.add_argument("--n", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--impl", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS)
    parser.add_argument("--poll", type=float, default=30.0, help="polling_period_seconds for both triggers")
    parser.add_argument("--duration", type=float, default=30.0, help="mean watched run duration (s)")
    parser.add_argument("--long-duration", type=float, default=60.0, help="mean watched duration, long shape")
    parser.add_argument("--short-duration", type=float, default=5.0, help="mean foreign duration, long shape")
    parser.add_argument("--foreign-existing", type=int, default=5000, help="foreign runs newer than ours")
    parser.add_argument("--foreign-rate", type=float, default=5.0, help="new foreign runs per second")
    parser.add_argument("--foreign-duration", type=float, default=30.0, help="mean foreign duration, busy")
    parser.add_argument("--child-timeout", type=float, default=900.0)
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument(
        "--parallel-shapes", action="store_true", help="measure the shapes side by side (one emulator each)"
    )
    parser.add_argument("--from-json", help="print the tables of a file written by --json; measure nothing")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def _quiet_logs() -> None:
    """Send every log line of both implementations to /dev/null, formatted as usual.

    Importing Airflow configures logging to the console; in the child that is a pipe to the parent,
    whose writes would be counted as trigger CPU. A triggerer writes to files; /dev/null is closer.
    """
    devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    logging.basicConfig(level=logging.INFO, stream=devnull, force=True)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(devnull))


def _run_shape(shape: str, args: argparse.Namespace) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Every N and implementation of one shape, one after the other, on one emulator of its own."""
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    with EmulatorProcess(simulate=True, tls=True) as emulator:
        for n in args.n:
            for impl in args.impl:
                emulator.reset()
                print(f"running {impl} {shape} N={n:,} ...", flush=True)
                result = _run_child(impl, shape, n, emulator, args)
                if result is not None:
                    rows[(impl, shape, n)] = result
                    print("  " + json.dumps(result), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (parent) or one measurement (``--child``)."""
    args = _parser().parse_args(argv)
    if args.child:
        args.n, args.impl, args.shape = args.n[0], args.impl[0], args.shapes[0]
        print(json.dumps(asyncio.run(_child(args))), flush=True)
        return 0
    if args.from_json:
        return 0 if print_saved(args.from_json) else 1
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    started = time.monotonic()
    if args.parallel_shapes:  # one emulator and one sequence of measurements per shape, side by side
        with ThreadPoolExecutor(len(args.shapes)) as pool:
            for found in pool.map(lambda shape: _run_shape(shape, args), args.shapes):
                rows.update(found)
    else:
        for shape in args.shapes:
            rows.update(_run_shape(shape, args))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([rows[k] for k in sorted(rows)], fh, indent=1)
    print_table(rows, args.shapes, args.n)
    met = print_targets(rows, args.shapes, args.n, args.poll)
    print(f"\ntotal wall time {time.monotonic() - started:.0f} s")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
