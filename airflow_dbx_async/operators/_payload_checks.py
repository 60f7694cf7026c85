"""Checks of request values that Databricks itself would refuse, made before any request is sent.

Each check refuses only what the Jobs API refuses, and names the field to fix:

- parameter maps (``notebook_params``, ``base_parameters``, ``job_parameters`` ...) are string-to-string
  maps (``Record<string, string>`` in the Databricks SDK's ``NotebookTask.baseParameters`` and
  ``RunNow.jobParameters``); numbers become strings as the official provider does, booleans become
  ``"true"``/``"false"``, and ``None``, lists and mappings are refused;
- integer fields are int32 or int64 (``timeout_seconds`` int32, ``job_id`` int64) written as a number or
  as a decimal string; surrounding blanks and non-ASCII digits are normalised to the plain decimal sent;
- a ``libraries`` entry names one library kind, with its required field (``pypi.package``,
  ``maven.coordinates``, ``cran.package``; ``compute.Library`` in the Databricks SDK);
- ``depends_on`` is a list of ``{"task_key": ...}`` naming other tasks of the same run, without cycles
  (``jobs.TaskDependency``; Databricks answers "Invalid dependency graph" otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dbx_async.client import ConfigurationError

__all__ = (
    "INT32_MAX",
    "INT64_MAX",
    "LIBRARY_KINDS",
    "RUN_NOW_PARAM_MAPS",
    "TASK_PARAM_MAPS",
    "check_dependencies",
    "check_libraries",
    "finish_run_now",
    "finish_submit",
    "integer",
    "string_map",
)

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
LIBRARY_KINDS = ("jar", "egg", "whl", "pypi", "maven", "cran", "requirements")
_LIBRARY_REQUIRED = {"pypi": "package", "maven": "coordinates", "cran": "package"}
#: string-to-string parameter maps inside each task type of a submitted run
TASK_PARAM_MAPS = {
    "notebook_task": "base_parameters",
    "python_wheel_task": "named_parameters",
    "sql_task": "parameters",
    "run_job_task": "job_parameters",
}
RUN_NOW_PARAM_MAPS = ("notebook_params", "python_named_params", "sql_params", "job_parameters")


def _scalar(value: Any, path: str) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        raise ConfigurationError(path, 'is None; Databricks wants a string value (use "" for an empty one)')
    if isinstance(value, list | tuple | Mapping):
        raise ConfigurationError(
            path,
            f"is a {type(value).__name__}; Databricks parameters are strings, so pass json.dumps(...) "
            "of it and parse it in the task",
        )
    return value  # not JSON at all: the payload's normaliser names it


def string_map(value: Any, path: str) -> Any:
    """A parameter map with its values as the strings Databricks wants; ``None`` stays ``None``."""
    if not isinstance(value, Mapping):
        return value  # the slot's type check reports it
    return {key: _scalar(item, f"{path}.{key}") for key, item in value.items()}


def integer(value: Any, path: str, *, minimum: int, maximum: int) -> int | None:
    """The integer ``value`` stands for (a number or a decimal string), within the API's range."""
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdecimal():
        number = int(value.strip())
    if number is None or not minimum <= number <= maximum:
        raise ConfigurationError(path, f"must be an integer from {minimum} to {maximum}, got {value!r}")
    return number


def _library(entry: Any, path: str) -> None:
    if not isinstance(entry, Mapping):
        raise ConfigurationError(
            path, f"must be a mapping such as {{'pypi': {{'package': 'x'}}}}, got {entry!r}"
        )
    kinds = [kind for kind in LIBRARY_KINDS if entry.get(kind) is not None]
    if not kinds:
        raise ConfigurationError(path, f"names no library; give one of {', '.join(LIBRARY_KINDS)}")
    for kind in kinds:
        spec, required = entry[kind], _LIBRARY_REQUIRED.get(kind)
        if required is None:
            if not isinstance(spec, str) or not spec:
                raise ConfigurationError(f"{path}.{kind}", f"must be a non-empty path or URI, got {spec!r}")
        elif not isinstance(spec, Mapping) or not isinstance(spec.get(required), str) or not spec[required]:
            raise ConfigurationError(f"{path}.{kind}.{required}", "is required (a non-empty string)")


