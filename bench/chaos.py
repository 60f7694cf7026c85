"""Chaos harness: many task tries through the real operator and trigger code against a faulty emulator.

Each task try runs the operator's ``execute`` (payload checks, idempotency token, submit with
retries, re-attach probing) in a worker thread, as a worker would; a deferral is serialized and its
trigger rebuilt from the kwargs, as the triggerer does, and ``run()`` watches the run to its one
event; ``execute_complete`` then turns the event into the task's outcome. Meanwhile the emulator
faults 20 % of API requests with 429 (with ``Retry-After``), 500, 503, dropped connections and stalls
longer than the client timeout, alternating between phase ``before`` (nothing processed) and phase
``after`` (processed, answer lost).

Three kinds of task: ``plain`` (one try), ``retry`` (a second try after the first ended: it must
start a new run in the next slot) and ``reattach`` (the first try's worker dies after submitting; the
second try must re-attach to the still-active run, or start a new one only if that run had ended).

Run it with ``python -m bench.chaos [--runs 1000]``; the test suite runs it small.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog
from airflow.sdk.exceptions import TaskDeferred

from airflow_dbx_async import hooks as _hooks
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.operators import (
    DatabricksRunFailedError,
    DatabricksRunNowDeferrableOperator,
    DatabricksSubmitRunDeferrableOperator,
)
from airflow_dbx_async.triggers import DatabricksRunTrigger
from bench._chaos_model import (
    DAG_ID,
    FAULT_KINDS,
    JOB_FAIL,
    JOB_FAIL_ERROR,
    JOB_OK,
    RUN_ID,
    ChaosReport,
    ChaosSettings,
    TaskSpec,
    TryRecord,
    judge_chaos,
    plan_tasks,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.sdk import Connection

    from airflow_dbx_async.client import ClientConfig
    from airflow_dbx_async.operators import DatabricksDeferrableOperatorBase

__all__ = (
    "FAULT_KINDS",
    "ChaosReport",
    "ChaosSettings",
    "TaskSpec",
    "chaos_connection",
    "plan_tasks",
    "run_chaos",
)

CONN_ID = "dbx_chaos"


@contextlib.contextmanager
def chaos_connection(url: str, token: str, client_timeout: float) -> Iterator[None]:
    """Point ``CONN_ID`` at ``url`` and cap every client's request timeout at ``client_timeout``.

    The connection carries no timeout setting, so the one from the hook's configuration is replaced.
    """
    name = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    body = {"conn_type": "databricks", "host": url, "password": token}
    original = _hooks.connection_to_config

    def with_timeout(
        conn: Connection, *, retry_limit: int = 3, retry_delay: float = 1.0, api_version: str = "2.2"
    ) -> ClientConfig:
        config = original(conn, retry_limit=retry_limit, retry_delay=retry_delay, api_version=api_version)
        return dataclasses.replace(config, timeout_seconds=client_timeout)

    previous = os.environ.get(name)
    os.environ[name] = json.dumps(body)
    _hooks.connection_to_config = with_timeout
    try:
        yield
    finally:
        _hooks.connection_to_config = original
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


# -- one task try --------------------------------------------------------------------------------


@dataclass
class _TI:
    """The parts of Airflow's runtime task instance that the operators use."""

    task_id: str
    start_date: datetime
    try_number: int
    dag_id: str = DAG_ID
    run_id: str = RUN_ID
    map_index: int = -1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def _operator(spec: TaskSpec, settings: ChaosSettings) -> DatabricksDeferrableOperatorBase:
    common: dict[str, Any] = {
        "task_id": spec.task_id,
        "databricks_conn_id": CONN_ID,
        "polling_period_seconds": settings.polling_period,
        "databricks_retry_limit": settings.retry_limit,
        "databricks_retry_delay": settings.retry_delay,
    }
    if spec.operator == "run_now_id":
        return DatabricksRunNowDeferrableOperator(job_id=JOB_FAIL if spec.fails else JOB_OK, **common)
    if spec.operator == "run_now_name":
        return DatabricksRunNowDeferrableOperator(job_name=_job_name(spec.fails), **common)
    params = {"sim_duration_seconds": str(spec.duration)}
    if spec.fails:
        params["sim_error"] = spec.error_text
    notebook = {"notebook_path": "/Shared/chaos", "base_parameters": params}
    return DatabricksSubmitRunDeferrableOperator(
        tasks=[{"task_key": "main", "notebook_task": notebook}], **common
    )


