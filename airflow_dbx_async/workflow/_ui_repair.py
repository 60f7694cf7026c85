"""Repair a workflow group's job run: choose the tasks, call ``runs/repair``, clear the Airflow tasks.

Runs inside Airflow's API server (see :mod:`airflow_dbx_async.workflow.plugin`). A user who may
write XComs (Airflow 3.3 lets the ``USER`` role, and any task of any DAG) must not be able to steer
the repair, so only the Databricks run id comes from the launch task's XCom, and it is checked
against Databricks before anything is repaired:

- the connection, the job's name and every task's ``task_key`` come from the serialized DAG and the
  launch task's rendered fields, which the REST API cannot write; XComs that disagree with them
  (another connection, other task keys) were rewritten, and the repair is refused before any request;
- only a ``databricks`` connection is used;
- ``runs/get`` must show a run of the job the launch task created or reset (its ``job_id``), and
  ``jobs/get`` must name that job as the group does, before ``runs/repair`` is sent.

The repair asks Databricks first, waits until the repaired tasks have new task runs, and only then
clears the Airflow tasks, so each cleared task finds and watches its new attempt; when Databricks
refuses, nothing is cleared. What went wrong is logged here; the browser gets a generic answer.

The Databricks tab (:mod:`airflow_dbx_async.workflow._ui_run`) finds and checks a group's job run
with the same functions (:func:`find_group_run`, :func:`check_run_of_group`,
:func:`connection_config`): one way to the run, for the repair and the view.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client import JobsClient, Run, judge
from airflow_dbx_async.hooks import DatabricksAsyncHook, latest_repair_id
from airflow_dbx_async.links import XCOM_TASK_KEYS_KEY
from airflow_dbx_async.operators import WorkflowRunMetadata
from airflow_dbx_async.workflow._group import LAUNCH_TASK_ID, TASK_KEYS_FIELD, is_launch_task

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy.orm import Session

    from airflow_dbx_async.client import ClientConfig

__all__ = (
    "GENERIC_FAILURE",
    "REPAIRABLE_STATES",
    "GroupRun",
    "RepairError",
    "RepairPlan",
    "check_run_of_group",
    "clear_tasks",
    "connection_config",
    "dag_of_run",
    "find_group_run",
    "plan_repair",
    "rendered_fields",
    "repair_in_databricks",
    "xcom_value",
)

# Task instance states "Repair All Failed Tasks" picks up.
REPAIRABLE_STATES = frozenset({"failed", "upstream_failed", "up_for_retry"})
# States in which a task may not be repaired (it is still watching or about to).
_BUSY_STATES = frozenset({"running", "deferred", "queued", "scheduled", "up_for_reschedule", "restarting"})
_NEW_ATTEMPT_TIMEOUT_SECONDS = 30.0
_CONN_TYPE = "databricks"
GENERIC_FAILURE = "Repair failed; see the API server log"
"""The only answer the browser gets when the repair fails past planning (details are logged)."""

_log = logging.getLogger(__name__)


class RepairError(Exception):
    """A repair request that cannot be carried out; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class GroupRun:
    """A workflow group's job run, as the DAG and the launch task's XCom name it (repair and view).

    ``conn_id``, ``job_name`` and ``task_keys`` come from the DAG; of ``metadata`` (the launch task's
    XCom) only the run id is used, once Databricks has shown it is a run of the group's job.

    :param task_keys: each member's ``task_key``, by task id, as the serialized DAG holds them.
    """

    dag_id: str
    dag_run_id: str
    launch_task_id: str
    conn_id: str
    job_name: str
    metadata: WorkflowRunMetadata
    task_keys: dict[str, str]


@dataclass(frozen=True)
class RepairPlan:
    """What one repair request will do: which tasks of ``group`` to re-run."""

    group: GroupRun
    task_ids: tuple[str, ...]
    task_keys: tuple[str, ...]
    states: dict[str, str | None]

    @property
    def dag_id(self) -> str:
        """The DAG of the repaired run."""
        return self.group.dag_id

    @property
    def dag_run_id(self) -> str:
        """The repaired DAG run."""
        return self.group.dag_run_id

    @property
    def metadata(self) -> WorkflowRunMetadata:
        """The group's job run (the launch task's XCom, checked against Databricks before use)."""
        return self.group.metadata


def _launch_candidates(task_id: str) -> list[str]:
    """``a.b.task`` -> ``a.b.launch``, ``a.launch``, ``launch``: the launch task of each enclosing group."""
    parts = task_id.split(".")[:-1]
    return [".".join([*parts[:n], LAUNCH_TASK_ID]) for n in range(len(parts), -1, -1)]


def xcom_value(
    session: Session, dag_id: str, run_id: str, task_id: str, key: str, map_index: int = -1
) -> Any:
    """The XCom ``key`` of one task instance, or ``None``."""
    from airflow.models.xcom import XComModel

    query = XComModel.get_many(
        run_id=run_id, key=key, task_ids=task_id, dag_ids=dag_id, map_indexes=map_index, limit=1
    )
    row = session.scalars(query).first()
    return None if row is None else XComModel.deserialize_value(row)