def check_libraries(value: Any, path: str) -> None:
    """Each ``libraries`` entry names a library kind with its required field."""
    if isinstance(value, list):
        for index, entry in enumerate(value):
            _library(entry, f"{path}[{index}]")


def _dependencies(task: Mapping[str, Any], where: str, keys: set[str]) -> list[str]:
    deps = task.get("depends_on")
    if deps is None:
        return []
    if not isinstance(deps, list):
        raise ConfigurationError(f"{where}.depends_on", 'must be a list such as [{"task_key": "upstream"}]')
    found: list[str] = []
    for index, dep in enumerate(deps):
        key = dep.get("task_key") if isinstance(dep, Mapping) else None
        if not isinstance(key, str) or not key:
            raise ConfigurationError(
                f"{where}.depends_on[{index}]",
                f'must be a mapping such as {{"task_key": "upstream"}}, got {dep!r}',
            )
        if key not in keys:
            raise ConfigurationError(
                f"{where}.depends_on[{index}]", f"names task_key {key!r}, which is not in tasks"
            )
        found.append(key)
    return found


def check_dependencies(tasks: list[Mapping[str, Any]]) -> None:
    """Every ``depends_on`` names another task of the run, and the dependencies have no cycle."""
    keys = {str(task.get("task_key")) for task in tasks}
    graph = {
        str(task.get("task_key")): _dependencies(task, f"tasks[{i}]", keys) for i, task in enumerate(tasks)
    }
    done: set[str] = set()
    for start in graph:
        path: list[str] = []
        _visit(start, graph, path, done)


def _visit(key: str, graph: Mapping[str, list[str]], path: list[str], done: set[str]) -> None:
    if key in done:
        return
    if key in path:
        cycle = " -> ".join([*path[path.index(key) :], key])
        index = list(graph).index(path[-1])
        raise ConfigurationError(f"tasks[{index}].depends_on", f"forms a cycle: {cycle}")
    path.append(key)
    for dep in graph[key]:
        _visit(dep, graph, path, done)
    path.pop()
    done.add(key)


def _set_integer(body: dict[str, Any], key: str, path: str, *, minimum: int, maximum: int) -> None:
    number = integer(body.get(key), path, minimum=minimum, maximum=maximum)
    if number is not None:
        body[key] = str(number)  # numbers travel as decimal strings, like every other number sent


def _finish_task(spec: dict[str, Any], prefix: str) -> None:
    _set_integer(spec, "timeout_seconds", f"{prefix}timeout_seconds", minimum=0, maximum=INT32_MAX)
    check_libraries(spec.get("libraries"), f"{prefix}libraries")
    for task_type, slot in TASK_PARAM_MAPS.items():
        task = spec.get(task_type)
        if isinstance(task, dict) and slot in task:
            task[slot] = string_map(task[slot], f"{prefix}{task_type}.{slot}")


def finish_submit(body: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise a runs/submit body in place (it must be the payload's own copy)."""
    _set_integer(body, "timeout_seconds", "timeout_seconds", minimum=0, maximum=INT32_MAX)
    tasks = body.get("tasks")
    if isinstance(tasks, list):
        for index, task in enumerate(tasks):
            _finish_task(task, f"tasks[{index}].")
        check_dependencies(tasks)
    else:
        _finish_task(body, "")
    return body


def finish_run_now(body: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise a run-now body in place (it must be the payload's own copy)."""
    _set_integer(body, "job_id", "job_id", minimum=1, maximum=INT64_MAX)
    _set_integer(body, "timeout_seconds", "timeout_seconds", minimum=0, maximum=INT32_MAX)
    for key in RUN_NOW_PARAM_MAPS:
        if key in body:
            body[key] = string_map(body[key], key)
    return body
