"""Deferrable drop-in replacements for the official Databricks submit-run and run-now operators.

Parameter names, defaults and templated fields follow the official provider, so migrating is a change
of import. Waiting happens in the triggerer (see :mod:`airflow_dbx_async.triggers`); a failed run
raises :class:`DatabricksRunFailedError` with one line, after logging every failed task's error,
stack trace, notebook result and logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_dbx_async._compat import conf
from airflow_dbx_async.client import JobsClient
from airflow_dbx_async.exceptions import DatabricksConfigError, DatabricksRunFailedError
from airflow_dbx_async.operators._forwarding import (
    forward_into_run_now,
    forward_into_submit,
    openlineage_run_now,
    openlineage_submit,
)
from airflow_dbx_async.operators._operator_base import DatabricksDeferrableOperatorBase
from airflow_dbx_async.operators._payload import normalise, run_now_payload, submit_payload
from airflow_dbx_async.operators._run_repair import repair_failed_run
from airflow_dbx_async.outcome import RepairPolicy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_dbx_async.client import Run
    from airflow_dbx_async.operators._idempotency import Submit
    from airflow_dbx_async.outcome import RunEvent

__all__ = (
    "DatabricksConfigError",
    "DatabricksRunFailedError",
    "DatabricksRunNowDeferrableOperator",
    "DatabricksRunNowOperator",
    "DatabricksSubmitRunDeferrableOperator",
    "DatabricksSubmitRunOperator",
)


_OL_PARENT_DEFAULT = conf.getboolean("openlineage", "spark_inject_parent_job_info", fallback=False)
_OL_TRANSPORT_DEFAULT = conf.getboolean("openlineage", "spark_inject_transport_info", fallback=False)


class DatabricksSubmitRunDeferrableOperator(DatabricksDeferrableOperatorBase):
    """Submit a one-time run (``jobs/runs/submit``) and wait for it in the triggerer.

    The named parameters are merged over ``json`` (named ones win), exactly as in the official operator.

    :param json: the runs/submit body: a mapping, a JSON string or a dict literal (templated).
    :param tasks: a list of task mappings, each with ``task_key`` (templated).
    :param spark_jar_task: a single JAR task (templated). Give exactly one task type, or ``tasks``.
    :param notebook_task: a single notebook task (templated).
    :param spark_python_task: a single Python file task (templated).
    :param spark_submit_task: a single spark-submit task (templated).
    :param pipeline_task: a single pipeline task: ``pipeline_id``, or ``pipeline_name`` looked up with
        the Pipelines API as the official operator does (templated).
    :param dbt_task: a single dbt task; needs ``git_source`` (templated).
    :param new_cluster: the cluster spec for the run (templated); not with ``existing_cluster_id``.
    :param existing_cluster_id: run on this cluster (templated).
    :param libraries: libraries to install (templated).
    :param environments: serverless environments (templated).
    :param run_name: the run name; defaults to the task id (templated).
    :param timeout_seconds: Databricks-side timeout, 0 for none (templated).
    :param idempotency_token: used as-is when set; otherwise one is derived per task try (templated).
    :param access_control_list: run permissions (templated).
    :param git_source: remote repository for the task sources (templated).
    :param performance_target: serverless performance mode (templated).
    :param databricks_conn_id: the Airflow connection id (templated).
    :param polling_period_seconds: the longest pause between two polls (default 30).
    :param databricks_retry_limit: attempts per request, the first included (default 3).
    :param databricks_retry_delay: first backoff delay in seconds (default 1).
    :param databricks_retry_args: accepted for compatibility and ignored.
    :param do_xcom_push: push ``run_id`` and ``run_page_url`` to XCom (default True).
    :param wait_for_termination: wait for the run to end (default True).
    :param deferrable: accepted for compatibility; the operator always defers while waiting.
    :param cancel_on_kill: cancel the run when the task is killed or its execution_timeout passes.
    """

    template_fields: Sequence[str] = (
        "json",
        "tasks",
        "spark_jar_task",
        "notebook_task",
        "spark_python_task",
        "spark_submit_task",
        "pipeline_task",
        "dbt_task",
        "new_cluster",
        "existing_cluster_id",
        "libraries",
        "environments",
        "run_name",
        "timeout_seconds",
        "idempotency_token",
        "access_control_list",
        "git_source",
        "performance_target",
        "databricks_conn_id",
    )
    _submit: ClassVar[Submit] = JobsClient.submit_run
    official_run_key: ClassVar[str | None] = "databricks_run_id"

    def __init__(
        self,
        *,
        tasks: list[object] | None = None,
        spark_jar_task: dict[str, Any] | None = None,
        notebook_task: dict[str, Any] | None = None,
        spark_python_task: dict[str, Any] | None = None,
        spark_submit_task: dict[str, Any] | None = None,
        pipeline_task: dict[str, Any] | None = None,
        dbt_task: dict[str, Any] | None = None,
        new_cluster: dict[str, object] | None = None,
        existing_cluster_id: str | None = None,
        libraries: list[dict[str, Any]] | None = None,
        environments: list[dict[str, Any]] | None = None,
        run_name: str | None = None,
        timeout_seconds: int | None = None,
        idempotency_token: str | None = None,
        access_control_list: list[dict[str, str]] | None = None,
        git_source: dict[str, str] | None = None,
        performance_target: str | None = None,
        openlineage_inject_parent_job_info: bool = _OL_PARENT_DEFAULT,
        openlineage_inject_transport_info: bool = _OL_TRANSPORT_DEFAULT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.openlineage_inject_parent_job_info = openlineage_inject_parent_job_info
        self.openlineage_inject_transport_info = openlineage_inject_transport_info
        self.tasks = tasks
        self.spark_jar_task = spark_jar_task
        self.notebook_task = notebook_task
        self.spark_python_task = spark_python_task
        self.spark_submit_task = spark_submit_task
        self.pipeline_task = pipeline_task
        self.dbt_task = dbt_task
        self.new_cluster = new_cluster
        self.existing_cluster_id = existing_cluster_id
        self.libraries = libraries
        self.environments = environments
        self.run_name = run_name
        self.timeout_seconds = timeout_seconds
        self.idempotency_token = idempotency_token
        self.access_control_list = access_control_list
        self.git_source = git_source
        self.performance_target = performance_target

    def build_payload(self) -> dict[str, Any]:
        """The checked runs/submit body (``run_name`` defaults to the task id)."""
        named = {
            "tasks": self.tasks,
            "spark_jar_task": self.spark_jar_task,
            "notebook_task": self.notebook_task,
            "spark_python_task": self.spark_python_task,
            "spark_submit_task": self.spark_submit_task,
            "pipeline_task": self.pipeline_task,
            "dbt_task": self.dbt_task,
            "new_cluster": self.new_cluster,
            "existing_cluster_id": self.existing_cluster_id,
            "libraries": self.libraries,
            "environments": self.environments,
            "run_name": self.run_name,
            "timeout_seconds": self.timeout_seconds,
            "idempotency_token": self.idempotency_token,
            "access_control_list": self.access_control_list,
            "git_source": self.git_source,
            "performance_target": self.performance_target,
        }
        return submit_payload(self.json, named, default_run_name=self.task_id)

    def finalise_payload(self, payload: dict[str, Any], context: Context) -> dict[str, Any]:
        """Forward the task's ``params`` into empty task parameter slots; inject OpenLineage info."""
        body = forward_into_submit(payload, self.params)
        body = openlineage_submit(
            body,
            context,
            parent_job_info=self.openlineage_inject_parent_job_info,
            transport_info=self.openlineage_inject_transport_info,
        )
        result: dict[str, Any] = normalise(body, "")
        return result

    async def prepare(self, client: JobsClient, payload: dict[str, Any]) -> dict[str, Any]:
        """Look a single ``pipeline_task``'s ``pipeline_name`` up (the official operator's lookup)."""
        task = payload.get("pipeline_task")
        if not isinstance(task, dict) or task.get("pipeline_id") or not task.get("pipeline_name"):
            return payload
        name = str(task["pipeline_name"])
        pipeline_id = await client.pipelines.find_pipeline_id_by_name(name)
        self.log.info("Pipeline %r has pipeline_id %s", name, pipeline_id)
        resolved = {k: v for k, v in task.items() if k not in ("pipeline_name", "pipeline_id")}
        return {**payload, "pipeline_task": {**resolved, "pipeline_id": pipeline_id}}


