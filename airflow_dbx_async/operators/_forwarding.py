"""What the official operators add to a request body at execute time: DAG params and OpenLineage.

DAG/task ``params`` are forwarded exactly as the official provider 7.23.0 does: on runs/submit into
every empty dict-shaped parameter slot of each task (``notebook_task.base_parameters``,
``python_wheel_task.named_parameters``, ``sql_task.parameters``, ``run_job_task.job_parameters``); on
run-now as ``job_parameters`` when none are given and no legacy parameter slot is used
(``forward_dag_params``). Params whose value is ``None`` are skipped.

OpenLineage injection uses the OpenLineage-enabled provider helpers when the OpenLineage provider is
installed and enabled; otherwise it changes nothing and logs one line.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import Context

__all__ = (
    "DICT_PARAM_FIELD_BY_TASK",
    "RUN_NOW_SLOTS_CONFLICTING_WITH_JOB_PARAMETERS",
    "forwardable_params",
    "forward_into_run_now",
    "forward_into_submit",
    "openlineage_run_now",
    "openlineage_submit",
)

log = logging.getLogger(__name__)

DICT_PARAM_FIELD_BY_TASK = {
    "notebook_task": "base_parameters",
    "python_wheel_task": "named_parameters",
    "sql_task": "parameters",
    "run_job_task": "job_parameters",
}
RUN_NOW_SLOTS_CONFLICTING_WITH_JOB_PARAMETERS = (
    "notebook_params",
    "python_params",
    "jar_params",
    "spark_submit_params",
    "python_named_params",
    "dbt_commands",
)
_NOT_AVAILABLE = (
    "OpenLineage injection was requested but the OpenLineage provider is not installed or not enabled; "
    "the request body is sent unchanged"
)


def forwardable_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The resolved params whose value is not ``None`` (``dict()`` resolves each ``Param``)."""
    if not params:
        return {}
    return {key: value for key, value in dict(params).items() if value is not None}


def _inject_into_task(task: dict[str, Any], params: Mapping[str, Any]) -> None:
    for task_key, slot in DICT_PARAM_FIELD_BY_TASK.items():
        task_def = task.get(task_key)
        if isinstance(task_def, dict) and not task_def.get(slot):
            task_def[slot] = dict(params)


def forward_into_submit(payload: Mapping[str, Any], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of a runs/submit body with ``params`` in every empty dict-shaped task parameter slot."""
    body = copy.deepcopy(dict(payload))
    forwardable = forwardable_params(params)
    if not forwardable:
        return body
    tasks = body.get("tasks")
    if isinstance(tasks, list):
        for task in tasks:
            if isinstance(task, dict):
                _inject_into_task(task, forwardable)
    else:
        _inject_into_task(body, forwardable)
    return body


def _uses_legacy_slot(payload: Mapping[str, Any]) -> bool:
    return any(key in payload for key in RUN_NOW_SLOTS_CONFLICTING_WITH_JOB_PARAMETERS)


def forward_into_run_now(
    payload: Mapping[str, Any], params: Mapping[str, Any] | None, *, enabled: bool
) -> dict[str, Any]:
    """A copy of a run-now body with ``params`` as ``job_parameters`` when allowed and needed."""
    body = dict(payload)
    if not enabled or body.get("job_parameters") or _uses_legacy_slot(body):
        return body
    forwardable = forwardable_params(params)
    if forwardable:
        body["job_parameters"] = forwardable
    return body


def _openlineage_helpers() -> Any | None:
    """The injection helpers when the OpenLineage provider is installed and enabled, else ``None``."""
    try:  # an optional provider: absent in most deployments
        from airflow.providers.openlineage.conf import (  # type: ignore[import-not-found]
            is_disabled,
        )
        from airflow.providers.openlineage.plugins.listener import (  # type: ignore[import-not-found]
            get_openlineage_listener,
        )
    except ImportError:
        return None
    if is_disabled() or not get_openlineage_listener():
        return None
    try:
        from airflow.providers.databricks.utils import openlineage as helpers
    except ImportError:
        return None
    return helpers


def openlineage_submit(
    payload: dict[str, Any], context: Context, *, parent_job_info: bool, transport_info: bool
) -> dict[str, Any]:
    """Inject OpenLineage parent-job and transport information into a runs/submit body."""
    if not (parent_job_info or transport_info):
        return payload
    helpers = _openlineage_helpers()
    if helpers is None:
        log.info(_NOT_AVAILABLE)
        return payload
    try:  # as in the official operator, an injection failure leaves the body unchanged
        return _inject_submit(helpers, copy.deepcopy(payload), context, parent_job_info, transport_info)
    except Exception as exc:
        log.warning("OpenLineage injection failed; the request body is sent unchanged: %s", exc)
        return payload


def _inject_submit(
    helpers: Any, body: dict[str, Any], context: Context, parent_job_info: bool, transport_info: bool
) -> dict[str, Any]:
    if parent_job_info:
        tasks = body.get("tasks")
        for task in tasks if isinstance(tasks, list) else [body]:
            for task_key, slot in DICT_PARAM_FIELD_BY_TASK.items():
                task_def = task.get(task_key) if isinstance(task, dict) else None
                if isinstance(task_def, dict):
                    task_def[slot] = helpers.inject_openlineage_context_into_databricks_job_parameters(
                        job_parameters=task_def.get(slot) or {}, context=context
                    )
    result: dict[str, Any] = helpers.inject_openlineage_properties_into_databricks_job(
        job=body,
        context=context,
        inject_parent_job_info=parent_job_info,
        inject_transport_info=transport_info,
    )
    return result


def openlineage_run_now(
    payload: dict[str, Any], context: Context, *, parent_job_info: bool
) -> dict[str, Any]:
    """Inject the OpenLineage parent-run context into a run-now body's ``job_parameters``."""
    if not parent_job_info:
        return payload
    if _uses_legacy_slot(payload):
        log.info(
            "Skipping OpenLineage parent job information injection: the run uses a legacy parameter "
            "slot that cannot be combined with job_parameters"
        )
        return payload
    helpers = _openlineage_helpers()
    if helpers is None:
        log.info(_NOT_AVAILABLE)
        return payload
    body = dict(payload)
    try:
        body["job_parameters"] = helpers.inject_openlineage_context_into_databricks_job_parameters(
            job_parameters=body.get("job_parameters", {}), context=context
        )
    except Exception as exc:  # as in the official operator: the body is sent unchanged
        log.warning("OpenLineage injection failed; the request body is sent unchanged: %s", exc)
        return dict(payload)
    return body
