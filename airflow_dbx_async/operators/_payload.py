"""Build and check the runs/submit and run-now request bodies before any request is sent.

Merging follows the official provider: the ``json`` argument (a mapping, a JSON string or a Python
dict literal) is overlaid by the named arguments that are set; numbers become strings and booleans
stay booleans (Databricks accepts int64 fields as strings), except in the string-to-string parameter
maps, where they become ``"true"``/``"false"`` (see :mod:`airflow_dbx_async.operators._payload_checks`). Every
problem raises one :class:`~airflow_dbx_async.client.ConfigurationError` naming the field to fix.
"""

from __future__ import annotations

import ast
import json as jsonlib
from collections.abc import Mapping
from typing import Any

from airflow_dbx_async.client import ConfigurationError, check_number
from airflow_dbx_async.operators._payload_checks import finish_run_now, finish_submit

__all__ = (
    "LEGACY_PARAM_SLOTS",
    "MAX_PARAM_BYTES",
    "MIN_POLLING_PERIOD_SECONDS",
    "TASK_TYPES",
    "check_knobs",
    "coerce_json",
    "merge_json",
    "normalise",
    "run_now_payload",
    "submit_payload",
)

TASK_TYPES = (
    "notebook_task",
    "spark_jar_task",
    "spark_python_task",
    "spark_submit_task",
    "pipeline_task",
    "dbt_task",
    "python_wheel_task",
    "sql_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "dashboard_task",
    "clean_rooms_notebook_task",
    "power_bi_task",
)
LEGACY_PARAM_SLOTS = (
    "notebook_params",
    "python_params",
    "jar_params",
    "spark_submit_params",
    "python_named_params",
    "sql_params",
    "dbt_commands",
)
_NOT_WITH_JOB_PARAMETERS = (
    "notebook_params",
    "python_params",
    "jar_params",
    "spark_submit_params",
    "python_named_params",
)
_MAP_SLOTS = ("notebook_params", "python_named_params", "sql_params", "job_parameters")
MAX_PARAM_BYTES = 10_000
#: The pause between two polls when ``polling_period_seconds`` is 0: the official operators then poll
#: without pausing, which only spends the workspace's request budget.
MIN_POLLING_PERIOD_SECONDS = 1.0
_MAX_TOKEN = 64
_MAX_RUN_NAME_BYTES = 4096


def coerce_json(value: Any) -> dict[str, Any]:
    """Turn the rendered ``json`` argument into a dict."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            parsed = jsonlib.loads(value)
        except ValueError:
            try:
                parsed = ast.literal_eval(value)
            except (SyntaxError, ValueError, TypeError, MemoryError) as exc:
                raise ConfigurationError(
                    "json", "must be a mapping, a JSON string or a dict literal"
                ) from exc
        if isinstance(parsed, Mapping):
            return dict(parsed)
        value = parsed
    raise ConfigurationError("json", f"must resolve to a mapping, not {type(value).__name__}")


def merge_json(value: Any, named: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay the named arguments that are set onto ``json``; named arguments win."""
    merged = coerce_json(value)
    merged.update((key, item) for key, item in named.items() if item is not None)
    return merged


def normalise(content: Any, path: str) -> Any:
    """Strings and booleans as they are, numbers as strings, containers recursively; else an error."""
    if content is None or isinstance(content, str | bool):
        return content
    if isinstance(content, int | float):
        return str(content)
    if isinstance(content, list | tuple):
        return [normalise(item, f"{path}[{i}]") for i, item in enumerate(content)]
    if isinstance(content, Mapping):
        out: dict[str, Any] = {}
        for key, item in content.items():
            if not isinstance(key, str):
                raise ConfigurationError(path, f"keys must be strings, got {key!r}")
            out[key] = normalise(item, f"{path}.{key}" if path else key)
        return out
    raise ConfigurationError(
        path,
        f"a value of type {type(content).__name__!r} is not JSON; use str, number, bool, list or mapping",
    )


