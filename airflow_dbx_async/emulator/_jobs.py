"""Saved jobs and the normalisation of task lists (multi-task and legacy single-task shapes)."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from airflow_dbx_async.emulator._params import invalid

__all__ = (
    "LEGACY_TASK_TYPES",
    "apply_run_parameters",
    "check_parameter_slots",
    "job_object",
    "job_settings",
    "merge_settings",
    "normalise_tasks",
    "select_only",
    "strip_nulls",
)

LEGACY_TASK_TYPES = (
    "notebook_task",
    "spark_jar_task",
    "spark_python_task",
    "spark_submit_task",
    "pipeline_task",
    "dbt_task",
    "python_wheel_task",
    "sql_task",
    "run_job_task",
)
_LEGACY_TASK_FIELDS = (
    "new_cluster",
    "existing_cluster_id",
    "libraries",
    "timeout_seconds",
    "environment_key",
    "sim_duration_seconds",
    "sim_result",
    "sim_error",
    "sim_output",
    "sim_print",
)
_TASK_KEY = re.compile(r"^[\w\-]{1,100}$")
_LEGACY_SLOTS = (
    "notebook_params",
    "python_params",
    "jar_params",
    "spark_submit_params",
    "python_named_params",
)


def strip_nulls(value: Any) -> Any:
    """A deep copy without ``null`` members (Databricks treats null as absent)."""
    if isinstance(value, Mapping):
        return {str(k): strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def _check_graph(tasks: list[dict[str, Any]]) -> None:
    keys = [t["task_key"] for t in tasks]
    if len(set(keys)) != len(keys):
        raise invalid("Task keys must be unique within a run.")
    graph = {t["task_key"]: [str(d.get("task_key")) for d in t.get("depends_on") or ()] for t in tasks}
    for key, deps in graph.items():
        for dep in deps:
            if dep not in graph:
                raise invalid(
                    f"Invalid dependency graph, task '{key}' depends on '{dep}' which was not found."
                )
    state: dict[str, int] = {}

    def visit(key: str) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            raise invalid(f"Invalid dependency graph, cycle detected at task '{key}'.")
        state[key] = 1
        for dep in graph[key]:
            visit(dep)
        state[key] = 2

    for key in graph:
        visit(key)


def normalise_tasks(body: Mapping[str, Any], default_key: str) -> list[dict[str, Any]]:
    """The task list of a submit or job body; a legacy single-task body gets key ``default_key``."""
    raw = body.get("tasks")
    if raw:
        if not isinstance(raw, list) or not all(isinstance(t, Mapping) for t in raw):
            raise invalid("tasks must be a list of objects.")
        tasks = [strip_nulls(t) for t in raw]
        for task in tasks:
            key = task.get("task_key")
            if not isinstance(key, str) or not _TASK_KEY.match(key):
                raise invalid(f"Invalid task_key {key!r}: it must match ^[\\w\\-]+$ and be 1-100 characters.")
        _check_graph(tasks)
        return tasks
    kinds = [k for k in LEGACY_TASK_TYPES if isinstance(body.get(k), Mapping)]
    if not kinds:
        raise invalid("At least one task is required.")
    single: dict[str, Any] = {"task_key": default_key[:100]}
    for name in (kinds[0], *_LEGACY_TASK_FIELDS):
        if body.get(name) is not None:
            single[name] = strip_nulls(body[name])
    return [single]


def param_text(value: Any) -> Any:
    """A ``map<string, string>`` value as the widget sees it: a JSON boolean becomes ``true``/``false``.

    The Jobs API reference types these maps as string to string and does not refuse other scalars; the
    service reads a JSON scalar as its JSON text, so ``true`` arrives as ``"true"`` (never ``"True"``).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if value is None or isinstance(value, str) else str(value)


def check_parameter_slots(body: Mapping[str, Any]) -> None:
    """Reject ``job_parameters`` combined with a legacy parameter slot, as Databricks does."""
    if body.get("job_parameters") and any(body.get(s) for s in _LEGACY_SLOTS):
        raise invalid("job_parameters cannot be combined with notebook_params, python_params or jar_params.")


