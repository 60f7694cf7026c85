"""What a notebook or task operator needs as a member of a workflow task group (no operator state).

The group's launch task starts one job run and returns its :class:`WorkflowRunMetadata`; each member
finds its own task run there (:func:`find_task_run`: the latest attempt of its ``task_key``, so a
repaired task is picked up after a clear) and waits for that task run alone, deferred on
:class:`~airflow_dbx_async.triggers.DatabricksTaskRunTrigger`. The operator itself
(:class:`~airflow_dbx_async.operators.DatabricksTaskBaseOperator`) does the watching.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.exceptions import DatabricksRunFailedError
from airflow_dbx_async.links import (
    DatabricksJobRunLink,
    WorkflowJobRepairSingleTaskLink,
    WorkflowJobRunLink,
)
from airflow_dbx_async.operators._task_identity import default_task_key

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow.sdk import BaseOperatorLink

    from airflow_dbx_async.client import JobsClient, Run, TaskRun

__all__ = (
    "TRIGGER_RULE_TO_RUN_IF",
    "WorkflowRunMetadata",
    "extra_links",
    "find_task_run",
    "find_workflow_group",
    "run_if",
    "task_key_of",
    "workflow_metadata",
)

# Airflow trigger rules with a Databricks run_if twin (ALL_SUCCESS, the default, is left out).
TRIGGER_RULE_TO_RUN_IF: dict[str, str] = {
    "all_failed": "ALL_FAILED",
    "all_done": "ALL_DONE",
    "one_success": "AT_LEAST_ONE_SUCCESS",
    "one_failed": "AT_LEAST_ONE_FAILED",
    "none_failed": "NONE_FAILED",
    "none_failed_min_one_success": "NONE_FAILED",
    "always": "ALL_DONE",
}
# A task run appears in its job run at once in practice; allow a little slack before giving up.
_FIND_ATTEMPTS = 10
_FIND_PAUSE_SECONDS = 3.0


@dataclass
class WorkflowRunMetadata:
    """Which job run a workflow group started (the launch task's return value).

    :param conn_id: the Airflow connection id.
    :param job_id: the Databricks job id.
    :param run_id: the Databricks job run id.
    """

    conn_id: str
    job_id: int
    run_id: int

    @classmethod
    def from_value(cls, value: object) -> WorkflowRunMetadata:
        """Parse the launch task's XCom; ``ValueError`` when it is missing or malformed."""
        if not isinstance(value, dict):
            raise ValueError(f"expected the launch task's result, got {type(value).__name__}")
        try:
            return cls(
                conn_id=str(value["conn_id"]), job_id=int(value["job_id"]), run_id=int(value["run_id"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed launch task result: {exc!r}") from None


def find_workflow_group(task: Any) -> Any:
    """The nearest enclosing task group flagged ``is_databricks``, or ``None``."""
    group = getattr(task, "task_group", None)
    while group is not None:
        if getattr(group, "is_databricks", False):
            return group
        group = getattr(group, "parent_group", None) or getattr(group, "task_group", None)
    return None


def extra_links(in_workflow: bool) -> tuple[BaseOperatorLink, ...]:
    """The run link alone, or inside a group the job run link plus "Repair a single task"."""
    if in_workflow:
        return (WorkflowJobRunLink(), WorkflowJobRepairSingleTaskLink())
    return (DatabricksJobRunLink(),)


def task_key_of(task_id: str, task_dict: dict[str, Any], dag_id: str) -> str:
    """The Databricks ``task_key`` of an upstream task of the group (given, or the md5 default)."""
    task = task_dict.get(task_id)
    key = getattr(task, "databricks_task_key", None)
    if isinstance(key, str) and key:
        return key
    return default_task_key(dag_id, task_id)


def run_if(trigger_rule: Any) -> str | None:
    """The Databricks ``run_if`` for an Airflow trigger rule, or ``None`` (the default, all success)."""
    return TRIGGER_RULE_TO_RUN_IF.get(str(getattr(trigger_rule, "value", trigger_rule)))


def workflow_metadata(value: object, upstream_task_ids: Iterable[str], ti: Any) -> WorkflowRunMetadata:
    """The group's job run: the rendered ``workflow_run_metadata``, else the launch task's XCom."""
    if not value:
        launch = next((t for t in upstream_task_ids if t.endswith(".launch")), None)
        value = ti.xcom_pull(task_ids=launch) if launch else None
    try:
        return WorkflowRunMetadata.from_value(value)
    except ValueError as exc:
        raise DatabricksRunFailedError(f"No job run of the workflow group to watch: {exc}") from None


async def find_task_run(client: JobsClient, *, run_id: int, task_key: str) -> tuple[Run, TaskRun]:
    """The job run and the latest attempt of ``task_key`` in it."""
    for attempt in range(_FIND_ATTEMPTS):
        run = await client.get_run(run_id)
        for task in run.latest_attempts():
            if task.task_key == task_key:
                return run, task
        if attempt + 1 < _FIND_ATTEMPTS:
            await asyncio.sleep(_FIND_PAUSE_SECONDS)
    raise DatabricksRunFailedError(f"Databricks job run {run_id} has no task with task_key {task_key!r}")
