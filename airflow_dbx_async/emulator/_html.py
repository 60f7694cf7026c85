"""Small HTML pages: the run list at ``/`` and one page per run at ``/run/{run_id}``.

``run_page_url`` has the Databricks form ``/?o=<workspace>#job/<job>/run/<run>``; the fragment never reaches
the server, so the index links every run to its ``/run/{run_id}`` page (a script follows the fragment).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from aiohttp import web

from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._model import Run, TaskRun, run_phase, task_phase
from airflow_dbx_async.emulator._params import ApiFailure

if TYPE_CHECKING:
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("html_routes",)

_STYLE = (
    "body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px}"
    "pre{background:#f6f6f6}"
)
_FOLLOW_FRAGMENT = (
    "<script>var m=location.hash.match(/run\\/(\\d+)/);if(m){location.replace('/run/'+m[1]);}</script>"
)


def _page(title: str, body: str) -> web.Response:
    text = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=text, content_type="text/html")


def _state_text(life_cycle: str, result: str | None) -> str:
    return escape(life_cycle + (f" / {result}" if result else ""))


async def _index(request: web.Request) -> web.Response:
    state: EmulatorState = request.app[STATE]
    now = state.now_ms()
    rows = []
    for run in sorted(state.runs.values(), key=lambda r: r.run_id, reverse=True)[:500]:
        phase = run_phase(run, now)
        result = phase.outcome.result_state if phase.outcome else None
        rows.append(
            f"<tr><td><a href='/run/{run.run_id}'>{run.run_id}</a></td><td>{escape(run.run_name)}</td>"
            f"<td>{run.job_id}</td><td>{_state_text(phase.life_cycle, result)}</td></tr>"
        )
    table = "<table><tr><th>run</th><th>name</th><th>job</th><th>state</th></tr>" + "".join(rows) + "</table>"
    return _page("Databricks Jobs API emulator", _FOLLOW_FRAGMENT + table)


def _task_block(task: TaskRun, now: int) -> str:
    phase = task_phase(task, now)
    result = phase.outcome.result_state if phase.outcome else None
    parts = [f"<h3>{escape(task.task_key)} (run {task.run_id}): {_state_text(phase.life_cycle, result)}</h3>"]
    if task.result is not None:
        parts.append(f"<p>Result: <code>{escape(task.result)}</code></p>")
    if task.error:
        parts.append(f"<p>Error: <code>{escape(task.error)}</code></p>")
    if task.error_trace:
        parts.append(f"<pre>{escape(task.error_trace)}</pre>")
    if task.logs:
        parts.append(f"<details open><summary>Logs</summary><pre>{escape(task.logs)}</pre></details>")
    return "".join(parts)


def _run_page(run: Run, now: int) -> web.Response:
    phase = run_phase(run, now)
    result = phase.outcome.result_state if phase.outcome else None
    head = (
        f"<p>Job {run.job_id}, {escape(run.run_type)}: <b>{_state_text(phase.life_cycle, result)}</b> "
        f"{escape(phase.message)}</p><p><a href='/'>all runs</a></p>"
    )
    return _page(f"Run {run.run_id}: {run.run_name}", head + "".join(_task_block(t, now) for t in run.tasks))


async def _run(request: web.Request) -> web.Response:
    state: EmulatorState = request.app[STATE]
    try:
        run, _ = state.lookup(int(request.match_info["run_id"]))
    except (ApiFailure, ValueError):
        raise web.HTTPNotFound(text="No such run") from None
    return _run_page(run, state.now_ms())


def html_routes() -> list[web.RouteDef]:
    """The index and run pages."""
    return [web.get("/", _index), web.get("/run/{run_id}", _run)]