def apply_run_parameters(tasks: list[dict[str, Any]], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Task copies with run-now/repair parameter slots applied (notebook_params win over base_parameters)."""
    out = copy.deepcopy(tasks)
    widgets = {**(params.get("job_parameters") or {}), **(params.get("notebook_params") or {})}
    for task in out:
        notebook = task.get("notebook_task")
        if isinstance(notebook, dict) and (widgets or notebook.get("base_parameters")):
            merged = {**(notebook.get("base_parameters") or {}), **widgets}
            notebook["base_parameters"] = {k: param_text(v) for k, v in merged.items()}
        python = task.get("spark_python_task")
        if isinstance(python, dict) and params.get("python_params") is not None:
            python["parameters"] = [str(p) for p in params["python_params"]]
    return out


def job_object(
    job_id: int, created_ms: int, settings: dict[str, Any], *, expand: bool = True
) -> dict[str, Any]:
    """A Job as returned by jobs/get (``expand=False`` drops tasks and clusters, as jobs/list does)."""
    shown = copy.deepcopy(settings)
    if expand:
        for task in shown.get("tasks", []):
            task.setdefault("run_if", "ALL_SUCCESS")
            task.setdefault("timeout_seconds", 0)
            if task.get("depends_on"):
                task["depends_on"] = sorted(task["depends_on"], key=lambda d: str(d.get("task_key")))
            if isinstance(task.get("notebook_task"), dict):
                task["notebook_task"].setdefault("source", "GIT" if shown.get("git_source") else "WORKSPACE")
    else:
        shown.pop("tasks", None)
        shown.pop("job_clusters", None)
    return {
        "job_id": job_id,
        "creator_user_name": "emulator@example.com",
        "run_as_user_name": "emulator@example.com",
        "created_time": created_ms,
        "settings": shown,
    }


def job_settings(body: Mapping[str, Any]) -> dict[str, Any]:
    """JobSettings of a create/reset body with server-side defaults filled in."""
    settings: dict[str, Any] = strip_nulls(
        {k: v for k, v in body.items() if k not in ("job_id", "access_control_list")}
    )
    settings.setdefault("name", "Untitled")
    if body.get("tasks") or any(isinstance(body.get(k), Mapping) for k in LEGACY_TASK_TYPES):
        settings["tasks"] = normalise_tasks(body, str(settings["name"]).replace(" ", "_") or "task")
        for kind in LEGACY_TASK_TYPES:
            settings.pop(kind, None)
    settings.setdefault("max_concurrent_runs", 1)
    settings.setdefault("timeout_seconds", 0)
    settings.setdefault("email_notifications", {})
    settings.setdefault("webhook_notifications", {})
    settings.setdefault("format", "MULTI_TASK")
    return settings


def _closure(start: str, edges: Mapping[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def select_only(tasks: list[dict[str, Any]], only: list[str]) -> list[dict[str, Any]]:
    """run-now ``only``: the named tasks, ``+key`` adding upstream and ``key+`` downstream tasks."""
    if not only:
        return tasks
    upstream = {t["task_key"]: [str(d.get("task_key")) for d in t.get("depends_on") or ()] for t in tasks}
    downstream: dict[str, list[str]] = {}
    for key, deps in upstream.items():
        for dep in deps:
            downstream.setdefault(dep, []).append(key)
    chosen: set[str] = set()
    for raw in only:
        key = raw.strip("+")
        if key not in upstream:
            raise invalid(f"Task {key!r} in only does not exist in the job.")
        chosen.add(key)
        if raw.startswith("+"):
            chosen |= _closure(key, upstream)
        if raw.endswith("+"):
            chosen |= _closure(key, downstream)
    return [t for t in tasks if t["task_key"] in chosen]


_KEYED_ARRAYS = {"tasks": "task_key", "job_clusters": "job_cluster_key"}


def _remove(settings: dict[str, Any], field: str) -> None:
    """One ``fields_to_remove`` entry: a top-level field, or ``tasks/<key>`` / ``job_clusters/<key>``."""
    name, _, key = field.partition("/")
    if not key:
        settings.pop(name, None)
        return
    if name not in _KEYED_ARRAYS:
        raise invalid(
            f"Invalid fields_to_remove entry {field[:60]!r}: "
            "only tasks/<key> and job_clusters/<key> can be nested."
        )
    entries = settings.get(name) or []
    kept = [e for e in entries if e.get(_KEYED_ARRAYS[name]) != key]
    if len(kept) == len(entries):
        raise invalid(f"Invalid fields_to_remove entry {field[:60]!r}: {name} has no entry {key!r}.")
    settings[name] = kept


def merge_settings(current: Mapping[str, Any], new: Mapping[str, Any], remove: list[str]) -> dict[str, Any]:
    """jobs/update: top-level fields replaced, ``tasks`` / ``job_clusters`` merged by key, then checked.

    https://docs.databricks.com/api/workspace/jobs/update: "Top-level fields specified in new_settings
    are completely replaced, except for arrays which are merged ... based on the respective key fields,
    i.e. task_key or job_cluster_key"; ``fields_to_remove`` may name ``tasks/<key>``, ``job_clusters/<key>``.
    """
    settings = copy.deepcopy(dict(current))
    for field in remove:
        _remove(settings, field)
    for name, value in new.items():
        key = _KEYED_ARRAYS.get(name)
        if key is None:
            settings[name] = copy.deepcopy(value)
            continue
        merged = {str(e.get(key)): e for e in settings.get(name) or []}
        merged.update({str(e.get(key)): copy.deepcopy(e) for e in value})
        settings[name] = list(merged.values())
    _check_graph(list(settings.get("tasks") or ()))
    cluster_keys = {c.get("job_cluster_key") for c in settings.get("job_clusters") or ()}
    for task in settings.get("tasks") or ():
        if task.get("job_cluster_key") is not None and task["job_cluster_key"] not in cluster_keys:
            raise invalid(
                f"Task {task['task_key']!r} uses job_cluster_key {task['job_cluster_key']!r}, "
                "which is not in job_clusters."
            )
    return settings
