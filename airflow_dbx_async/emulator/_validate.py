"""Request validation for the Jobs API write endpoints, as the reference defines the bodies.

Types come first (:mod:`._schema`, ``MALFORMED_REQUEST``), then the rules a type cannot express
(``INVALID_PARAMETER_VALUE``): a task has a ``task_key`` and exactly one task type, a library has one
kind, ``run_if`` is a known condition, ``rerun_tasks`` has no duplicates. Each message names the field.
References: https://docs.databricks.com/api/workspace/jobs/create, .../jobs/submit, .../jobs/runnow,
.../jobs/repairrun, .../jobs/update, .../jobs/reset.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.emulator._params import invalid
from airflow_dbx_async.emulator._schema import (
    BOOL,
    INT,
    OBJ,
    STR,
    STR_LIST,
    STR_MAP,
    Check,
    list_of,
    malformed,
    object_of,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = (
    "TASK_TYPES",
    "check_job_settings",
    "check_repair",
    "check_run_now",
    "check_submit",
    "check_update",
)

TASK_TYPES = (
    "notebook_task",
    "spark_jar_task",
    "spark_python_task",
    "spark_submit_task",
    "pipeline_task",
    "python_wheel_task",
    "dbt_task",
    "sql_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
    "gen_ai_compute_task",
)
RUN_IF = (
    "ALL_SUCCESS",
    "ALL_DONE",
    "NONE_FAILED",
    "AT_LEAST_ONE_SUCCESS",
    "ALL_FAILED",
    "AT_LEAST_ONE_FAILED",
)
_LIBRARY_KINDS = ("jar", "egg", "whl", "pypi", "maven", "cran", "requirements")
_REQUIRED = {
    "notebook_task": "notebook_path",
    "spark_python_task": "python_file",
    "pipeline_task": "pipeline_id",
    "run_job_task": "job_id",
}


def _number(value: Any, path: str) -> Any:
    if isinstance(value, bool):
        raise malformed(path, "number", value)
    try:
        float(value)
    except (TypeError, ValueError):
        raise malformed(path, "number", value) from None
    return value


_TASK_BODIES: dict[str, Check] = {
    "notebook_task": object_of({"notebook_path": STR, "base_parameters": STR_MAP, "source": STR}),
    "spark_python_task": object_of({"python_file": STR, "parameters": STR_LIST, "source": STR}),
    "spark_jar_task": object_of({"main_class_name": STR, "parameters": STR_LIST, "jar_uri": STR}),
    "python_wheel_task": object_of(
        {"package_name": STR, "entry_point": STR, "parameters": STR_LIST, "named_parameters": STR_MAP}
    ),
    "spark_submit_task": object_of({"parameters": STR_LIST}),
    "pipeline_task": object_of({"pipeline_id": STR, "full_refresh": BOOL}),
    "dbt_task": object_of({"commands": STR_LIST}),
    "run_job_task": object_of({"job_id": INT, "job_parameters": STR_MAP, "notebook_params": STR_MAP}),
}
_TASK_FIELDS: dict[str, Check] = {
    "task_key": STR,
    "description": STR,
    "depends_on": list_of(object_of({"task_key": STR})),
    "run_if": STR,
    "existing_cluster_id": STR,
    "new_cluster": OBJ,
    "job_cluster_key": STR,
    "environment_key": STR,
    "libraries": list_of(OBJ),
    "timeout_seconds": INT,
    "max_retries": INT,
    "min_retry_interval_millis": INT,
    "retry_on_timeout": BOOL,
    "email_notifications": OBJ,
    "webhook_notifications": OBJ,
    "notification_settings": OBJ,
    "health": OBJ,
    "sim_duration_seconds": _number,
    "sim_result": STR,
    "sim_error": STR,
    "sim_output": STR,
    "sim_print": STR,
    "sim_failing_attempts": INT,
    **{kind: _TASK_BODIES.get(kind, OBJ) for kind in TASK_TYPES},
}
_TASK = object_of(_TASK_FIELDS)
_PARAMETER_SLOTS: dict[str, Check] = {
    "notebook_params": STR_MAP,
    "python_params": STR_LIST,
    "jar_params": STR_LIST,
    "spark_submit_params": STR_LIST,
    "python_named_params": STR_MAP,
    "sql_params": STR_MAP,
    "dbt_commands": STR_LIST,
    "job_parameters": STR_MAP,
    "pipeline_params": OBJ,
    "idempotency_token": STR,
    "queue": object_of({"enabled": BOOL}),
}
_JOB_FIELDS: dict[str, Check] = {
    "name": STR,
    "tasks": list_of(_TASK),
    "job_clusters": list_of(object_of({"job_cluster_key": STR, "new_cluster": OBJ})),
    "parameters": list_of(object_of({"name": STR, "default": STR})),
    "max_concurrent_runs": INT,
    "timeout_seconds": INT,
    "tags": STR_MAP,
    "queue": object_of({"enabled": BOOL}),
    "email_notifications": OBJ,
    "webhook_notifications": OBJ,
    "notification_settings": OBJ,
    "schedule": OBJ,
    "trigger": OBJ,
    "continuous": OBJ,
    "git_source": OBJ,
    "run_as": OBJ,
    "health": OBJ,
    "environments": list_of(OBJ),
    "description": STR,
    "access_control_list": list_of(OBJ),
}


def _check_library(library: Mapping[str, Any], path: str) -> None:
    kinds = [k for k in _LIBRARY_KINDS if library.get(k) is not None]
    if len(kinds) != 1:
        found = " and ".join(kinds) or "none"
        raise invalid(f"{path} must set exactly one of {', '.join(_LIBRARY_KINDS)}; found {found}.")
    kind = kinds[0]
    needed = {"pypi": "package", "maven": "coordinates", "cran": "package"}.get(kind)
    if needed is None:
        STR(library[kind], f"{path}.{kind}")
        return
    object_of({needed: STR})(library[kind], f"{path}.{kind}")
    if not library[kind].get(needed):
        raise invalid(f"Missing required field: {path}.{kind}.{needed}")


def check_task(task: Mapping[str, Any], path: str) -> dict[str, Any]:
    """One task (a job task or a submit task), returned as the service keeps it (see ``_schema``)."""
    kept: dict[str, Any] = _TASK(task, path)
    if not task.get("task_key"):
        raise invalid(f"Missing required field: {path}.task_key")
    kinds = [k for k in TASK_TYPES if task.get(k) is not None]
    if len(kinds) != 1:
        found = " and ".join(kinds) if kinds else "none"
        raise invalid(
            f"{path} must set exactly one task type (notebook_task, spark_python_task, ...); found {found}."
        )
    needed = _REQUIRED.get(kinds[0])
    if needed is not None and not task[kinds[0]].get(needed):
        raise invalid(f"Missing required field: {path}.{kinds[0]}.{needed}")
    compute = [
        k for k in ("existing_cluster_id", "new_cluster", "job_cluster_key") if task.get(k) is not None
    ]
    if len(compute) > 1:
        found = " and ".join(compute)
        raise invalid(
            f"{path} must set one of existing_cluster_id, new_cluster, job_cluster_key; found {found}."
        )
    for index, dep in enumerate(task.get("depends_on") or ()):
        if not dep.get("task_key"):
            raise invalid(f"Missing required field: {path}.depends_on[{index}].task_key")
    if task.get("run_if") is not None and task["run_if"] not in RUN_IF:
        raise invalid(
            f"Invalid {path}.run_if {str(task['run_if'])[:40]!r}: it must be one of {', '.join(RUN_IF)}."
        )
    for index, library in enumerate(task.get("libraries") or ()):
        _check_library(library, f"{path}.libraries[{index}]")
    return kept


def _check_tasks(body: Mapping[str, Any], prefix: str) -> None:
    for index, task in enumerate(body.get("tasks") or ()):
        check_task(task, f"{prefix}tasks[{index}]")
    keys = {c.get("job_cluster_key") for c in body.get("job_clusters") or ()}
    for index, task in enumerate(body.get("tasks") or ()):
        key = task.get("job_cluster_key")
        if key is not None and key not in keys:
            raise invalid(
                f"{prefix}tasks[{index}].job_cluster_key {key!r} is not defined in {prefix}job_clusters."
            )


def check_job_settings(settings: Any, path: str = "") -> dict[str, Any]:
    """JobSettings of jobs/create, or ``new_settings`` of jobs/reset (``path`` prefixes field names).

    Returns them as the service keeps them (numbers sent as strings become numbers, see ``_schema``).
    """
    kept: dict[str, Any] = object_of(_JOB_FIELDS)(settings, path)
    prefix = f"{path}." if path else ""
    _check_tasks(settings, prefix)
    if kept.get("max_concurrent_runs") is not None and not 0 <= kept["max_concurrent_runs"] <= 1000:
        raise invalid(f"{prefix}max_concurrent_runs must be between 0 and 1000.")
    return kept


def check_submit(body: Mapping[str, Any]) -> dict[str, Any]:
    """runs/submit: multi-task ``tasks`` or one legacy top-level task type; the body as kept."""
    fields = {**_JOB_FIELDS, **{k: v for k, v in _TASK_FIELDS.items() if k != "task_key"}, "run_name": STR}
    fields["idempotency_token"] = STR
    kept: dict[str, Any] = object_of(fields)(body, "")
    if len(str(body.get("run_name", "")).encode()) > 4096:
        raise invalid("run_name must be at most 4096 bytes.")
    legacy = [k for k in TASK_TYPES if body.get(k) is not None]
    if body.get("tasks") and legacy:
        raise invalid(
            f"Either tasks or a top-level task type can be set, not both; found tasks and {legacy[0]}."
        )
    _check_tasks(body, "")
    if not body.get("tasks"):
        kinds = [k for k in TASK_TYPES if body.get(k) is not None]
        if len(kinds) > 1:
            raise invalid(f"Exactly one task type must be set; found {' and '.join(kinds)}.")
        if kinds:
            check_task({**body, "task_key": "legacy"}, "request")
    return kept


def check_run_now(body: Mapping[str, Any]) -> None:
    """run-now: ``job_id`` and the parameter slots."""
    object_of({"job_id": INT, "only": STR_LIST, **_PARAMETER_SLOTS})(body, "")
    _check_slot_sizes(body)


def _check_slot_sizes(body: Mapping[str, Any]) -> None:
    """The JSON of ``notebook_params`` (and the other parameter maps) is at most 10,000 bytes.

    Also from the run-now / repair reference: "notebook_params cannot be specified in conjunction with
    jar_params", and ``python_params`` / ``spark_submit_params`` "accept only Latin characters (ASCII
    character set). Using non-ASCII characters returns an error."
    """
    if body.get("notebook_params") and body.get("jar_params"):
        raise invalid("notebook_params cannot be specified in conjunction with jar_params.")
    for name in ("python_params", "spark_submit_params"):
        if any(not str(p).isascii() for p in body.get(name) or ()):
            raise invalid(f"{name} accept only Latin characters (ASCII character set).")
    for name in ("notebook_params", "python_params", "jar_params", "job_parameters"):
        if body.get(name) is not None and len(json.dumps(body[name]).encode()) > 10_000:
            raise invalid(f"The JSON representation of {name} cannot exceed 10,000 bytes.")


def check_repair(body: Mapping[str, Any]) -> None:
    """runs/repair: ids, the task selection and the parameter slots; duplicate ``rerun_tasks`` refused."""
    fields = {
        "run_id": INT,
        "latest_repair_id": INT,
        "rerun_tasks": STR_LIST,
        "rerun_all_failed_tasks": BOOL,
        "rerun_dependent_tasks": BOOL,
        **_PARAMETER_SLOTS,
    }
    object_of(fields)(body, "")
    _check_slot_sizes(body)
    keys = [str(k) for k in body.get("rerun_tasks") or ()]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise invalid(f"rerun_tasks contains duplicate task keys: {', '.join(duplicates)}.")


def check_update(body: Mapping[str, Any]) -> dict[str, Any]:
    """jobs/update: ``new_settings`` (partial JobSettings) and ``fields_to_remove``.

    Returns ``new_settings`` as the service keeps them (empty when none were sent).
    """
    object_of({"job_id": INT, "new_settings": OBJ, "fields_to_remove": STR_LIST})(body, "")
    if body.get("new_settings") is None:
        return {}
    kept: dict[str, Any] = object_of(_JOB_FIELDS)(body["new_settings"], "new_settings")
    for index, task in enumerate(body["new_settings"].get("tasks") or ()):
        check_task(task, f"new_settings.tasks[{index}]")
    return kept