class DatabricksRunNowDeferrableOperator(DatabricksDeferrableOperatorBase):
    """Run an existing job (``jobs/run-now``) and wait for it in the triggerer.

    :param job_id: the job to run (templated); not with ``job_name``.
    :param job_name: look the job up by its exact name (templated); exactly one job must match.
    :param json: the run-now body: a mapping, a JSON string or a dict literal (templated).
    :param job_parameters: job-level parameters (templated); not with the legacy ``*_params``.
    :param notebook_params: notebook widget values, at most 10 000 bytes as JSON (templated).
    :param python_params: arguments of Python tasks (templated).
    :param python_named_params: named arguments of Python wheel tasks (templated).
    :param jar_params: arguments of JAR tasks (templated); not with ``notebook_params``.
    :param spark_submit_params: arguments of spark-submit tasks (templated).
    :param sql_params: parameters of SQL tasks (templated).
    :param dbt_commands: commands of dbt tasks (templated).
    :param idempotency_token: used as-is when set; otherwise one is derived per task try (templated).
    :param performance_target: serverless performance mode (templated).
    :param cancel_previous_runs: cancel the job's active runs before starting this one.

    The connection, polling, retry, XCom and cancellation parameters are those of
    :class:`DatabricksSubmitRunDeferrableOperator`.
    """

    template_fields: Sequence[str] = (
        "json",
        "job_id",
        "job_name",
        "job_parameters",
        "dbt_commands",
        "notebook_params",
        "python_params",
        "python_named_params",
        "jar_params",
        "spark_submit_params",
        "idempotency_token",
        "performance_target",
        "databricks_conn_id",
    )
    _submit: ClassVar[Submit] = JobsClient.run_now
    official_run_key: ClassVar[str | None] = "databricks_run_now_id"

    def __init__(
        self,
        *,
        job_id: int | str | None = None,
        job_name: str | None = None,
        job_parameters: dict[str, Any] | None = None,
        dbt_commands: list[str] | None = None,
        notebook_params: dict[str, Any] | None = None,
        python_params: list[str] | None = None,
        jar_params: list[str] | None = None,
        spark_submit_params: list[str] | None = None,
        python_named_params: dict[str, Any] | None = None,
        sql_params: dict[str, Any] | None = None,
        idempotency_token: str | None = None,
        performance_target: str | None = None,
        openlineage_inject_parent_job_info: bool = _OL_PARENT_DEFAULT,
        repair_run: bool = False,
        databricks_repair_reason_new_settings: dict[str, Any] | None = None,
        cancel_previous_runs: bool = False,
        forward_dag_params: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.openlineage_inject_parent_job_info = openlineage_inject_parent_job_info
        self.repair_run = repair_run
        self.databricks_repair_reason_new_settings = databricks_repair_reason_new_settings or {}
        self.forward_dag_params = forward_dag_params
        self.job_id = job_id
        self.job_name = job_name
        self.job_parameters = job_parameters
        self.dbt_commands = dbt_commands
        self.notebook_params = notebook_params
        self.python_params = python_params
        self.jar_params = jar_params
        self.spark_submit_params = spark_submit_params
        self.python_named_params = python_named_params
        self.sql_params = sql_params
        self.idempotency_token = idempotency_token
        self.performance_target = performance_target
        self.cancel_previous_runs = cancel_previous_runs

    def build_payload(self) -> dict[str, Any]:
        """The checked run-now body (a ``job_name`` is resolved to a ``job_id`` when submitting)."""
        named = {
            "job_id": self.job_id,
            "job_name": self.job_name,
            "job_parameters": self.job_parameters,
            "dbt_commands": self.dbt_commands,
            "notebook_params": self.notebook_params,
            "python_params": self.python_params,
            "python_named_params": self.python_named_params,
            "jar_params": self.jar_params,
            "spark_submit_params": self.spark_submit_params,
            "sql_params": self.sql_params,
            "idempotency_token": self.idempotency_token,
            "performance_target": self.performance_target,
        }
        return run_now_payload(self.json, named)

    def finalise_payload(self, payload: dict[str, Any], context: Context) -> dict[str, Any]:
        """Forward the task's ``params`` as ``job_parameters`` (``forward_dag_params``); OpenLineage."""
        body = forward_into_run_now(payload, self.params, enabled=self.forward_dag_params)
        return openlineage_run_now(body, context, parent_job_info=self.openlineage_inject_parent_job_info)

    async def prepare(self, client: JobsClient, payload: dict[str, Any]) -> dict[str, Any]:
        """Resolve ``job_name`` and cancel the job's active runs when asked to."""
        body = dict(payload)
        name = body.pop("job_name", None)
        if name is not None:
            body["job_id"] = await client.find_job_id_by_name(str(name))
            self.log.info("Job %r has job_id %s", name, body["job_id"])
        if self.cancel_previous_runs:
            await client.cancel_all_runs(body["job_id"])
            self.log.info("Cancelled the active runs of job %s", body["job_id"])
        return body

    def repair_policy(self) -> RepairPolicy:
        """``repair_run``: once, when no reason is configured or one occurs in the state message."""
        reasons = tuple(self.databricks_repair_reason_new_settings)
        return RepairPolicy(enabled=bool(self.repair_run), reasons=reasons, allowed=1)

    def repair(self, context: Context, event: RunEvent) -> Run:
        """Re-run all failed tasks of the run (updating the job first when a reason matched)."""
        payload = self._checked_payload(context)
        # The job to update as the official operator names it: the request's job_id when waiting in
        # the worker, the run's own job id (an int) when resuming from the triggerer.
        job_id = None if self.deferrable else payload.get("job_id")
        message = event.state.state_message if event.state is not None else ""
        repair_id, run = self._hook().run_sync(
            lambda client: repair_failed_run(
                client,
                event.run_id,
                reasons=self.databricks_repair_reason_new_settings,
                state_message=message,
                job_parameters=payload.get("job_parameters"),
                job_id=job_id,
            )
        )
        self.log.warning(
            "Repairing Databricks run %s: all failed tasks re-run (repair %s)", event.run_id, repair_id
        )
        return run


DatabricksSubmitRunOperator = DatabricksSubmitRunDeferrableOperator
DatabricksRunNowOperator = DatabricksRunNowDeferrableOperator
