"""How a notebook or task operator behaves as a member of a workflow task group.

The group's launch task starts one job run; each member finds its own task run there (the latest
attempt of its ``task_key``, so a repaired task is picked up after a clear) and waits for that task
run alone, deferred on :class:`~airflow_dbx_async.task_triggers.DatabricksTaskRunTrigger`.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_dbx_async._task_identity import default_task_key
from airflow_dbx_async._task_identity import try_started as _try_started
from airflow_dbx_async.client import judge
from airflow_dbx_async.exceptions import DatabricksConfigError, DatabricksRunFailedError
from airflow_dbx_async.links import DatabricksJobRunLink
from airflow_dbx_async.workflow import WorkflowRunMetadata
from airflow_dbx_async.workflow_links import (
    XCOM_JOB_RUN_LINK_KEY,
    WorkflowJobRepairSingleTaskLink,
    WorkflowJobRunLink,
)

if TYPE_CHECKING:
    from airflow.sdk import BaseOperatorLink, Context

    from airflow_dbx_async.client import JobsClient, Run, TaskRun
    from airflow_dbx_async.task_operators import DatabricksTaskBaseOperator

__all__ = (
    "TRIGGER_RULE_TO_RUN_IF",
    "execute_in_workflow",
    "extra_links",
    "find_workflow_group",
    "workflow_metadata",
    "workflow_task_json",
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


def _task_key_of(task_id: str, task_dict: dict[str, Any], dag_id: str) -> str:
    task = task_dict.get(task_id)
    key = getattr(task, "databricks_task_key", None)
    if isinstance(key, str) and key:
        return key
    return default_task_key(dag_id, task_id)


def workflow_task_json(
    op: DatabricksTaskBaseOperator, relevant_upstreams: list[str], task_dict: dict[str, Any]
) -> dict[str, object]:
    """The job ``tasks`` entry for ``op``, as the official provider builds it."""
    result: dict[str, object] = {
        "depends_on": [
            {"task_key": _task_key_of(task_id, task_dict, str(op.dag_id))}
            for task_id in op.upstream_task_ids
            if task_id in relevant_upstreams
        ],
        **op._get_task_base_json(),
        "task_key": op.databricks_task_key,
        **op._retry_settings(),
    }
    rule = getattr(op.trigger_rule, "value", op.trigger_rule)
    run_if = TRIGGER_RULE_TO_RUN_IF.get(str(rule))
    if run_if:
        result["run_if"] = run_if
    if op.existing_cluster_id and op.job_cluster_key:
        raise DatabricksConfigError("job_cluster_key", "cannot be combined with existing_cluster_id")
    if op.existing_cluster_id:
        result["existing_cluster_id"] = op.existing_cluster_id
    elif op.job_cluster_key:
        result["job_cluster_key"] = op.job_cluster_key
    return result


def workflow_metadata(op: DatabricksTaskBaseOperator, context: Context) -> WorkflowRunMetadata:
    """The group's job run: the rendered ``workflow_run_metadata``, else the launch task's XCom."""
    value = op.workflow_run_metadata
    if not value:
        launch = next((t for t in op.upstream_task_ids if t.endswith(".launch")), None)
        value = context["ti"].xcom_pull(task_ids=launch) if launch else None
    try:
        return WorkflowRunMetadata.from_value(value)
    except ValueError as exc:
        raise DatabricksRunFailedError(f"No job run of the workflow group to watch: {exc}") from None


async def _find_task_run(client: JobsClient, *, run_id: int, task_key: str) -> tuple[Run, TaskRun]:
    """The job run and the latest attempt of ``task_key`` in it."""
    for attempt in range(_FIND_ATTEMPTS):
        run = await client.get_run(run_id)
        for task in run.latest_attempts():
            if task.task_key == task_key:
                return run, task
        if attempt + 1 < _FIND_ATTEMPTS:
            await asyncio.sleep(_FIND_PAUSE_SECONDS)
    raise DatabricksRunFailedError(f"Databricks job run {run_id} has no task with task_key {task_key!r}")


def execute_in_workflow(op: DatabricksTaskBaseOperator, context: Context) -> None:
    """Watch this task's task run inside the group's job run (defer, or wait in the worker)."""
    metadata = workflow_metadata(op, context)
    op.databricks_conn_id = metadata.conn_id
    op._register_secrets()
    op.databricks_run_id = metadata.run_id
    key = op.databricks_task_key
    job_run, task_run = op._hook().run_sync(partial(_find_task_run, run_id=metadata.run_id, task_key=key))
    ti = context["ti"]
    ti.xcom_push(key=XCOM_JOB_RUN_LINK_KEY, value=job_run.run_page_url)
    op.log.info(
        "Watching task %s (run %s) of Databricks job run %s; view it at %s",
        key,
        task_run.run_id,
        job_run.run_id,
        task_run.run_page_url or job_run.run_page_url,
    )
    if not op.wait_for_termination:
        return
    op._watches_task_run = True
    op.run_id = task_run.run_id
    trigger = op._trigger(task_run.run_id, task_run.run_page_url, _try_started(ti))
    if op.deferrable and not judge(task_run.state).is_final:
        op._defer_to_trigger(trigger)
    op._resolve(context, op._wait_here(trigger))  # the one verdict, as for a run of its own