def rendered_fields(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> dict[str, Any]:
    """A task instance's rendered templated fields (stored by Airflow, not writable over its API)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rtif
    from sqlalchemy import select

    row = session.scalar(
        select(Rtif).where(
            Rtif.dag_id == dag_id,
            Rtif.run_id == run_id,
            Rtif.task_id == task_id,
            Rtif.map_index == map_index,
        )
    )
    fields = None if row is None else row.rendered_fields
    return fields if isinstance(fields, dict) else {}


def _field(launch: Any, rendered: dict[str, Any], name: str) -> Any:
    """A templated field of the launch task: rendered for this run, else as the DAG holds it."""
    if name in rendered:
        return rendered[name]
    value = getattr(launch, name, None)
    if isinstance(value, str) and "{{" in value:
        raise RepairError(409, f"{launch.task_id} has not rendered its {name} in this DAG run")
    return value


def _members(group: Any, launch_id: str) -> list[str]:
    """The task ids of a (serialized) task group, nested groups included, without the launch task."""
    found: list[str] = []
    for child in group.children.values():
        if hasattr(child, "children"):
            found.extend(_members(child, launch_id))
        elif child.task_id != launch_id:
            found.append(child.task_id)
    return found


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


def _launch_of(dag: Any, task_id: str) -> Any:
    for candidate in _launch_candidates(task_id):
        task = dag.task_dict.get(candidate)
        if task is not None and is_launch_task(task) and task.task_group is not None:
            return task
    raise RepairError(404, f"Task {task_id!r} is not in a Databricks workflow task group")


def _task_keys(launch: Any, members: list[str]) -> dict[str, str]:
    """Each member's ``task_key`` as the serialized DAG holds it (never from an XCom)."""
    pairs = getattr(launch, TASK_KEYS_FIELD, None)
    keys = dict(p for p in pairs if isinstance(p, list) and len(p) == 2) if isinstance(pairs, list) else {}
    if set(keys) != set(members) or not all(isinstance(k, str) and k for k in keys.values()):
        raise RepairError(
            409, f"The DAG of this run does not record the Databricks task keys of {launch.task_id}'s group"
        )
    return {task_id: str(keys[task_id]) for task_id in members}


def _job_name(dag_id: str, launch: Any, rendered: dict[str, Any]) -> str:
    """The job's name as the launch task sets it: ``<dag_id>.<group_id>``, or ``extra_job_params``'s."""
    extra = rendered.get("extra_job_params")
    if not isinstance(extra, dict):  # not rendered, or stored as a (truncated) string
        extra = getattr(launch, "extra_job_params", None)
    name = extra.get("name") if isinstance(extra, dict) else None
    return name if isinstance(name, str) and name else f"{dag_id}.{launch.task_group.group_id}"


def _refuse_rewritten(
    metadata: WorkflowRunMetadata,
    conn_id: str,
    recorded_keys: Any,
    keys: dict[str, str],
    *,
    where: tuple[str, str, str],
) -> None:
    """Refuse, before any request, when the launch task's XComs disagree with the DAG: rewritten."""
    if metadata.conn_id == conn_id and (recorded_keys is None or recorded_keys == keys):
        return
    _log.warning(
        "Refused the job run of %s/%s/%s: its XComs were rewritten (connection %r, task keys %r)",
        *where,
        metadata.conn_id,
        recorded_keys,
    )
    raise RepairError(403, GENERIC_FAILURE)


def dag_of_run(session: Session, dag_id: str, dag_run_id: str, task_id: str) -> Any:
    """The serialized DAG of the DAG run, holding ``task_id``; ``RepairError`` 404 otherwise."""
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == dag_run_id))
    dag = DBDagBag().get_dag_for_run(dag_run, session=session) if dag_run is not None else None
    if dag is None or task_id not in dag.task_dict:
        raise RepairError(404, f"No task {task_id!r} in run {dag_run_id!r} of DAG {dag_id!r}")
    return dag


