"""Airflow plugin: a task instance's Databricks run in the Airflow 3 UI, and the workflow group's repair.

The plugin mounts a small FastAPI app in Airflow's API server (``fastapi_apps``), so it works with any
auth manager, the default simple one included. The "Repair All Failed Tasks" and "Repair a single
task" links open ``GET .../repair/{dag_id}/{dag_run_id}/{task_id}``, a page that names the tasks to
repair; its button posts to the same address. The caller is identified as by Airflow's own API (a
bearer token, or the UI's session cookie), and must be allowed to clear task instances of the DAG
(``PUT`` on its task instances), the permission Airflow's own "Clear" needs. A post must say where
it comes from (``Origin``, else ``Referer``) and come from this site. The repair pages may not be
framed (``X-Frame-Options: DENY``, ``frame-ancestors 'none'``). A failed repair answers generically;
the reason goes to the API server's log. ``[databricks_async] repair_plugin_enabled = False`` turns
the repair routes off (404) and empties the repair links. The repair itself is in
``workflow/_ui_repair.py``.

The "Databricks" tab of every task instance (an ``external_views`` entry, destination
``task_instance``) opens ``GET .../run/{dag_id}/{dag_run_id}/{task_id}?map_index=N`` in a frame of the
Airflow UI: the task's Databricks run as a timeline, with the failed tasks' reports, or its SQL
statement with its failure report (``workflow/_ui_run.py`` finds and reads them,
``workflow/_run_view.py`` renders them). The caller must be allowed to read the DAG's task instances
(``GET``); the page may be framed by this site only (``frame-ancestors 'self'``), and its style sheet
and script carry the response's CSP nonce.
"""

from __future__ import annotations

import html
import logging
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from airflow_dbx_async._compat import AirflowPlugin
from airflow_dbx_async.links import REPAIR_URL_PREFIX, repair_plugin_enabled
from airflow_dbx_async.workflow._run_view import THEMES, render_message
from airflow_dbx_async.workflow._ui_repair import (
    GENERIC_FAILURE,
    RepairError,
    RepairPlan,
    clear_tasks,
    plan_repair,
    repair_in_databricks,
)
from airflow_dbx_async.workflow._ui_run import VIEW_FAILURE, TabTarget, TaskRef, locate

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ("DatabricksWorkflowRepairPlugin", "app")

_ROUTE = "/repair/{dag_id}/{dag_run_id}/{task_id}"
_VIEW_ROUTE = "/run/{dag_id}/{dag_run_id}/{task_id}"
_NOT_FOUND = {"detail": "Not Found"}

_NO_FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
_log = logging.getLogger(__name__)

app = FastAPI(title="Databricks workflow repair", docs_url=None, redoc_url=None, openapi_url=None)


@app.middleware("http")
async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """No page of the plugin may be framed (clickjacking), but the tab that says it may (same site)."""
    response = await call_next(request)
    for name, value in _NO_FRAMING.items():
        response.headers.setdefault(name, value)
    return response


def _frameable(nonce: str) -> dict[str, str]:
    """The tab's headers: framed by this site only; nothing loaded but its own nonced style and script."""
    policy = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
    return {"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": policy, "Cache-Control": "no-store"}


async def _authorize(request: Request, dag_id: str, method: str) -> None:
    """Raise 401/403 unless the caller may read (GET) or clear (PUT) the DAG's task instances."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
    from airflow.models.dag import DagModel

    credentials = await bearer_scheme(request)
    user = await get_user(request, None, credentials)
    allowed = get_auth_manager().is_authorized_dag(
        method=method,  # type: ignore[arg-type]
        access_entity=DagAccessEntity.TASK_INSTANCE,
        details=DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id)),
        user=user,
    )
    if not allowed:
        what = "read" if method == "GET" else "clear"
        raise RepairError(403, f"Forbidden: you may not {what} task instances of this DAG")


def _same_origin(request: Request) -> bool:
    """Whether the post says it comes from this site: ``Origin``, else ``Referer``; neither is refused."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    host = request.headers.get("host", "")
    return bool(host) and urlsplit(source).netloc == host


async def _with_session(fn: Callable[..., Any], *args: Any) -> Any:
    from airflow.utils.session import create_session
    from starlette.concurrency import run_in_threadpool

    def call() -> Any:
        with create_session() as session:
            return fn(session, *args)

    return await run_in_threadpool(call)


def _error(exc: Exception) -> Response:
    from fastapi import HTTPException

    if isinstance(exc, HTTPException):  # raised by Airflow's authentication
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    if isinstance(exc, RepairError):
        return JSONResponse({"detail": exc.message}, status_code=exc.status)
    _log.error("Databricks workflow repair failed", exc_info=exc)
    return JSONResponse({"detail": GENERIC_FAILURE}, status_code=502)


