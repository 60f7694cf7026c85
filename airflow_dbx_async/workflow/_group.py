"""``DatabricksWorkflowTaskGroup``: a task group run as one Databricks job (official drop-in).

On leaving the ``with`` block the group adds a ``launch`` task upstream of its roots. At run time the
launch task creates the job named ``<dag_id>.<group_id>`` (or resets it to the group's current
tasks), then starts it once per DAG run: its ``run-now`` carries an idempotency token derived from
the DAG run and the launch task, so re-running the launch task re-attaches to the same job run
instead of starting another. Every task of the group then watches its own task run in that job run
(see :class:`~airflow_dbx_async.operators.DatabricksTaskBaseOperator`).
"""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, TaskGroup

from airflow_dbx_async.client import ConfigurationError, JobsClient
from airflow_dbx_async.exceptions import DatabricksConfigError
from airflow_dbx_async.hooks import DatabricksAsyncHook
from airflow_dbx_async.links import (
    XCOM_JOB_RUN_LINK_KEY,
    XCOM_TASK_KEYS_KEY,
    WorkflowJobRepairAllFailedLink,
    WorkflowJobRunLink,
)
from airflow_dbx_async.operators import (
    TaskIdentity,
    WorkflowRunMetadata,
    clear_number,
    idempotency_key,
    string_map,
    submit_idempotent,
    task_identity,
    try_started,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import TracebackType

    from airflow.sdk import Context

    from airflow_dbx_async.client import Run

__all__ = (
    "LAUNCH_TASK_ID",
    "XCOM_TASK_KEYS_KEY",
    "DatabricksWorkflowTaskGroup",
    "WorkflowRunMetadata",
    "deep_merge",
)

LAUNCH_TASK_ID = "launch"


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into ``base`` in place: mappings recursively, anything else replaced."""
    for key, value in override.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            deep_merge(current, value)
        else:
            base[key] = value
    return base


def _flatten(node: Any) -> list[Any]:
    if isinstance(node, TaskGroup):
        return [task for child in node.children.values() for task in _flatten(child)]
    return [node]


async def _create_or_reset(client: JobsClient, name: str, spec: Mapping[str, Any]) -> tuple[int, bool]:
    """The job named ``name``, reset to ``spec``, or a new one; and whether it was created."""
    matches = [j for j in await client.list_jobs(name=name) if (j.get("settings") or {}).get("name") == name]
    if matches:
        job_id = int(matches[0]["job_id"])
        await client.reset_job(job_id, spec)
        return job_id, False
    return await client.create_job(spec), True


# The group's job settings that its launch task takes over, which are also the launch task's
# templated fields, as in the official provider (both classes keep the official signatures).
_LAUNCH_FIELDS = (
    "databricks_conn_id",
    "access_control_list",
    "existing_clusters",
    "extra_job_params",
    "jar_params",
    "job_clusters",
    "max_concurrent_runs",
    "notebook_params",
    "python_params",
    "spark_submit_params",
)
# Each task's Databricks ``task_key`` as ``[task_id, task_key]`` pairs, fixed when the DAG is parsed
# and stored with the serialized DAG (an extra serialized field of the launch task; pairs, because
# Airflow reads an extra field back only if it is a plain value or list), where the repair plugin
# reads it: unlike an XCom, it cannot be written through Airflow's REST API.
TASK_KEYS_FIELD = "databricks_task_keys"


class _CreateDatabricksWorkflowOperator(BaseOperator):
    """The launch task of a :class:`DatabricksWorkflowTaskGroup` (created by the group).

    Parameters are those of the group, plus ``task_id`` and ``tasks_to_convert``.
    """

    template_fields: Sequence[str] = _LAUNCH_FIELDS
    caller = "_CreateDatabricksWorkflowOperator"
    operator_extra_links = (WorkflowJobRunLink(), WorkflowJobRepairAllFailedLink())

    def __init__(
        self,
        task_id: str,
        databricks_conn_id: str,
        access_control_list: list[dict[str, Any]] | None = None,
        existing_clusters: list[str] | None = None,
        extra_job_params: dict[str, Any] | None = None,
        jar_params: list[str] | None = None,
        job_clusters: list[dict[str, object]] | None = None,
        max_concurrent_runs: int = 1,
        notebook_params: dict[str, Any] | None = None,
        python_params: list[Any] | None = None,
        spark_submit_params: list[Any] | None = None,
        tasks_to_convert: dict[str, BaseOperator] | None = None,
        **kwargs: Any,
    ) -> None:
        self.databricks_conn_id = databricks_conn_id
        self.access_control_list = access_control_list
        self.existing_clusters = existing_clusters or []
        self.extra_job_params = extra_job_params or {}
        self.jar_params = jar_params or []
        self.job_clusters = job_clusters or []
        self.max_concurrent_runs = max_concurrent_runs
        self.notebook_params = notebook_params or {}
        self.python_params = python_params or []
        self.spark_submit_params = spark_submit_params or []
        self.tasks_to_convert = tasks_to_convert or {}
        self.databricks_task_keys: list[list[str]] = [
            [task_id, str(getattr(task, "databricks_task_key", ""))]
            for task_id, task in self.tasks_to_convert.items()
        ]
        self.relevant_upstreams: list[str] = []
        self.workflow_run_metadata: WorkflowRunMetadata | None = None
        super().__init__(task_id=task_id, **kwargs)

    @classmethod
    def get_serialized_fields(cls) -> frozenset[str]:
        """Airflow's serialized fields of an operator, plus each task's ``task_key``."""
        fields: frozenset[str] = super().get_serialized_fields()  # type: ignore[no-untyped-call]
        return fields | {TASK_KEYS_FIELD}

    def add_task(self, task_id: str, task: BaseOperator) -> None:
        """Add a task to convert into the job."""
        self.tasks_to_convert[task_id] = task
        self.databricks_task_keys.append([task_id, str(getattr(task, "databricks_task_key", ""))])

    @property
    def job_name(self) -> str:
        """``<dag_id>.<group_id>``, the name the job is found by."""
        if not self.task_group:
            raise DatabricksConfigError("task_group", "the launch task must be inside its task group")
        return f"{self.dag_id}.{self.task_group.group_id}"

    def create_workflow_json(self, context: Context | None = None) -> dict[str, object]:
        """The job settings for ``jobs/create`` and ``jobs/reset``, as the official provider builds them."""
        task_json = [
            task._convert_to_databricks_workflow_task(  # type: ignore[attr-defined]
                relevant_upstreams=self.relevant_upstreams, task_dict=self.tasks_to_convert, context=context
            )
            for task in self.tasks_to_convert.values()
        ]
        default_json: dict[str, Any] = {
            "name": self.job_name,
            "email_notifications": {"no_alert_for_skipped_runs": False},
            "timeout_seconds": 0,
            "tasks": task_json,
            "format": "MULTI_TASK",
            "job_clusters": self.job_clusters,
            "max_concurrent_runs": self.max_concurrent_runs,
        }
        if self.access_control_list is not None:
            default_json["access_control_list"] = self.access_control_list
        if not isinstance(self.extra_job_params, dict):
            raise DatabricksConfigError("extra_job_params", "must be a mapping")
        return deep_merge(default_json, self.extra_job_params)

    def run_now_json(self) -> dict[str, Any]:
        """The ``run-now`` body without its job id and token (the official provider's parameters).

        ``notebook_params`` values are sent as the run-now operator sends them: text, booleans as
        ``"true"``/``"false"``.
        """
        return {
            "jar_params": self.jar_params,
            "notebook_params": string_map(self.notebook_params, "notebook_params"),
            "python_params": self.python_params,
            "spark_submit_params": self.spark_submit_params,
        }

    def run_identity(self, context: Context) -> TaskIdentity:
        """Whose job run this is: the launch task of this DAG run, as often as the DAG run was cleared.

        A retry of the launch task keeps the identity, so its tokens return the same job run; a clear
        of the launch task or of the DAG run changes the clear number, so the group runs again.
        """
        key = idempotency_key(self.databricks_conn_id)
        return task_identity(context["ti"], clear=clear_number(context), key=key)

    async def _launch(
        self, client: JobsClient, spec: dict[str, object], identity: TaskIdentity, started_ms: int
    ) -> tuple[int, Run]:
        job_id, created = await _create_or_reset(client, self.job_name, spec)
        verb = "Created" if created else "Reset"
        self.log.info("%s Databricks job %s (%s)", verb, job_id, self.job_name)

        def submitted(run_id: int) -> None:
            self.workflow_run_metadata = WorkflowRunMetadata(self.databricks_conn_id, job_id, run_id)

        body = {"job_id": job_id, **self.run_now_json()}
        result = await submit_idempotent(
            client,
            JobsClient.run_now,
            body,
            identity=identity,
            try_started_ms=started_ms,
            on_submitted=submitted,
        )
        if result.reattached:
            self.log.info("Re-attached to Databricks job run %s of an earlier try", result.run.run_id)
        return job_id, result.run

    def execute(self, context: Context) -> dict[str, Any]:
        """Create or reset the job, start its run (once per DAG run) and return the run's metadata."""
        if not getattr(self.task_group, "is_databricks", False):
            raise DatabricksConfigError(
                "task_group", "the launch task must be in a DatabricksWorkflowTaskGroup"
            )
        try:
            spec = self.create_workflow_json(context=context)
            self.log.debug("Job settings: %s", json.dumps(spec, indent=2, default=str))
        except ConfigurationError as exc:
            raise DatabricksConfigError(exc.field, exc.message) from None
        ti = context["ti"]
        hook = DatabricksAsyncHook(self.databricks_conn_id)
        identity = self.run_identity(context)
        started_ms = int(try_started(ti) * 1000)
        try:
            job_id, run = hook.run_sync(
                partial(self._launch, spec=spec, identity=identity, started_ms=started_ms)
            )
        except ConfigurationError as exc:  # a job run that is not this group's
            raise DatabricksConfigError(exc.field, exc.message) from None
        self.log.info(
            "Databricks job run %s is %s; view it at %s", run.run_id, run.state.describe(), run.run_page_url
        )
        ti.xcom_push(key=XCOM_JOB_RUN_LINK_KEY, value=run.run_page_url)
        keys = {
            task_id: getattr(task, "databricks_task_key", "")
            for task_id, task in self.tasks_to_convert.items()
        }
        ti.xcom_push(key=XCOM_TASK_KEYS_KEY, value=keys)  # the official XCom; the repair only checks it
        return {"conn_id": self.databricks_conn_id, "job_id": job_id, "run_id": run.run_id}

    def on_kill(self) -> None:
        """Cancel the job run this task started, if it got that far."""
        metadata = self.workflow_run_metadata
        if metadata is None:
            self.log.error("The job run was not started, so there is nothing to cancel")
            return
        hook = DatabricksAsyncHook(self.databricks_conn_id)
        hook.run_sync(lambda client: client.cancel_run(metadata.run_id))
        self.log.info("Cancelled run %s of Databricks job %s", metadata.run_id, metadata.job_id)


def is_launch_task(task: Any) -> bool:
    """Whether ``task`` (an operator, or one from a serialized DAG) is a group's launch task."""
    module = getattr(task, "_task_module", __name__)
    return (
        getattr(task, "task_type", None) == _CreateDatabricksWorkflowOperator.__name__ and module == __name__
    )


class DatabricksWorkflowTaskGroup(TaskGroup):
    """A task group that runs its notebook and task operators as one Databricks job.

    :param databricks_conn_id: the Airflow connection id.
    :param access_control_list: job permissions, applied on create and reset (``[]`` keeps the current ones).
    :param existing_clusters: existing clusters the tasks may use.
    :param extra_job_params: job settings merged (deeply) over the generated ones.
    :param jar_params: ``run-now`` parameters of the JAR tasks.
    :param job_clusters: the job's shared clusters (``job_cluster_key`` in the tasks refers to them).
    :param max_concurrent_runs: the job's concurrent run limit.
    :param notebook_packages: libraries installed for every notebook task of the group.
    :param notebook_params: parameters for every notebook task (sent with ``run-now`` and merged
        into each notebook's ``base_parameters``).
    :param python_params: ``run-now`` parameters of the Python tasks.
    :param spark_submit_params: ``run-now`` parameters of the spark-submit tasks.
    """

    is_databricks = True

    def __init__(
        self,
        databricks_conn_id: str,
        access_control_list: list[dict[str, Any]] | None = None,
        existing_clusters: list[str] | None = None,
        extra_job_params: dict[str, Any] | None = None,
        jar_params: list[str] | None = None,
        job_clusters: list[dict[str, Any]] | None = None,
        max_concurrent_runs: int = 1,
        notebook_packages: list[dict[str, Any]] | None = None,
        notebook_params: dict[str, Any] | None = None,
        python_params: list[Any] | None = None,
        spark_submit_params: list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.databricks_conn_id = databricks_conn_id
        self.access_control_list = access_control_list
        self.existing_clusters = existing_clusters or []
        self.extra_job_params = extra_job_params or {}
        self.jar_params = jar_params or []
        self.job_clusters = job_clusters or []
        self.max_concurrent_runs = max_concurrent_runs
        self.notebook_packages = notebook_packages or []
        self.notebook_params = notebook_params or {}
        self.python_params = python_params or []
        self.spark_submit_params = spark_submit_params or []
        super().__init__(**kwargs)

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        """Add the launch task upstream of the group's roots and wire every task to its result."""
        roots = list(self.get_roots())
        tasks = _flatten(self)
        launch = _CreateDatabricksWorkflowOperator(
            dag=self.dag,
            task_group=self,
            task_id=LAUNCH_TASK_ID,
            **{name: getattr(self, name) for name in _LAUNCH_FIELDS},
        )
        try:
            for task in tasks:
                if not callable(getattr(task, "_convert_to_databricks_workflow_task", None)):
                    raise DatabricksConfigError(
                        "task_group", f"task {task.task_id} cannot run as a task of a Databricks job"
                    )
                task.workflow_run_metadata = launch.output
                launch.relevant_upstreams.append(task.task_id)
                launch.add_task(task.task_id, task)
            for root in roots:
                root.set_upstream(launch)
            # ``>>`` used on the group before the ``with`` block: move those edges to launch and leaves.
            for upstream_id in self.upstream_task_ids:
                launch.set_upstream(self.dag.get_task(upstream_id))
            for downstream_id in self.downstream_task_ids:
                for leaf in self.get_leaves():
                    leaf.set_downstream(self.dag.get_task(downstream_id))
        finally:
            super().__exit__(_type, _value, _tb)  # type: ignore[no-untyped-call]
