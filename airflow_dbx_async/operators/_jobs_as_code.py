"""Jobs as code: ``DatabricksCreateJobsOperator``, a drop-in for the official operator of that name.

The job is found by its exact name; when none has it, ``jobs/create`` creates it (its
``access_control_list`` in the same body, as Databricks applies it on create); when one has it, its
``access_control_list`` is merged into the job's permissions (``PATCH permissions/jobs/{id}``) and
``jobs/reset`` replaces its settings: the official requests, in the official order. Several jobs with
the name fail the task before any change.

A retry is safe: the first try's job is found by its name and reset, never created twice. Within one
try, a create whose answer is lost (a timeout, a dropped connection, a 5xx) is not sent again; the job
is looked up by its name once more, and used when it exists.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client import ConfigurationError, ServerError, TransportError
from airflow_dbx_async.exceptions import DatabricksConfigError
from airflow_dbx_async.operators._api_calls import DatabricksApiOperatorBase
from airflow_dbx_async.operators._forwarding import forwardable_params
from airflow_dbx_async.operators._payload import merge_json, normalise

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_dbx_async.client import JobsClient

__all__ = ("DatabricksCreateJobsOperator",)


class DatabricksCreateJobsOperator(DatabricksApiOperatorBase):
    """Create a Databricks job, or reset the one with the same name; return its job id.

    The named parameters are merged over ``json`` (named ones win), as in the official operator. When
    ``json`` has no ``parameters``, the task's ``params`` (those not ``None``) become the job's
    parameters (``{"name": ..., "default": ...}``).

    :param json: the ``jobs/create`` body: a mapping, a JSON string or a dict literal (templated).
    :param name: the job's name, which identifies it (templated; required here or in ``json``).
    :param description: the job's description (templated).
    :param tags: the job's tags (templated).
    :param tasks: the job's task settings (templated).
    :param job_clusters: job clusters the tasks share (templated).
    :param environments: serverless environments of the tasks (templated).
    :param email_notifications: email notifications (templated).
    :param webhook_notifications: webhook notifications (templated).
    :param notification_settings: notification settings (templated).
    :param timeout_seconds: a timeout of each run of the job (templated).
    :param schedule: a cron schedule (templated).
    :param trigger: a file-arrival, table-update or periodic trigger (templated).
    :param max_concurrent_runs: the most runs of the job at once (templated).
    :param git_source: the remote repository of the notebooks (templated).
    :param access_control_list: permissions to set on the job, merged into its permissions on a
        reset (templated).
    :param performance_target: serverless performance mode of the job's runs (templated).
    :param databricks_conn_id: the Airflow connection id (templated).
    :param polling_period_seconds: accepted for compatibility (nothing is polled).
    :param databricks_retry_limit: attempts per request, the first included (default 3).
    :param databricks_retry_delay: first backoff delay in seconds (default 1).
    :param databricks_retry_args: accepted for compatibility; the client's own backoff is used.
    """

    template_fields: Sequence[str] = (
        "json",
        "name",
        "description",
        "tags",
        "tasks",
        "job_clusters",
        "environments",
        "email_notifications",
        "webhook_notifications",
        "notification_settings",
        "timeout_seconds",
        "schedule",
        "trigger",
        "max_concurrent_runs",
        "git_source",
        "access_control_list",
        "performance_target",
        "databricks_conn_id",
    )
    ui_color = "#1CB1C2"
    ui_fgcolor = "#fff"

    def __init__(
        self,
        *,
        json: Any | None = None,
        name: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        tasks: list[dict[str, Any]] | None = None,
        job_clusters: list[dict[str, Any]] | None = None,
        environments: list[dict[str, Any]] | None = None,
        email_notifications: dict[str, Any] | None = None,
        webhook_notifications: dict[str, Any] | None = None,
        notification_settings: dict[str, Any] | None = None,
        timeout_seconds: int | None = None,
        schedule: dict[str, Any] | None = None,
        trigger: dict[str, Any] | None = None,
        max_concurrent_runs: int | None = None,
        git_source: dict[str, Any] | None = None,
        access_control_list: list[dict[str, Any]] | None = None,
        performance_target: str | None = None,
        databricks_conn_id: str = "databricks_default",
        polling_period_seconds: int = 30,
        databricks_retry_limit: int = 3,
        databricks_retry_delay: int = 1,
        databricks_retry_args: dict[Any, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            databricks_conn_id=databricks_conn_id,
            databricks_retry_limit=databricks_retry_limit,
            databricks_retry_delay=databricks_retry_delay,
            **kwargs,
        )
        self.json = json
        self.name = name
        self.description = description
        self.tags = tags
        self.tasks = tasks
        self.job_clusters = job_clusters
        self.environments = environments
        self.email_notifications = email_notifications
        self.webhook_notifications = webhook_notifications
        self.notification_settings = notification_settings
        self.timeout_seconds = timeout_seconds
        self.schedule = schedule
        self.trigger = trigger
        self.max_concurrent_runs = max_concurrent_runs
        self.git_source = git_source
        self.access_control_list = access_control_list
        self.performance_target = performance_target
        self.polling_period_seconds = polling_period_seconds
        self.databricks_retry_args = databricks_retry_args

    def job_settings(self) -> dict[str, Any]:
        """The checked job settings: ``json`` with the named parameters over it, numbers as text.

        :raises ConfigurationError: naming the field at fault (a value that is not JSON, no name).
        """
        named = {
            "name": self.name,
            "description": self.description,
            "tags": self.tags,
            "tasks": self.tasks,
            "job_clusters": self.job_clusters,
            "environments": self.environments,
            "email_notifications": self.email_notifications,
            "webhook_notifications": self.webhook_notifications,
            "notification_settings": self.notification_settings,
            "timeout_seconds": self.timeout_seconds,
            "schedule": self.schedule,
            "trigger": self.trigger,
            "max_concurrent_runs": self.max_concurrent_runs,
            "git_source": self.git_source,
            "access_control_list": self.access_control_list,
            "performance_target": self.performance_target,
        }
        settings: dict[str, Any] = normalise(merge_json(self.json, named), "")
        if "name" not in settings:
            raise ConfigurationError("name", "is required: the job is found by its name")
        params = forwardable_params(self.params)
        if not settings.get("parameters") and params:  # the official rule: raw values, after the check
            settings["parameters"] = [{"name": key, "default": value} for key, value in params.items()]
        return settings

    def execute(self, context: Context) -> int:
        """Create or reset the job; return its id (pushed as the task's ``return_value``)."""
        try:
            settings = self.job_settings()
        except ConfigurationError as exc:
            raise DatabricksConfigError.of(exc) from None
        return self.call(partial(self._create_or_reset, settings=settings))

    async def _named(self, client: JobsClient, name: str) -> list[dict[str, Any]]:
        jobs = await client.list_jobs(name=name)
        return [j for j in jobs if isinstance(j.get("settings"), dict) and j["settings"].get("name") == name]

    async def _create_or_reset(self, client: JobsClient, settings: dict[str, Any]) -> int:
        name = str(settings["name"])
        found = await self._named(client, name)
        if len(found) > 1:
            ids = ", ".join(str(j.get("job_id")) for j in found)
            raise ConfigurationError(
                "name",
                f"{len(found)} Databricks jobs are named {name!r} (job ids {ids}); delete the duplicates",
            )
        if not found:
            return await self._create(client, settings, name)
        job_id = int(found[0]["job_id"])
        acl = settings.get("access_control_list")
        if acl:
            self.log.info("Updating the permissions of Databricks job %s: %s", job_id, acl)
            await client.permissions.update_permissions("jobs", job_id, acl)
        await client.reset_job(str(job_id), settings)
        self.log.info("Reset Databricks job %s (%r)", job_id, name)
        return job_id

    async def _create(self, client: JobsClient, settings: dict[str, Any], name: str) -> int:
        try:
            job_id = await client.create_job(settings)
        except (TransportError, ServerError) as exc:
            # The answer may be lost while the job was created: look once more before failing.
            again = await self._named(client, name)
            if len(again) != 1:
                raise
            job_id = int(again[0]["job_id"])
            self.log.warning("jobs/create failed (%s), but job %s named %r exists now", exc, job_id, name)
            return job_id
        self.log.info("Created Databricks job %s (%r)", job_id, name)
        return job_id