def _require_type(payload: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> None:
    if key in payload and payload[key] is not None and not isinstance(payload[key], kind):
        raise ConfigurationError(key, f"must be {what}, got {type(payload[key]).__name__}")


def _task_types_in(spec: Mapping[str, Any]) -> list[str]:
    return [key for key in TASK_TYPES if spec.get(key) is not None]


def _check_task_spec(spec: Mapping[str, Any], where: str) -> None:
    types = _task_types_in(spec)
    if not types:
        raise ConfigurationError(
            "tasks" if where == "json" else where,
            f"no task given; set one of {', '.join(TASK_TYPES[:6])}"
            + (" (or tasks)" if where == "json" else ""),
        )
    if len(types) > 1:
        raise ConfigurationError(
            f"{where}.{types[1]}" if where != "json" else types[1],
            f"cannot be combined with {types[0]}; give exactly one task type",
        )
    prefix = "" if where == "json" else f"{where}."
    task = spec[types[0]]
    if not isinstance(task, Mapping):
        raise ConfigurationError(f"{prefix}{types[0]}", f"must be a mapping, got {type(task).__name__}")
    if types[0] == "notebook_task" and not task.get("notebook_path"):
        raise ConfigurationError(f"{prefix}notebook_task.notebook_path", "is required")
    if types[0] == "dbt_task" and not spec.get("git_source"):
        raise ConfigurationError(f"{prefix}git_source", "is required with dbt_task")
    if types[0] == "pipeline_task":
        _check_pipeline_task(task, prefix, lookup=where == "json")
    if spec.get("new_cluster") is not None and spec.get("existing_cluster_id") is not None:
        raise ConfigurationError(f"{prefix}existing_cluster_id", "cannot be combined with new_cluster")
    _require_type(spec, "new_cluster", Mapping, "a mapping")
    _require_type(spec, "libraries", list, "a list of mappings")


def _check_pipeline_task(task: Mapping[str, Any], prefix: str, *, lookup: bool) -> None:
    """``pipeline_id``, or (a single task only) ``pipeline_name``, looked up as the official operator does."""
    if "pipeline_id" in task and "pipeline_name" in task:
        raise ConfigurationError(
            f"{prefix}pipeline_task", "'pipeline_name' is not allowed with 'pipeline_id'"
        )
    if task.get("pipeline_id"):
        return
    if not task.get("pipeline_name"):
        raise ConfigurationError(f"{prefix}pipeline_task.pipeline_id", "is required (or pipeline_name)")
    if not lookup:
        raise ConfigurationError(
            f"{prefix}pipeline_task.pipeline_id",
            "is required: pipeline_name is looked up for a single pipeline_task only, as the official "
            "operator does",
        )
    if not isinstance(task["pipeline_name"], str):
        raise ConfigurationError(f"{prefix}pipeline_task.pipeline_name", "must be a string")


def _check_tasks(payload: Mapping[str, Any]) -> None:
    tasks = payload["tasks"]
    if not isinstance(tasks, list) or not tasks:
        raise ConfigurationError("tasks", "must be a non-empty list of task mappings")
    if _task_types_in(payload):
        raise ConfigurationError("tasks", f"cannot be combined with a top-level {_task_types_in(payload)[0]}")
    seen: set[str] = set()
    for index, task in enumerate(tasks):
        where = f"tasks[{index}]"
        if not isinstance(task, Mapping):
            raise ConfigurationError(where, f"must be a mapping, got {type(task).__name__}")
        key = task.get("task_key")
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"{where}.task_key", "is required")
        if key in seen:
            raise ConfigurationError(f"{where}.task_key", f"duplicate task_key {key!r}")
        seen.add(key)
        _check_task_spec(task, where)


def _check_common(payload: Mapping[str, Any]) -> None:
    token = payload.get("idempotency_token")
    if token is not None and (not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN):
        raise ConfigurationError(
            "idempotency_token", f"must be a non-empty string of at most {_MAX_TOKEN} chars"
        )
    _require_type(payload, "access_control_list", list, "a list of mappings")
    _require_type(payload, "git_source", Mapping, "a mapping")


def submit_payload(value: Any, named: Mapping[str, Any], *, default_run_name: str) -> dict[str, Any]:
    """The runs/submit body: merged, checked and normalised."""
    payload = merge_json(value, named)
    payload.setdefault("run_name", default_run_name)
    run_name = payload["run_name"]
    if not isinstance(run_name, str) or not run_name or len(run_name.encode()) > _MAX_RUN_NAME_BYTES:
        raise ConfigurationError(
            "run_name", f"must be a non-empty string of at most {_MAX_RUN_NAME_BYTES} bytes"
        )
    _check_common(payload)
    if payload.get("tasks") is not None:
        _check_tasks(payload)
    else:
        _check_task_spec(payload, "json")
    result: dict[str, Any] = normalise(payload, "")
    return finish_submit(result)


def _check_slots(payload: Mapping[str, Any]) -> None:
    for key in _MAP_SLOTS:
        _require_type(payload, key, Mapping, "a mapping of names to values")
    for key in ("python_params", "jar_params", "spark_submit_params", "dbt_commands"):
        _require_type(payload, key, (list, tuple), "a list")
    # Databricks answers 400 when job-level parameters come with these task-level slots (Jobs API
    # run-now reference: "job_parameters ... cannot be used in combination with" the legacy
    # parameters). Other combinations, e.g. notebook_params with jar_params for a multi-task job,
    # are Databricks' to judge and are sent as they are.
    legacy = [key for key in _NOT_WITH_JOB_PARAMETERS if payload.get(key)]
    if payload.get("job_parameters") and legacy:
        raise ConfigurationError(
            "job_parameters", f"cannot be combined with {legacy[0]} (Databricks rejects it)"
        )


def _check_sizes(payload: Mapping[str, Any]) -> None:
    for key in LEGACY_PARAM_SLOTS:
        if payload.get(key) is None:
            continue
        size = len(jsonlib.dumps(payload[key], separators=(",", ":")).encode())
        if size > MAX_PARAM_BYTES:
            raise ConfigurationError(
                key, f"is {size} bytes as JSON; Databricks allows at most {MAX_PARAM_BYTES}"
            )


def run_now_payload(value: Any, named: Mapping[str, Any]) -> dict[str, Any]:
    """The run-now body: merged, checked and normalised (``job_name`` is resolved later)."""
    payload = merge_json(value, named)
    if payload.get("job_id") is not None and payload.get("job_name") is not None:
        raise ConfigurationError("job_name", "cannot be combined with job_id; give one of them")
    if payload.get("job_id") is None and payload.get("job_name") is None:
        raise ConfigurationError("job_id", "no job given; set job_id or job_name")
    if "job_name" in payload and (not isinstance(payload["job_name"], str) or not payload["job_name"]):
        raise ConfigurationError("job_name", "must be a non-empty string")
    _check_common(payload)
    _check_slots(payload)
    result: dict[str, Any] = finish_run_now(normalise(payload, ""))
    _check_sizes(result)
    return result


def check_knobs(*, polling_period_seconds: Any) -> float:
    """Check the operator settings that are not sent to Databricks (the hook checks the retry ones).

    :returns: the polling period to use: as given, or :data:`MIN_POLLING_PERIOD_SECONDS` for 0.
    """
    check_number("polling_period_seconds", polling_period_seconds, minimum=0)
    period: float = polling_period_seconds or MIN_POLLING_PERIOD_SECONDS
    return period
