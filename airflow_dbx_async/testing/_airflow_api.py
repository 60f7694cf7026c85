"""Airflow's REST API (``/api/v2``) from synchronous test code, on the standard library.

Only what end-to-end tests and the demo need: health, DAG listing, triggering a run, task
instance state and tries, task logs flattened to readable lines, and patching a task's state.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from airflow_dbx_async.testing._http import HttpError, request_json

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

__all__ = ("AirflowApi", "TERMINAL_TASK_STATES", "flatten_log")

T = TypeVar("T")

TERMINAL_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
_STANDARD_KEYS = frozenset({"timestamp", "level", "logger", "event", "error_detail", "sources", "chan"})


def _q(part: str) -> str:
    return quote(part, safe="")


def poll(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something other than ``None``; ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = probe()
        except (OSError, HttpError) as exc:  # not up yet, or a transient error
            result, last_error = None, exc
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}{detail}")
        time.sleep(interval)


class AirflowApi:
    """Client for one Airflow API server.

    :param base_url: e.g. ``http://127.0.0.1:8080`` (auth-free: the stack runs with all users admin).
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request to ``/api/v2/{path}``."""
        return request_json(method, f"{self.base_url}/api/v2/{path.lstrip('/')}", body)

    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health``."""
        result: dict[str, Any] = self.call("GET", "monitor/health")
        return result

    def unhealthy_components(self) -> list[str]:
        """Components of :data:`HEALTH_COMPONENTS` not reported healthy."""
        health = self.health()
        return [name for name in HEALTH_COMPONENTS if (health.get(name) or {}).get("status") != "healthy"]

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Wait until the metadatabase, scheduler, triggerer and DAG processor are healthy."""
        poll(
            "every Airflow component to be healthy",
            lambda: self.unhealthy_components() == [] or None,
            timeout,
        )

    def dag_ids(self) -> set[str]:
        """Ids of the DAGs the API server knows."""
        dags = self.call("GET", "dags?limit=1000")["dags"]
        return {dag["dag_id"] for dag in dags}

    def wait_dag_listed(self, dag_ids: Iterable[str], timeout: float = 120.0) -> None:
        """Wait until every DAG of ``dag_ids`` is parsed and listed."""
        wanted = set(dag_ids)
        poll(f"DAGs {sorted(wanted)} to be listed", lambda: wanted <= self.dag_ids() or None, timeout)

    def trigger_dag(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Create a DAG run now; returns its run id."""
        body = {
            "dag_run_id": run_id or f"e2e__{uuid.uuid4().hex[:12]}",
            "logical_date": None,
            "conf": conf or {},
        }
        result = self.call("POST", f"dags/{_q(dag_id)}/dagRuns", body)
        return str(result["dag_run_id"])

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """State of a DAG run."""
        result: dict[str, Any] = self.call("GET", f"dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")
        state = result.get("state")
        return None if state is None else str(state)

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """The task instance resource (state, try_number, ...)."""
        path = f"dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
        result: dict[str, Any] = self.call("GET", path)
        return result

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        """Current state of a task instance (``None`` before it is scheduled)."""
        state = self.task_instance(dag_id, run_id, task_id).get("state")
        return None if state is None else str(state)

    def wait_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: str | Collection[str],
        timeout: float = 180.0,
        on_state: Callable[[str | None], None] | None = None,
    ) -> str:
        """Wait until the task reaches one of ``states``; ``on_state`` sees every state polled."""
        wanted = {states} if isinstance(states, str) else set(states)

        def probe() -> str | None:
            state = self.task_state(dag_id, run_id, task_id)
            if on_state is not None:
                on_state(state)
            return state if state in wanted else None

        return poll(f"{dag_id}.{task_id} in {run_id} to reach {sorted(wanted)}", probe, timeout, 0.3)

    def task_tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of a task instance (``.../tries``), oldest first."""
        path = f"dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/tries"
        tries: list[dict[str, Any]] = self.call("GET", path)["task_instances"]
        return sorted(tries, key=lambda t: int(t.get("try_number") or 0))

    def task_log_events(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[Any]:
        """The structured log events of one try (the trigger's lines included)."""
        path = (
            f"dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/logs/{try_number}"
            "?full_content=true"
        )
        content = self.call("GET", path).get("content")
        return content if isinstance(content, list) else [content]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[str]:
        """One try's log as readable lines, each with its level and logger (see :func:`flatten_log`)."""
        return flatten_log(self.task_log_events(dag_id, run_id, task_id, try_number))

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """The value of one XCom entry (``None`` when it does not exist)."""
        path = (
            f"dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}/xcomEntries/{_q(key)}"
            "?deserialize=true"
        )
        try:
            return self.call("GET", path).get("value")
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, new_state: str) -> Any:
        """``PATCH`` a task instance's state (e.g. mark a deferred task ``failed``)."""
        path = f"dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
        return self.call("PATCH", path, {"new_state": new_state})


def flatten_log(events: Iterable[Any]) -> list[str]:
    """Structured log events as text lines: ``[level] logger: event key=value``.

    Lines of the "sources" header name the log files (a ``.trigger.`` one holds the lines logged
    in the triggerer); an ``error_detail`` is rendered as a traceback.
    """
    lines: list[str] = []
    for event in events:
        if not isinstance(event, dict):
            lines.extend(str(event).splitlines())
            continue
        extras = " ".join(f"{k}={v}" for k, v in event.items() if k not in _STANDARD_KEYS)
        level, logger = event.get("level"), event.get("logger")
        head = f"[{level}] " if level else ""
        head += f"{logger}: " if logger else ""
        head += str(event.get("event", ""))
        lines.append(f"{head} {extras}".rstrip())
        for source in event.get("sources") or ():
            lines.append(f"  source: {source}")
        lines.extend(_render_error_detail(event.get("error_detail")))
    return lines


def _render_error_detail(detail: Any) -> list[str]:
    if not detail:
        return []
    if not isinstance(detail, list):
        return [f"  {line}" for line in str(detail).splitlines()]
    lines = ["Traceback (most recent call last):"]
    for exc in detail:
        if not isinstance(exc, dict):
            lines.append(str(exc))
            continue
        for frame in exc.get("frames") or ():
            lines.append(
                f'  File "{frame.get("filename")}", line {frame.get("lineno")}, in {frame.get("name")}'
            )
        lines.append(f"{exc.get('exc_type')}: {exc.get('exc_value')}")
    return lines
