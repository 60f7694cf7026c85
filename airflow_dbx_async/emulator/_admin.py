"""Admin endpoints under ``/_emulator/``: counters, fault control, run listing, reset, job seeding.

They need no authentication and are never faulted, so tests can always observe and steer the emulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_dbx_async.emulator._keys import CONNECTIONS, FAULTS, STATE
from airflow_dbx_async.emulator._model import run_phase, task_phase
from airflow_dbx_async.emulator._params import get_int, invalid, json_response, read_params
from airflow_dbx_async.emulator.config import FaultConfig

if TYPE_CHECKING:
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("admin_routes",)


def _state(request: web.Request) -> EmulatorState:
    state: EmulatorState = request.app[STATE]
    return state


async def _stats(request: web.Request) -> web.Response:
    state = _state(request)
    stats = state.stats
    body = {
        "requests": dict(stats.requests),
        "requests_total": sum(stats.requests.values()),
        "connections": stats.connections,
        "active_runs": state.active_runs(),
        "runs_total": len(state.runs),
        "submits": stats.submits,
        "submits_by_token": dict(stats.submits_by_token),
        "faults_injected": dict(stats.faults),
    }
    return json_response(body)


async def _get_faults(request: web.Request) -> web.Response:
    return json_response(request.app[FAULTS].config.to_json())


async def _set_faults(request: web.Request) -> web.Response:
    params = await read_params(request)
    try:
        config = FaultConfig.from_json(params)
    except (TypeError, ValueError) as exc:
        raise invalid(str(exc)) from None
    request.app[FAULTS].configure(config)
    return json_response(config.to_json())


def _run_summary(state: EmulatorState, run: Any, now: int) -> dict[str, Any]:
    phase = run_phase(run, now)
    tasks = []
    for task in run.tasks:
        tp = task_phase(task, now)
        tasks.append(
            {
                "run_id": task.run_id,
                "task_key": task.task_key,
                "life_cycle_state": tp.life_cycle,
                "result_state": tp.outcome.result_state if tp.outcome else None,
            }
        )
    return {
        "run_id": run.run_id,
        "job_id": run.job_id,
        "run_name": run.run_name,
        "run_type": run.run_type,
        "life_cycle_state": phase.life_cycle,
        "result_state": phase.outcome.result_state if phase.outcome else None,
        "idempotency_token": run.idempotency_token,
        "start_time": run.created_ms,
        "end_time": max((t.end_ms or 0 for t in run.tasks), default=0) if phase.outcome else 0,
        "tasks": tasks,
    }


async def _runs(request: web.Request) -> web.Response:
    state = _state(request)
    now = state.now_ms()
    runs = [_run_summary(state, run, now) for run in sorted(state.runs.values(), key=lambda r: r.run_id)]
    return json_response({"runs": runs})


async def _reset(request: web.Request) -> web.Response:
    state = _state(request)
    if state.runner is not None:
        await state.runner.shutdown()
    state.reset()
    # Clear in place: assigning app state after start-up is deprecated (a warning, an error under -W error).
    request.app[CONNECTIONS].clear()
    return json_response({})


async def _create_job(request: web.Request) -> web.Response:
    params = await read_params(request)
    job_id = get_int(params, "job_id", required=True)
    settings = params.get("settings")
    body = settings if isinstance(settings, dict) else {k: v for k, v in params.items() if k != "job_id"}
    return json_response({"job_id": _state(request).create_job(body, job_id=job_id)})


async def _jobs(request: web.Request) -> web.Response:
    state = _state(request)
    return json_response({"jobs": [state.jobs[k] for k in sorted(state.jobs)]})


def admin_routes() -> list[web.RouteDef]:
    """Routes under ``/_emulator/``."""
    return [
        web.get("/_emulator/stats", _stats),
        web.get("/_emulator/faults", _get_faults),
        web.post("/_emulator/faults", _set_faults),
        web.get("/_emulator/runs", _runs),
        web.post("/_emulator/reset", _reset),
        web.get("/_emulator/jobs", _jobs),
        web.post("/_emulator/jobs", _create_job),
    ]