def find_group_run(session: Session, dag: Any, dag_run_id: str, task_id: str) -> GroupRun:
    """The job run of the workflow group holding ``task_id`` (a member or the launch task).

    ``RepairError``: 404 outside a group, 409 before the launch task started the job run, 403 (with
    the generic answer) when the launch task's XComs disagree with the DAG.
    """
    dag_id = str(dag.dag_id)
    launch = _launch_of(dag, task_id)
    launch_id = launch.task_id
    keys = _task_keys(launch, _members(launch.task_group, launch_id))
    rendered = rendered_fields(session, dag_id, dag_run_id, launch_id)
    conn_id = _field(launch, rendered, "databricks_conn_id")
    if not isinstance(conn_id, str) or not conn_id:
        raise RepairError(409, f"{launch_id} names no Databricks connection")
    try:
        metadata = WorkflowRunMetadata.from_value(
            xcom_value(session, dag_id, dag_run_id, launch_id, "return_value")
        )
    except ValueError:
        raise RepairError(409, f"{launch_id} has not started the Databricks job run yet") from None
    recorded_keys = xcom_value(session, dag_id, dag_run_id, launch_id, XCOM_TASK_KEYS_KEY)
    _refuse_rewritten(metadata, conn_id, recorded_keys, keys, where=(dag_id, dag_run_id, launch_id))
    return GroupRun(
        dag_id=dag_id,
        dag_run_id=dag_run_id,
        launch_task_id=launch_id,
        conn_id=conn_id,
        job_name=_job_name(dag_id, launch, rendered),
        metadata=metadata,
        task_keys=keys,
    )


def plan_repair(session: Session, dag_id: str, dag_run_id: str, task_id: str) -> RepairPlan:
    """Which tasks to repair when ``task_id`` (a launch task: all failed ones) is chosen."""
    dag = dag_of_run(session, dag_id, dag_run_id, task_id)
    group = find_group_run(session, dag, dag_run_id, task_id)
    keys = group.task_keys
    states = _states(session, dag_id, dag_run_id, set(keys))
    if task_id == group.launch_task_id:
        chosen = [t for t in keys if states.get(t) in REPAIRABLE_STATES]
    elif task_id in keys:
        chosen = _downstream_in(dag, task_id, set(keys))
    else:
        raise RepairError(404, f"Task {task_id!r} is not a Databricks task of its group")
    busy = [t for t in chosen if states.get(t) in _BUSY_STATES]
    if busy:
        raise RepairError(409, f"Tasks still running in Airflow: {', '.join(busy)}")
    return RepairPlan(
        group=group,
        task_ids=tuple(chosen),
        task_keys=tuple(keys[t] for t in chosen),
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


def _refuse(group: GroupRun, why: str, status: int = 502) -> RepairError:
    """Log why the group's run is refused (for the API server's operators); the caller gets a generic one."""
    _log.warning(
        "Refused Databricks run %s for %s/%s/%s: %s",
        group.metadata.run_id,
        group.dag_id,
        group.dag_run_id,
        group.launch_task_id,
        why,
    )
    return RepairError(status, GENERIC_FAILURE)


async def connection_config(conn_id: str, refuse: Callable[[str], RepairError]) -> ClientConfig:
    """The connection as a client config; only a ``databricks`` connection, else ``refuse(why)``.

    Its secrets are registered with Airflow's masker on the way (the hook does it).
    """
    hook = DatabricksAsyncHook(conn_id)
    try:
        conn = await hook.aget_connection(conn_id)
    except Exception as exc:  # not found, or the secrets backend failed: the same answer either way
        raise refuse(f"connection {conn_id!r} cannot be read ({type(exc).__name__})") from None
    if conn.conn_type != _CONN_TYPE:
        raise refuse(f"connection {conn_id!r} is of type {conn.conn_type!r}, not {_CONN_TYPE!r}")
    try:
        return await hook.aget_config()
    except Exception as exc:
        raise refuse(f"connection {conn_id!r} is not usable: {exc}") from None


async def check_run_of_group(
    client: JobsClient, group: GroupRun, run: Run, task_keys: Iterable[str] = ()
) -> None:
    """Refuse unless ``run`` is a run of the job the launch task created or reset, named as the group's.

    :param task_keys: keys the run must hold (the tasks to repair).
    """
    if run.run_id != group.metadata.run_id or not run.job_id or run.job_id != group.metadata.job_id:
        raise _refuse(
            group, f"run {group.metadata.run_id} belongs to job {run.job_id}, not to the launch task's", 403
        )
    job = await client.get_job(run.job_id)
    name = (job.get("settings") or {}).get("name")
    if name != group.job_name:
        raise _refuse(group, f"job {run.job_id} is named {name!r}, not {group.job_name!r}", 403)
    present = {task.task_key for task in run.tasks or ()}
    missing = [key for key in task_keys if key not in present]
    if missing:
        raise _refuse(group, f"run {run.run_id} has no task {', '.join(missing)}", 403)


async def repair_in_databricks(plan: RepairPlan) -> int:
    """``runs/repair`` for the plan's tasks (with ``latest_repair_id``); returns the repair id.

    The connection is checked before any request, and the run before the repair.
    """
    if not plan.task_keys:
        raise RepairError(400, "No failed tasks to repair")
    run_id = plan.metadata.run_id
    config = await connection_config(plan.group.conn_id, partial(_refuse, plan.group))
    async with JobsClient(config) as client:
        raw = await client.get_run_json(run_id)
        run = Run.from_api(raw)
        await check_run_of_group(client, plan.group, run, plan.task_keys)
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
