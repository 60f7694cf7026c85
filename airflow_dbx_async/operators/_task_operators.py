"""Deferrable drop-ins for the official ``DatabricksNotebookOperator`` and ``DatabricksTaskOperator``.

Alone, each operator submits a one-time run (``runs/submit``) with the same body as the official
one, plus a derived idempotency token, and waits for it in the triggerer. Inside a
:class:`~airflow_dbx_async.workflow.DatabricksWorkflowTaskGroup` it submits nothing: it finds its own
task run in the group's job run and waits for that task run only, so its log carries that task's
failure report. ``deferrable=False`` waits in the worker instead, with the same judge and report.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_dbx_async.client import ConfigurationError, JobsClient, judge
from airflow_dbx_async.exceptions import DatabricksConfigError
from airflow_dbx_async.hooks import DEFAULT_CONN_ID, read_flag
from airflow_dbx_async.links import XCOM_JOB_RUN_LINK_KEY
from airflow_dbx_async.operators import _workflow_member as wf
from airflow_dbx_async.operators._operator_base import DatabricksDeferrableOperatorBase
from airflow_dbx_async.operators._payload_checks import string_map
from airflow_dbx_async.operators._task_identity import default_task_key
from airflow_dbx_async.operators._task_identity import try_started as _try_started
from airflow_dbx_async.triggers import DatabricksTaskRunTrigger

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import BaseOperatorLink, Context

    from airflow_dbx_async.operators._idempotency import Submit
    from airflow_dbx_async.operators._workflow_member import WorkflowRunMetadata
    from airflow_dbx_async.triggers import DatabricksRunTrigger

__all__ = ("DatabricksNotebookOperator", "DatabricksTaskBaseOperator", "DatabricksTaskOperator")

_MAX_TASK_KEY = 100


class DatabricksTaskBaseOperator(DatabricksDeferrableOperatorBase):
    """What the notebook and task operators share; use one of the two.

    :param caller: the operator name used in log lines (as in the official provider).
    :param databricks_conn_id: the Airflow connection id (templated).
    :param databricks_task_key: the Databricks ``task_key``; by default the MD5 of ``dag_id__task_id``.
    :param databricks_retry_args: accepted for compatibility; the client's own backoff is used.
    :param databricks_retry_delay: first backoff delay in seconds.
    :param databricks_retry_limit: attempts per request, the first included.
    :param deferrable: wait in the triggerer (default); ``False`` waits in the worker.
    :param existing_cluster_id: run on this cluster.
    :param job_cluster_key: inside a workflow group, the job cluster to run on.
    :param new_cluster: the cluster spec for a standalone run.
    :param polling_period_seconds: the longest pause between two polls (default 5).
    :param wait_for_termination: wait for the run (or task run) to end.
    :param workflow_run_metadata: ``{"conn_id", "job_id", "run_id"}`` of the group's job run (templated);
        set by the group from its launch task.
    :param max_retries: Databricks task retry count; ``-1`` for unlimited (templated).
    :param min_retry_interval_millis: minimum interval between Databricks task retries (templated).
    :param retry_on_timeout: whether Databricks retries timed-out tasks (templated).
    """

    pushes_job_id_when_deferrable: ClassVar[bool] = False  # the official task operators push none

    template_fields: Sequence[str] = ("databricks_conn_id",)
    template_ext: Sequence[str] = ()
    operator_extra_links: tuple[BaseOperatorLink, ...] = ()  # type: ignore[assignment]
    _submit: ClassVar[Submit] = JobsClient.submit_run

    def __init__(
        self,
        caller: str = "DatabricksTaskBaseOperator",
        databricks_conn_id: str = DEFAULT_CONN_ID,
        databricks_task_key: str = "",
        databricks_retry_args: dict[Any, Any] | None = None,
        databricks_retry_delay: int = 1,
        databricks_retry_limit: int = 3,
        deferrable: bool = True,
        existing_cluster_id: str = "",
        job_cluster_key: str = "",
        new_cluster: dict[str, Any] | None = None,
        polling_period_seconds: int = 5,
        wait_for_termination: bool = True,
        workflow_run_metadata: dict[str, Any] | None = None,
        max_retries: int | str | None = None,
        min_retry_interval_millis: int | str | None = None,
        retry_on_timeout: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            databricks_conn_id=databricks_conn_id,
            databricks_retry_args=databricks_retry_args,
            databricks_retry_delay=databricks_retry_delay,
            databricks_retry_limit=databricks_retry_limit,
            deferrable=deferrable,
            polling_period_seconds=polling_period_seconds,
            wait_for_termination=wait_for_termination,
            **kwargs,
        )
        self.caller = caller
        self._databricks_task_key = databricks_task_key
        self.existing_cluster_id = existing_cluster_id
        self.job_cluster_key = job_cluster_key
        self.new_cluster = new_cluster or {}
        self.workflow_run_metadata = workflow_run_metadata
        self.max_retries = max_retries
        self.min_retry_interval_millis = min_retry_interval_millis
        self.retry_on_timeout = retry_on_timeout
        self.databricks_run_id: int | None = None
        self._watches_task_run = False
        self.operator_extra_links = wf.extra_links(self._databricks_workflow_task_group is not None)

    @property
    def databricks_task_key(self) -> str:
        """The ``task_key`` of this task in Databricks (given, or derived from dag and task ids)."""
        key = self._databricks_task_key
        if key and len(key) <= _MAX_TASK_KEY:
            return key
        return default_task_key(str(self.dag_id), self.task_id)

    @property
    def _databricks_workflow_task_group(self) -> Any:
        """The enclosing workflow task group, or ``None`` (the official provider's name)."""
        return wf.find_workflow_group(self)

    def _get_task_base_json(self) -> dict[str, Any]:
        """The task body (without cluster and key); defined by each operator."""
        raise NotImplementedError

    def _prepare_for_group(self, group: Any) -> None:
        """Take over settings the group gives all its tasks; none by default."""

    def _convert_to_databricks_workflow_task(
        self, relevant_upstreams: list[str], task_dict: dict[str, Any], context: Any = None
    ) -> dict[str, object]:
        """The task as an entry of the group job's ``tasks`` (the official provider's method)."""
        group = self._databricks_workflow_task_group
        if group is None:
            raise DatabricksConfigError("task_group", "the task is not inside a DatabricksWorkflowTaskGroup")
        self._prepare_for_group(group)
        result: dict[str, object] = {
            "depends_on": [
                {"task_key": wf.task_key_of(task_id, task_dict, str(self.dag_id))}
                for task_id in self.upstream_task_ids
                if task_id in relevant_upstreams
            ],
            **self._get_task_base_json(),
            "task_key": self.databricks_task_key,
            **self._retry_settings(),
        }
        run_if = wf.run_if(self.trigger_rule)
        if run_if:
            result["run_if"] = run_if
        if self.existing_cluster_id and self.job_cluster_key:
            raise DatabricksConfigError("job_cluster_key", "cannot be combined with existing_cluster_id")
        if self.existing_cluster_id:
            result["existing_cluster_id"] = self.existing_cluster_id
        elif self.job_cluster_key:
            result["job_cluster_key"] = self.job_cluster_key
        return result

    def _retry_settings(self) -> dict[str, Any]:
        """Databricks-native task retry settings that were set explicitly (official rules)."""
        settings: dict[str, Any] = {}
        if self.max_retries is not None:
            settings["max_retries"] = _int_setting("max_retries", self.max_retries)
        if self.min_retry_interval_millis is not None:
            value = _int_setting("min_retry_interval_millis", self.min_retry_interval_millis)
            settings["min_retry_interval_millis"] = value
        if self.retry_on_timeout is not None:
            settings["retry_on_timeout"] = _flag_setting("retry_on_timeout", self.retry_on_timeout)
        return settings

    def _has_retry_settings(self) -> bool:
        if self._retry_settings():
            return True
        config = getattr(self, "task_config", None) or {}
        keys = ("max_retries", "min_retry_interval_millis", "retry_on_timeout")
        return any(config.get(key) is not None for key in keys)

    def _cluster(self) -> dict[str, Any]:
        if self.new_cluster and self.existing_cluster_id:
            raise DatabricksConfigError("existing_cluster_id", "cannot be combined with new_cluster")
        if self.new_cluster:
            return {"new_cluster": self.new_cluster}
        if self.existing_cluster_id:
            return {"existing_cluster_id": self.existing_cluster_id}
        raise DatabricksConfigError("new_cluster", "set new_cluster or existing_cluster_id")

    def build_payload(self) -> dict[str, Any]:
        """The runs/submit body, exactly as the official operator builds it."""
        base = self._get_task_base_json()
        cluster = self._cluster()
        if not self._has_retry_settings():
            return {"run_name": self.databricks_task_key, **base, **cluster}
        task = {**base, "task_key": self.databricks_task_key, **self._retry_settings(), **cluster}
        return {"run_name": self.databricks_task_key, "tasks": [task]}

    # -- execution ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> None:
        """Watch this task's run inside the group's job run, or submit a run of its own and watch it."""
        if self._databricks_workflow_task_group is not None:
            self._execute_in_workflow(context)
        else:
            super().execute(context)

    def _workflow_metadata(self, context: Context) -> WorkflowRunMetadata:
        return wf.workflow_metadata(self.workflow_run_metadata, self.upstream_task_ids, context["ti"])

    def _execute_in_workflow(self, context: Context) -> None:
        """Watch this task's task run inside the group's job run (defer, or wait in the worker)."""
        metadata = self._workflow_metadata(context)
        self.databricks_conn_id = metadata.conn_id
        self._register_secrets()
        self.databricks_run_id = metadata.run_id
        key = self.databricks_task_key
        find = partial(wf.find_task_run, run_id=metadata.run_id, task_key=key)
        job_run, task_run = self._hook().run_sync(find)
        ti = context["ti"]
        ti.xcom_push(key=XCOM_JOB_RUN_LINK_KEY, value=job_run.run_page_url)
        self.log.info(
            "Watching task %s (run %s) of Databricks job run %s; view it at %s",
            key,
            task_run.run_id,
            job_run.run_id,
            task_run.run_page_url or job_run.run_page_url,
        )
        if not self.wait_for_termination:
            return
        self._watches_task_run = True
        self.run_id = task_run.run_id
        trigger = self._trigger(task_run.run_id, task_run.run_page_url, _try_started(ti))
        if self.deferrable and not judge(task_run.state).is_final:
            self._defer_to_trigger(trigger)
        self._resolve(context, self._wait_here(trigger))  # the one verdict, as for a run of its own

    def execute_complete(
        self,
        context: Context,
        event: Mapping[str, Any] | None = None,
        earlier_failures: Sequence[str] | None = None,
    ) -> None:
        """Resume as the base does; a group task first takes the group's connection again."""
        if self._databricks_workflow_task_group is not None:
            self.databricks_conn_id = self._workflow_metadata(context).conn_id
        super().execute_complete(context, event, earlier_failures)

    def _trigger(
        self, run_id: int, run_page_url: str, started: float, repairs: int = 0, earlier: Sequence[str] = ()
    ) -> DatabricksRunTrigger:
        """The base trigger, or inside a workflow group the one that watches a task run."""
        trigger = super()._trigger(run_id, run_page_url, started, repairs, earlier)
        if self._watches_task_run:
            return DatabricksTaskRunTrigger(**trigger.serialize()[1])
        return trigger


def _int_setting(field: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DatabricksConfigError(field, f"must be an integer, got {value!r}") from None


def _flag_setting(field: str, value: Any) -> bool:
    try:
        return read_flag(field, value)
    except ConfigurationError as exc:
        raise DatabricksConfigError.of(exc) from None


class DatabricksNotebookOperator(DatabricksTaskBaseOperator):
    """Run a notebook on Databricks, alone or as a task of a workflow group; deferrable.

    :param notebook_path: the notebook's path in the workspace (or repository).
    :param source: ``WORKSPACE`` or ``GIT``.
    :param notebook_packages: libraries to install for the notebook (the group's are added).
    :param notebook_params: widget values, as ``base_parameters`` (templated; the group's are merged in).

    The other parameters are those of :class:`DatabricksTaskBaseOperator`. ``timeout_seconds`` of the
    task comes from ``execution_timeout`` (0 when it is not set), as in the official operator.
    """

    template_fields: Sequence[str] = (
        "notebook_params",
        "workflow_run_metadata",
        "max_retries",
        "min_retry_interval_millis",
        "retry_on_timeout",
        "databricks_conn_id",
    )
    CALLER = "DatabricksNotebookOperator"

    def __init__(
        self,
        notebook_path: str,
        source: str,
        databricks_conn_id: str = DEFAULT_CONN_ID,
        databricks_retry_args: dict[Any, Any] | None = None,
        databricks_retry_delay: int = 1,
        databricks_retry_limit: int = 3,
        deferrable: bool = True,
        existing_cluster_id: str = "",
        job_cluster_key: str = "",
        new_cluster: dict[str, Any] | None = None,
        notebook_packages: list[dict[str, Any]] | None = None,
        notebook_params: dict[str, Any] | None = None,
        polling_period_seconds: int = 5,
        wait_for_termination: bool = True,
        workflow_run_metadata: dict[str, Any] | None = None,
        max_retries: int | str | None = None,
        min_retry_interval_millis: int | str | None = None,
        retry_on_timeout: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        self.notebook_path = notebook_path
        self.source = source
        self.notebook_packages = list(notebook_packages or [])
        self.notebook_params = notebook_params or {}
        super().__init__(
            caller=self.CALLER,
            databricks_conn_id=databricks_conn_id,
            databricks_retry_args=databricks_retry_args,
            databricks_retry_delay=databricks_retry_delay,
            databricks_retry_limit=databricks_retry_limit,
            deferrable=deferrable,
            existing_cluster_id=existing_cluster_id,
            job_cluster_key=job_cluster_key,
            new_cluster=new_cluster,
            polling_period_seconds=polling_period_seconds,
            wait_for_termination=wait_for_termination,
            workflow_run_metadata=workflow_run_metadata,
            max_retries=max_retries,
            min_retry_interval_millis=min_retry_interval_millis,
            retry_on_timeout=retry_on_timeout,
            **kwargs,
        )

    def _get_task_timeout_seconds(self) -> int:
        if self.execution_timeout is None:
            return 0
        seconds = int(self.execution_timeout.total_seconds())
        if seconds == 0:
            raise DatabricksConfigError(
                "execution_timeout", "must not be 0; use None to let the notebook run without a limit"
            )
        return seconds

    def _get_task_base_json(self) -> dict[str, Any]:
        """The notebook task body, as the official operator sends it."""
        if not self.notebook_path or not isinstance(self.notebook_path, str):
            raise DatabricksConfigError("notebook_path", "must be a non-empty string")
        return {
            "timeout_seconds": self._get_task_timeout_seconds(),
            "email_notifications": {},
            "notebook_task": {
                "notebook_path": self.notebook_path,
                "source": self.source,
                "base_parameters": self.notebook_params,
            },
            "libraries": self.notebook_packages,
        }

    def _prepare_for_group(self, group: Any) -> None:
        """Add the group's notebook packages (no duplicates) and notebook parameters."""
        for package in getattr(group, "notebook_packages", None) or ():
            if package not in self.notebook_packages:
                self.notebook_packages.append(package)
        group_params = getattr(group, "notebook_params", None)
        if group_params:  # as run-now sends them: text, booleans as "true"/"false"
            self.notebook_params = {**self.notebook_params, **string_map(group_params, "notebook_params")}


class DatabricksTaskOperator(DatabricksTaskBaseOperator):
    """Run any Databricks task (``task_config``), alone or as a task of a workflow group; deferrable.

    :param task_config: the task body, e.g. ``{"spark_python_task": {...}}`` (templated).

    The other parameters are those of :class:`DatabricksTaskBaseOperator`; ``max_retries``,
    ``min_retry_interval_millis`` and ``retry_on_timeout`` override those in ``task_config``.
    """

    CALLER = "DatabricksTaskOperator"
    template_fields: Sequence[str] = (
        "databricks_conn_id",
        "task_config",
        "workflow_run_metadata",
        "max_retries",
        "min_retry_interval_millis",
        "retry_on_timeout",
    )

    def __init__(
        self,
        task_config: dict[str, Any],
        databricks_conn_id: str = DEFAULT_CONN_ID,
        databricks_retry_args: dict[Any, Any] | None = None,
        databricks_retry_delay: int = 1,
        databricks_retry_limit: int = 3,
        deferrable: bool = True,
        existing_cluster_id: str = "",
        job_cluster_key: str = "",
        new_cluster: dict[str, Any] | None = None,
        polling_period_seconds: int = 5,
        wait_for_termination: bool = True,
        workflow_run_metadata: dict[str, Any] | None = None,
        max_retries: int | str | None = None,
        min_retry_interval_millis: int | str | None = None,
        retry_on_timeout: bool | str | None = None,
        **kwargs: Any,
    ) -> None:
        self.task_config = task_config
        super().__init__(
            caller=self.CALLER,
            databricks_conn_id=databricks_conn_id,
            databricks_retry_args=databricks_retry_args,
            databricks_retry_delay=databricks_retry_delay,
            databricks_retry_limit=databricks_retry_limit,
            deferrable=deferrable,
            existing_cluster_id=existing_cluster_id,
            job_cluster_key=job_cluster_key,
            new_cluster=new_cluster,
            polling_period_seconds=polling_period_seconds,
            wait_for_termination=wait_for_termination,
            workflow_run_metadata=workflow_run_metadata,
            max_retries=max_retries,
            min_retry_interval_millis=min_retry_interval_millis,
            retry_on_timeout=retry_on_timeout,
            **kwargs,
        )

    def _get_task_base_json(self) -> dict[str, Any]:
        """``task_config`` as given (it must be a mapping)."""
        if not isinstance(self.task_config, dict):
            raise DatabricksConfigError(
                "task_config", f"must be a mapping, got {type(self.task_config).__name__}"
            )
        return self.task_config
