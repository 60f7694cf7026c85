"""``runs/list``: newest first, filtered, paged with keyset tokens so every page costs O(limit).

Clients that watch thousands of runs page through the whole list on every sweep; an offset-based
page would rescan all newer runs each time. Run ids grow with creation time here, so "newest first"
is "highest id first", and a page token simply remembers the last id shown.
"""

from __future__ import annotations

import base64
import bisect
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._model import TERMINAL, run_phase
from airflow_dbx_async.emulator._params import (
    get_bool,
    get_int,
    get_str,
    invalid,
    json_response,
    limit_and_offset,
    read_params,
)
from airflow_dbx_async.emulator._render import Renderer

if TYPE_CHECKING:
    from aiohttp import web

    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("list_runs",)

_MAX_LIMIT, _DEFAULT_LIMIT, _OFFSET_CAP = 26, 20, 10000
_TASK_PAGE = 100


def _encode(direction: str, run_id: int) -> str:
    return base64.urlsafe_b64encode(f"{direction}:{run_id}".encode()).decode()


def _decode(token: str) -> tuple[str, int]:
    """``("before", id)`` for the next page, ``("after", id)`` for the previous one."""
    try:
        direction, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if direction in ("before", "after"):
            return direction, int(value)
    except ValueError:
        pass
    raise invalid(f"Invalid page_token: {token[:40]!r}")


class _Filter:
    """The query's filters, applied one run at a time."""

    def __init__(self, params: dict[str, Any], now: int) -> None:
        self.active_only, self.completed_only = (
            get_bool(params, "active_only"),
            get_bool(params, "completed_only"),
        )
        if self.active_only and self.completed_only:
            raise invalid("active_only and completed_only cannot both be true.")
        self.job_id = get_int(params, "job_id", default=-1)
        self.run_type = get_str(params, "run_type")
        self.start_from, self.start_to = get_int(params, "start_time_from"), get_int(params, "start_time_to")
        self.now = now

    def __call__(self, run: Any) -> bool:
        if (self.job_id != -1 and run.job_id != self.job_id) or (
            self.run_type and run.run_type != self.run_type
        ):
            return False
        if (self.start_from and run.created_ms < self.start_from) or (
            self.start_to and run.created_ms > self.start_to
        ):
            return False
        if self.active_only or self.completed_only:
            return (run_phase(run, self.now).life_cycle in TERMINAL) == self.completed_only
        return True


def _select(
    state: EmulatorState, keep: _Filter, token: str, offset: int, limit: int
) -> tuple[list[Any], bool]:
    """The page's runs (newest first) and whether older runs follow."""
    ids = list(state.runs)  # ascending: ids are handed out in creation order
    direction, bound = _decode(token) if token else ("before", 0)
    if direction == "after":
        start = bisect.bisect_right(ids, bound)
        found = [state.runs[i] for i in ids[start:] if keep(state.runs[i])][:limit]
        older = any(keep(state.runs[i]) for i in reversed(ids[:start]))
        return list(reversed(found)), older
    end = bisect.bisect_left(ids, bound) if bound else len(ids)
    found, skipped = [], 0
    for index in range(end - 1, -1, -1):
        run = state.runs[ids[index]]
        if not keep(run):
            continue
        if skipped < offset:
            skipped += 1
            continue
        found.append(run)
        if len(found) > limit:
            break
    return found[:limit], len(found) > limit


async def list_runs(request: web.Request) -> web.Response:
    """``GET runs/list`` for API 2.1 (``has_more``) and 2.2 (tokens only)."""
    params = await read_params(request)
    state: EmulatorState = request.app[STATE]
    limit, offset = limit_and_offset(
        params, default=_DEFAULT_LIMIT, maximum=_MAX_LIMIT, offset_cap=_OFFSET_CAP
    )
    token = get_str(params, "page_token")
    render = Renderer(f"{request.scheme}://{request.host}", state.config.workspace_id, state.now_ms())
    runs, more = _select(state, _Filter(params, render.now), token, 0 if token else offset, limit)
    expand = get_bool(params, "expand_tasks")
    body: dict[str, Any] = {}
    if runs:
        v22 = request.match_info.get("version") == "2.2"
        body["runs"] = [_listed(render, run, expand, v22) for run in runs]
        if more:
            body["next_page_token"] = _encode("before", runs[-1].run_id)
        if token or offset:
            body["prev_page_token"] = _encode("after", runs[0].run_id)
    if request.match_info.get("version") != "2.2":
        body["has_more"] = more
    return json_response(body)


def _listed(render: Renderer, run: Any, expand: bool, v22: bool) -> dict[str, Any]:
    """One run of the list; on 2.2 with ``expand_tasks`` at most 100 tasks and the run's ``has_more``."""
    tasks = run.tasks if expand else []
    shown: dict[str, Any] = render.run(run, tasks[:_TASK_PAGE] if v22 else tasks)
    if not expand:
        shown.pop("tasks", None)
    elif v22:
        shown["has_more"] = len(tasks) > _TASK_PAGE
    return shown