def _job_name(fails: bool) -> str:
    return "chaos-fail" if fails else "chaos-ok"


def _execute(op: DatabricksDeferrableOperatorBase, context: Any) -> tuple[str, str, Any]:
    """``execute`` as a worker runs it; returns (outcome, message, trigger or None)."""
    try:
        op.execute(context)
    except TaskDeferred as deferred:
        if deferred.method_name != "execute_complete":
            return "crashed", f"deferred to {deferred.method_name!r}", None
        return "deferred", "", deferred.trigger
    except DatabricksRunFailedError as exc:
        return "failed", str(exc), None
    except Exception as exc:
        return "crashed", f"{type(exc).__name__}: {exc}", None
    return "success", "", None


def _complete(op: DatabricksDeferrableOperatorBase, context: Any, payload: Any) -> tuple[str, str]:
    try:
        op.execute_complete(context, payload)
    except DatabricksRunFailedError as exc:
        return "failed", str(exc)
    except Exception as exc:
        return "crashed", f"{type(exc).__name__}: {exc}"
    return "success", ""


async def _one_try(
    spec: TaskSpec, try_number: int, settings: ChaosSettings, pool: ThreadPoolExecutor, *, watch: bool
) -> TryRecord:
    op = _operator(spec, settings)
    ti = _TI(task_id=spec.task_id, start_date=datetime.now(UTC), try_number=try_number)
    context = {"ti": ti}
    record = TryRecord(spec, try_number, int(ti.start_date.timestamp() * 1000), watched=watch)
    loop = asyncio.get_running_loop()
    record.outcome, record.message, trigger = await loop.run_in_executor(pool, _execute, op, context)
    record.run_id = ti.pushed.get("run_id")
    if trigger is None:
        return record
    record.deferred = True
    if not watch:  # the worker dies before the deferral is recorded; the run goes on unwatched
        record.outcome = "abandoned"
        return record
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("DatabricksRunTrigger")
    rebuilt = DatabricksRunTrigger(**json.loads(json.dumps(kwargs)))  # what the triggerer stores and loads
    events = [event async for event in rebuilt.run()]
    record.events = len(events)
    if events:  # in a worker thread, as Airflow resumes a task: it fetches the failure details there
        complete = partial(_complete, op, context, events[0].payload)
        record.outcome, record.message = await loop.run_in_executor(pool, complete)
    return record


async def _run_task(spec: TaskSpec, settings: ChaosSettings, pool: ThreadPoolExecutor) -> list[TryRecord]:
    # Tasks start spread over the run, so both fault phases meet every kind of request.
    await asyncio.sleep(random.Random(spec.index).uniform(0, settings.start_spread * settings.tries))
    first = await _one_try(spec, 1, settings, pool, watch=spec.kind != "reattach")
    if spec.kind == "plain":
        return [first]
    return [first, await _one_try(spec, 2, settings, pool, watch=True)]


# -- emulator control -----------------------------------------------------------------------------


async def _admin(session: aiohttp.ClientSession, url: str, path: str, body: Any = None) -> Any:
    method = "GET" if body is None else "POST"
    async with session.request(method, f"{url}/_emulator/{path}", json=body) as response:
        response.raise_for_status()
        return await response.json()