def _page(plan: RepairPlan) -> str:
    rows = "".join(
        f"<li>{html.escape(task_id)} ({html.escape(str(plan.states.get(task_id)))})</li>"
        for task_id in plan.task_ids
    )
    what = f"<ul>{rows}</ul>" if rows else "<p>No failed tasks to repair.</p>"
    button = '<button type="submit">Repair</button>' if rows else ""
    return (
        "<!doctype html><html><head><title>Repair Databricks job run</title></head><body>"
        f"<h1>Repair Databricks job run {plan.metadata.run_id}</h1>"
        f"<p>DAG {html.escape(plan.dag_id)}, run {html.escape(plan.dag_run_id)}. "
        "Databricks re-runs these tasks in the same job run; "
        "Airflow clears them so they watch the new runs:</p>"
        f'{what}<form method="post">{button}</form></body></html>'
    )


@app.get(_ROUTE, response_class=HTMLResponse)
async def repair_page(request: Request, dag_id: str, dag_run_id: str, task_id: str) -> Response:
    """The confirmation page: which tasks a repair would re-run."""
    if not repair_plugin_enabled():
        return JSONResponse(_NOT_FOUND, status_code=404)
    try:
        await _authorize(request, dag_id, "GET")
        plan: RepairPlan = await _with_session(plan_repair, dag_id, dag_run_id, task_id)
    except Exception as exc:
        return _error(exc)
    return HTMLResponse(_page(plan))


@app.post(_ROUTE)
async def repair(request: Request, dag_id: str, dag_run_id: str, task_id: str) -> Response:
    """Repair in Databricks, then clear the Airflow tasks; redirect a browser back to the DAG run."""
    if not repair_plugin_enabled():
        return JSONResponse(_NOT_FOUND, status_code=404)
    try:
        if not _same_origin(request):
            raise RepairError(403, "Forbidden: a repair must be posted from this site (Origin or Referer)")
        await _authorize(request, dag_id, "PUT")
        plan: RepairPlan = await _with_session(plan_repair, dag_id, dag_run_id, task_id)
        repair_id = await repair_in_databricks(plan)
        cleared: int = await _with_session(clear_tasks, plan)
    except Exception as exc:
        return _error(exc)
    if "text/html" in request.headers.get("accept", ""):
        target = f"/dags/{quote(dag_id, safe='')}/runs/{quote(dag_run_id, safe='')}"
        return RedirectResponse(f"{_base_path()}{target}", status_code=303)
    body = {"repair_id": repair_id, "databricks_run_id": plan.metadata.run_id}
    return JSONResponse(
        {**body, "task_ids": list(plan.task_ids), "task_keys": list(plan.task_keys), "cleared": cleared}
    )


def _map_index(value: str) -> int:
    """The ``map_index`` query value; the UI leaves ``{MAP_INDEX}`` as is for a task that is not mapped."""
    try:
        return int(value)
    except ValueError:
        return -1


def _view_error(exc: Exception) -> tuple[int, str, str]:
    """The status, heading and text of the tab for a request that cannot be answered with a run."""
    from fastapi import HTTPException

    if isinstance(exc, HTTPException):  # raised by Airflow's authentication
        return exc.status_code, "Not allowed", str(exc.detail)
    if isinstance(exc, RepairError):
        text = VIEW_FAILURE if exc.message == GENERIC_FAILURE else exc.message
        return exc.status, "Nothing from Databricks to show", text
    _log.error("The Databricks tab failed", exc_info=exc)
    return 502, "Nothing from Databricks to show", VIEW_FAILURE


@app.get(_VIEW_ROUTE, response_class=HTMLResponse)
async def run_view(
    request: Request, dag_id: str, dag_run_id: str, task_id: str, map_index: str = "-1", theme: str = "auto"
) -> Response:
    """The task instance's Databricks tab: its run's timeline, failed tasks' reports and parameters."""
    nonce = secrets.token_urlsafe(16)
    theme = theme if theme in THEMES else "auto"
    ref = TaskRef(dag_id, dag_run_id, task_id, _map_index(map_index))
    try:
        await _authorize(request, dag_id, "GET")
        target: TabTarget = await _with_session(locate, ref)
        page, status = await target.page(nonce=nonce, theme=theme), 200
    except Exception as exc:
        status, title, text = _view_error(exc)
        page = render_message(title, text, nonce=nonce, theme=theme)
    return HTMLResponse(page, status_code=status, headers=_frameable(nonce))


def _base_path() -> str:
    from airflow.configuration import conf

    return urlsplit(str(conf.get("api", "base_url", fallback="") or "")).path.rstrip("/")


def _run_view_href() -> str:
    """The tab's address; the Airflow UI fills in the task instance's ids."""
    return f"{_base_path()}{REPAIR_URL_PREFIX}/run/{{DAG_ID}}/{{RUN_ID}}/{{TASK_ID}}?map_index={{MAP_INDEX}}"


class DatabricksWorkflowRepairPlugin(AirflowPlugin):
    """Serves the Databricks tab of task instances and the repair page of workflow groups."""

    name = "airflow_dbx_async_workflow_repair"
    fastapi_apps = [{"app": app, "url_prefix": REPAIR_URL_PREFIX, "name": "Databricks workflow repair"}]
    external_views = [
        {
            "name": "Databricks",
            "href": _run_view_href(),
            "destination": "task_instance",
            "url_route": "databricks_run",
        }
    ]
