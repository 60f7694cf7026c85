"""Repair a workflow group's job run: choose the tasks, call ``runs/repair``, clear the Airflow tasks.

Runs inside Airflow's API server (see :mod:`airflow_dbx_async.workflow.plugin`). The plan reads the
DAG run, the launch task's XComs (job run metadata and each task's Databricks ``task_key``) and the
task instance states. The repair asks Databricks first, waits until the repaired tasks have new
task runs, and only then clears the Airflow tasks, so each cleared task finds and watches its new
attempt; when Databricks refuses, nothing is cleared.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client import JobsClient, Run, judge
from airflow_dbx_async.hooks import DatabricksAsyncHook, latest_repair_id
from airflow_dbx_async.links import XCOM_TASK_KEYS_KEY
from airflow_dbx_async.operators import WorkflowRunMetadata
from airflow_dbx_async.workflow._group import LAUNCH_TASK_ID

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = (
    "REPAIRABLE_STATES",
    "RepairError",
    "RepairPlan",
    "clear_tasks",
    "plan_repair",
    "repair_in_databricks",
)

# Task instance states "Repair All Failed Tasks" picks up.
REPAIRABLE_STATES = frozenset({"failed", "upstream_failed", "up_for_retry"})
# States in which a task may not be repaired (it is still watching or about to).
_BUSY_STATES = frozenset({"running", "deferred", "queued", "scheduled", "up_for_reschedule", "restarting"})
_NEW_ATTEMPT_TIMEOUT_SECONDS = 30.0


class RepairError(Exception):
    """A repair request that cannot be carried out; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RepairPlan:
    """What one repair request will do."""

    dag_id: str
    dag_run_id: str
    launch_task_id: str
    metadata: WorkflowRunMetadata
    task_ids: tuple[str, ...]
    task_keys: tuple[str, ...]
    states: dict[str, str | None]


def _launch_candidates(task_id: str) -> list[str]:
    """``a.b.task`` -> ``a.b.launch``, ``a.launch``, ``launch``: the launch task of each enclosing group."""
    parts = task_id.split(".")[:-1]
    return [".".join([*parts[:n], LAUNCH_TASK_ID]) for n in range(len(parts), -1, -1)]


def _xcom(session: Session, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel

    query = XComModel.get_many(run_id=run_id, key=key, task_ids=task_id, dag_ids=dag_id, limit=1)
    row = session.scalars(query).first()
    return None if row is None else XComModel.deserialize_value(row)


def _downstream_in(dag: Any, task_id: str, members: set[str]) -> list[str]:
    found, stack = [task_id], [task_id]
    while stack:
        for child in sorted(dag.get_task(stack.pop()).downstream_task_ids):
            if child in members and child not in found:
                found.append(child)
                stack.append(child)
    return found


def _states(session: Session, dag_id: str, run_id: str, task_ids: set[str]) -> dict[str, str | None]:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    rows = session.execute(
        select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id.in_(task_ids),
        )
    )
    return {task_id: (None if state is None else str(state)) for task_id, state in rows}


def _launch_of(session: Session, dag: Any, dag_run_id: str, task_id: str) -> tuple[str, Any, Any]:
    for candidate in _launch_candidates(task_id):
        if candidate in dag.task_dict:
            result = _xcom(session, dag.dag_id, dag_run_id, candidate, "return_value")
            keys = _xcom(session, dag.dag_id, dag_run_id, candidate, XCOM_TASK_KEYS_KEY)
            return candidate, result, keys
    raise RepairError(404, f"Task {task_id!r} is not in a Databricks workflow task group")