async def _seed_jobs(session: aiohttp.ClientSession, url: str, settings: ChaosSettings) -> None:
    for job_id, fails in ((JOB_OK, False), (JOB_FAIL, True)):
        task: dict[str, Any] = {
            "task_key": "main",
            "notebook_task": {"notebook_path": "/Shared/chaos-job"},
            "sim_duration_seconds": (settings.min_duration + settings.max_duration) / 2,
        }
        if fails:
            task["sim_error"] = JOB_FAIL_ERROR
        settings_body = {"name": _job_name(fails), "tasks": [task], "max_concurrent_runs": 1000}
        await _admin(session, url, "jobs", {"job_id": job_id, "settings": settings_body})


async def _alternate_phases(
    session: aiohttp.ClientSession, url: str, settings: ChaosSettings, by_phase: Counter[str]
) -> None:
    """Switch the fault phase every ``phase_seconds``, counting the faults each phase injected."""
    phase, seed, seen = "before", settings.seed, 0
    try:
        while True:
            faults = {
                "rate": settings.fault_rate,
                "kinds": list(FAULT_KINDS),
                "seed": seed,
                "stall_seconds": settings.stall_seconds,
                "phase": phase,
            }
            await _admin(session, url, "faults", faults)
            await asyncio.sleep(settings.phase_seconds)
            total = sum((await _admin(session, url, "stats"))["faults_injected"].values())
            by_phase[phase] += total - seen
            phase, seed, seen = ("after" if phase == "before" else "before"), seed + 1, total
    finally:
        await _admin(session, url, "faults", {"rate": 0})
        total = sum((await _admin(session, url, "stats"))["faults_injected"].values())
        by_phase[phase] += total - seen


# -- judging --------------------------------------------------------------------------------------


async def run_chaos(settings: ChaosSettings) -> ChaosReport:
    """Run the whole harness against a fresh in-process emulator and judge the outcome."""
    specs = plan_tasks(settings)
    report = ChaosReport(settings, tasks=len(specs), tries=sum(s.tries for s in specs))
    config = EmulatorConfig(simulate=True, tokens=(settings.token,))
    async with EmulatorServer(config) as server, aiohttp.ClientSession() as admin:
        await _seed_jobs(admin, server.url, settings)
        with chaos_connection(server.url, settings.token, settings.client_timeout):
            started = time.monotonic()
            chaos = asyncio.create_task(
                _alternate_phases(admin, server.url, settings, report.faults_by_phase)
            )
            with ThreadPoolExecutor(settings.workers, thread_name_prefix="chaos-worker") as pool:
                try:
                    groups = await asyncio.gather(*(_run_task(s, settings, pool) for s in specs))
                finally:
                    chaos.cancel()
                    await asyncio.gather(chaos, return_exceptions=True)
            report.wall_seconds = time.monotonic() - started
        stats = await _admin(admin, server.url, "stats")
        runs = (await _admin(admin, server.url, "runs"))["runs"]
    report.faults.update(stats["faults_injected"])
    report.requests_total = stats["requests_total"]
    report.runs_total = len(runs)
    report.runs_left_active = stats["active_runs"]
    judge_chaos(report, specs, [r for group in groups for r in group], runs, settings.token)
    if report.runs_left_active:
        report.problems.append(f"{report.runs_left_active} runs left active")
    return report


def _quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    logging.disable(logging.CRITICAL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1000, help="task tries (default 1000)")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--stall-seconds", type=float, default=5.0)
    parser.add_argument("--client-timeout", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=32, help="worker threads running execute()")
    args = parser.parse_args(argv)
    _quiet_logs()
    settings = ChaosSettings(
        tries=args.runs,
        fault_rate=args.fault_rate,
        stall_seconds=args.stall_seconds,
        client_timeout=args.client_timeout,
        seed=args.seed,
        workers=args.workers,
    )
    report = asyncio.run(run_chaos(settings))
    print(report.table())
    for problem in report.problems[:20]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