def plan_repair(session: Session, dag_id: str, dag_run_id: str, task_id: str) -> RepairPlan:
    """Which tasks to repair when ``task_id`` (a launch task: all failed ones) is chosen."""
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == dag_run_id))
    dag = DBDagBag().get_dag_for_run(dag_run, session=session) if dag_run is not None else None
    if dag is None or task_id not in dag.task_dict:
        raise RepairError(404, f"No task {task_id!r} in run {dag_run_id!r} of DAG {dag_id!r}")
    launch_id, result, keys = _launch_of(session, dag, dag_run_id, task_id)
    try:
        metadata = WorkflowRunMetadata.from_value(result)
    except ValueError:
        raise RepairError(409, f"{launch_id} has not started the Databricks job run yet") from None
    if not isinstance(keys, dict) or not keys:
        raise RepairError(409, f"{launch_id} did not record the Databricks task keys of its group")
    members = set(keys)
    states = _states(session, dag_id, dag_run_id, members)
    if task_id == launch_id:
        chosen = [t for t in keys if states.get(t) in REPAIRABLE_STATES]
    elif task_id in members:
        chosen = _downstream_in(dag, task_id, members)
    else:
        raise RepairError(404, f"Task {task_id!r} is not a Databricks task of its group")
    busy = [t for t in chosen if states.get(t) in _BUSY_STATES]
    if busy:
        raise RepairError(409, f"Tasks still running in Airflow: {', '.join(busy)}")
    return RepairPlan(
        dag_id=dag_id,
        dag_run_id=dag_run_id,
        launch_task_id=launch_id,
        metadata=metadata,
        task_ids=tuple(chosen),
        task_keys=tuple(str(keys[t]) for t in chosen),
        states={t: states.get(t) for t in keys},
    )


def _attempts(run: Run) -> dict[str, int]:
    return {task.task_key: task.run_id for task in run.latest_attempts()}


async def _await_new_attempts(
    client: JobsClient, run_id: int, before: dict[str, int], keys: tuple[str, ...]
) -> None:
    deadline = time.monotonic() + _NEW_ATTEMPT_TIMEOUT_SECONDS
    while True:
        now = _attempts(await client.get_run(run_id))
        if all(now.get(key) not in (None, before.get(key)) for key in keys):
            return
        if time.monotonic() > deadline:
            raise RepairError(
                504, f"Databricks accepted the repair but run {run_id} shows no new task runs yet"
            )
        await asyncio.sleep(0.5)


async def repair_in_databricks(plan: RepairPlan) -> int:
    """``runs/repair`` for the plan's tasks (with ``latest_repair_id``); returns the repair id."""
    if not plan.task_keys:
        raise RepairError(400, "No failed tasks to repair")
    run_id = plan.metadata.run_id
    config = await DatabricksAsyncHook(plan.metadata.conn_id).aget_config()
    async with JobsClient(config) as client:
        raw = await client.get_run_json(run_id)
        run = Run.from_api(raw)
        if not judge(run.state).is_final:
            raise RepairError(
                409, f"Databricks run {run_id} is still {run.state.describe()}; repair it once it ends"
            )
        body: dict[str, Any] = {"run_id": run_id, "rerun_tasks": list(plan.task_keys)}
        latest = await latest_repair_id(client, run_id)
        if latest is not None:
            body["latest_repair_id"] = latest
        if raw.get("overriding_parameters"):
            body["overriding_parameters"] = raw["overriding_parameters"]
        repair_id = await client.repair_run(body)
        await _await_new_attempts(client, run_id, _attempts(run), plan.task_keys)
        return repair_id


def clear_tasks(session: Session, plan: RepairPlan) -> int:
    """Clear the plan's Airflow tasks (the DAG run goes back to queued); returns how many were cleared."""
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    dag_run = session.scalar(
        select(DagRun).where(DagRun.dag_id == plan.dag_id, DagRun.run_id == plan.dag_run_id)
    )
    dag = DBDagBag().get_dag_for_run(dag_run, session=session) if dag_run is not None else None
    if dag is None:
        raise RepairError(404, f"DAG run {plan.dag_run_id!r} of {plan.dag_id!r} is gone")
    cleared: int = dag.clear(task_ids=list(plan.task_ids), run_id=plan.dag_run_id, session=session)
    return cleared
