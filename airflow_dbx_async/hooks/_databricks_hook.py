"""``DatabricksHook`` with the official provider's public methods, over our one async client.

DAG code that calls the official hook directly (in a ``PythonOperator`` callable, a sensor or a
custom operator) keeps working after changing the import to
``from airflow_dbx_async.databricks_hook import DatabricksHook``: same method names, arguments and
return shapes (raw JSON dicts where the official hook returns them, :class:`HookRunState` and
:class:`ClusterState` objects where it returns those). Sync methods run the async client through
``asgiref.sync.async_to_sync``; the ``a_*`` methods await it. Every failure is an
``AirflowException``: :class:`DatabricksApiError` (with ``http_status_code``) for an API answer.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException

from airflow_dbx_async import __version__
from airflow_dbx_async.client import ApiError, DatabricksError, JobsClient, pipeline_name_filter
from airflow_dbx_async.exceptions import DatabricksApiError
from airflow_dbx_async.hooks._connection import DEFAULT_CONN_ID, DatabricksAsyncHook
from airflow_dbx_async.hooks._hook_states import ClusterState
from airflow_dbx_async.hooks._hook_states import RunState as HookRunState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from airflow.sdk import Connection

__all__ = ("DatabricksHook", "latest_repair_id")

_T = TypeVar("_T")


async def latest_repair_id(client: JobsClient, run_id: int) -> int | None:
    """The id of the run's latest repair, or ``None`` when it was never repaired.

    The official hook's rule (``get_latest_repair_id``): ``repair_history`` holds the original run
    first, so a history of one entry means no repair; otherwise its last entry is the latest repair.
    """
    run = await client.get_run_json(run_id, include_history=True)
    history = run.get("repair_history")
    if not isinstance(history, list) or len(history) <= 1:
        return None
    last = history[-1]
    value = last.get("id") if isinstance(last, Mapping) else None
    return int(value) if value is not None else None


def _translated(exc: DatabricksError) -> AirflowException:
    if isinstance(exc, ApiError):
        return DatabricksApiError(str(exc), http_status_code=exc.status)
    if isinstance(exc, AirflowException):
        return exc
    return AirflowException(str(exc))


class DatabricksHook(BaseHook):
    """Interact with Databricks: the official hook's calls, on the package's async client.

    :param databricks_conn_id: the Airflow connection id.
    :param timeout_seconds: accepted for compatibility (the connection's ``timeout_seconds`` extra applies).
    :param retry_limit: attempts per request, the first included.
    :param retry_delay: first backoff delay in seconds.
    :param retry_args: accepted for compatibility; the client's own backoff is used.
    :param caller: accepted for compatibility.
    """

    conn_name_attr: ClassVar[str] = "databricks_conn_id"
    default_conn_name: ClassVar[str] = DEFAULT_CONN_ID
    conn_type: ClassVar[str] = "databricks"
    hook_name: ClassVar[str] = "Databricks"

    def __init__(
        self,
        databricks_conn_id: str = DEFAULT_CONN_ID,
        timeout_seconds: int = 180,
        retry_limit: int = 3,
        retry_delay: float = 1.0,
        retry_args: dict[Any, Any] | None = None,
        caller: str = "DatabricksHook",
    ) -> None:
        super().__init__()
        self.databricks_conn_id = databricks_conn_id
        self.timeout_seconds = timeout_seconds
        self.retry_limit = retry_limit
        self.retry_delay = retry_delay
        self.retry_args = retry_args
        self.caller = caller
        self._async_hook = DatabricksAsyncHook(
            databricks_conn_id, retry_limit=retry_limit, retry_delay=retry_delay
        )

    @cached_property
    def databricks_conn(self) -> Connection:
        """The Airflow connection, read once."""
        return self.get_connection(self.databricks_conn_id)

    def get_conn(self) -> Connection:
        """The Airflow connection (the official hook's answer to Airflow's generic entry point)."""
        return self.databricks_conn

    @cached_property
    def user_agent_value(self) -> str:
        """The official hook's user agent shape, naming this package: ``airflow-dbx-async/<version> ...``."""
        from airflow import __version__ as airflow_version

        return (
            f"airflow-dbx-async/{__version__} _/0.0.0 python/{platform.python_version()} "
            f"os/{platform.system().lower()} airflow/{airflow_version} operator/{self.caller}"
        )

    @cached_property
    def user_agent_header(self) -> dict[str, str]:
        """``{"user-agent": user_agent_value}``."""
        return {"user-agent": self.user_agent_value}

    async def __aenter__(self) -> DatabricksHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def _run(self, fn: Callable[[JobsClient], Awaitable[_T]]) -> _T:
        try:
            return self._async_hook.run_sync(fn)
        except DatabricksError as exc:
            raise _translated(exc) from None

    async def _arun(self, fn: Callable[[JobsClient], Awaitable[_T]]) -> _T:
        try:
            async with JobsClient(await self._async_hook.aget_config()) as client:
                return await fn(client)
        except DatabricksError as exc:
            raise _translated(exc) from None

    # -- jobs and runs ----------------------------------------------------------------------------

    def submit_run(self, json: dict[str, Any]) -> int:
        """``runs/submit``; returns the run id."""
        return self._run(lambda c: c.submit_run(json))

    def run_now(self, json: dict[str, Any]) -> int:
        """``run-now``; returns the run id."""
        return self._run(lambda c: c.run_now(json))

    def create_job(self, json: dict[str, Any]) -> int:
        """``jobs/create``; returns the job id."""
        return self._run(lambda c: c.create_job(json))

    def reset_job(self, job_id: str, json: dict[str, Any]) -> None:
        """``jobs/reset`` with ``json`` as the new settings, its ``access_control_list`` applied first.

        As the official hook does: the list (when not empty) is merged into the job's permissions with
        :meth:`update_job_permission` before the reset, since a reset does not change permissions.
        """
        access_control_list = json.get("access_control_list")
        if access_control_list:
            self.log.info(
                "Updating job permission for Databricks workflow job id %s with access_control_list %s",
                job_id,
                access_control_list,
            )
            self.update_job_permission(int(job_id), {"access_control_list": access_control_list})
        self._run(lambda c: c.reset_job(job_id, json))

    def update_job(self, job_id: str, json: dict[str, Any]) -> None:
        """``jobs/update`` with ``json`` as the new settings."""
        self._run(lambda c: c.update_job(job_id, json))

    def update_job_permission(self, job_id: int, json: dict[str, Any]) -> dict[str, Any]:
        """``PATCH permissions/jobs/{job_id}``; returns the job's resulting permissions."""
        acl = json.get("access_control_list") or []
        return self._run(lambda c: c.permissions.update_permissions("jobs", job_id, acl))

    def get_run(self, run_id: int) -> dict[str, Any]:
        """``runs/get`` as JSON, every page of the paginated arrays collected."""
        return self._run(lambda c: c.get_run_json(run_id))

    async def a_get_run(self, run_id: int) -> dict[str, Any]:
        """Async :meth:`get_run`."""
        return await self._arun(lambda c: c.get_run_json(run_id))

    def get_run_state(self, run_id: int) -> HookRunState:
        """The run's state."""
        return HookRunState(**self.get_run(run_id)["state"])

    async def a_get_run_state(self, run_id: int) -> HookRunState:
        """Async :meth:`get_run_state`."""
        return HookRunState(**(await self.a_get_run(run_id))["state"])

    def get_run_page_url(self, run_id: int) -> str:
        """The run's page URL."""
        return str(self.get_run(run_id)["run_page_url"])

    async def a_get_run_page_url(self, run_id: int) -> str:
        """Async :meth:`get_run_page_url`."""
        return str((await self.a_get_run(run_id))["run_page_url"])

    def get_job_id(self, run_id: int) -> int:
        """The job id of a run."""
        return int(self.get_run(run_id)["job_id"])

    def get_run_tasks(self, run_id: int) -> list[dict[str, Any]]:
        """The task runs of a run."""
        tasks: list[dict[str, Any]] = self.get_run(run_id).get("tasks", [])
        return tasks

    def get_run_state_str(self, run_id: int) -> str:
        """``State: <life cycle>. Result: <result>. <message>``."""
        state = self.get_run_state(run_id)
        return f"State: {state.life_cycle_state}. Result: {state.result_state}. {state.state_message}"

    def get_run_state_lifecycle(self, run_id: int) -> str:
        """The run's life cycle state."""
        return self.get_run_state(run_id).life_cycle_state

    def get_run_state_result(self, run_id: int) -> str:
        """The run's result state."""
        return self.get_run_state(run_id).result_state

    def get_run_state_message(self, run_id: int) -> str:
        """The run's state message."""
        return self.get_run_state(run_id).state_message

    def get_run_output(self, run_id: int) -> dict[str, Any]:
        """``runs/get-output`` as JSON."""
        return self._run(lambda c: c.get_run_output_json(run_id))

    async def a_get_run_output(self, run_id: int) -> dict[str, Any]:
        """Async :meth:`get_run_output`."""
        return await self._arun(lambda c: c.get_run_output_json(run_id))

    def cancel_run(self, run_id: int) -> None:
        """``runs/cancel``."""
        self._run(lambda c: c.cancel_run(run_id))

    def cancel_all_runs(self, job_id: int) -> None:
        """``runs/cancel-all`` for one job."""
        self._run(lambda c: c.cancel_all_runs(job_id))

    def delete_run(self, run_id: int) -> None:
        """``runs/delete`` of a non-active run."""
        self._run(lambda c: c.delete_run(run_id))

    def repair_run(self, json: dict[str, Any]) -> int:
        """``runs/repair``; returns the repair id."""
        return self._run(lambda c: c.repair_run(json))

    def get_latest_repair_id(self, run_id: int) -> int | None:
        """The id of the run's latest repair, or ``None`` when it was never repaired."""
        return self._run(lambda c: latest_repair_id(c, run_id))

    def list_jobs(
        self,
        limit: int = 25,
        expand_tasks: bool = False,
        job_name: str | None = None,
        page_token: str | None = None,
        include_user_names: bool = False,
    ) -> list[dict[str, Any]]:
        """Every job (all pages from ``page_token`` on), or those named exactly ``job_name``."""
        jobs = self._run(
            lambda c: c.list_jobs(
                job_name or None,
                expand_tasks=expand_tasks,
                limit=limit,
                page_token=page_token or None,
                include_user_names=include_user_names,
            )
        )
        if job_name:
            jobs = [j for j in jobs if j.get("settings", {}).get("name") == job_name]
        return jobs

    def find_job_id_by_name(self, job_name: str) -> int | None:
        """The id of the one job named ``job_name``; ``None`` if none; an error if several."""
        matching = self.list_jobs(job_name=job_name)
        if len(matching) > 1:
            raise AirflowException(
                f"There are more than one job with name {job_name}. Please delete duplicated jobs first"
            )
        return int(matching[0]["job_id"]) if matching else None

    # -- pipelines --------------------------------------------------------------------------------

    def list_pipelines(
        self, batch_size: int = 25, pipeline_name: str | None = None, notebook_path: str | None = None
    ) -> list[dict[str, Any]]:
        """Every pipeline (all pages), or those whose name is like ``pipeline_name`` or use a notebook."""
        if pipeline_name and notebook_path:
            raise AirflowException("Cannot combine pipeline_name and notebook_path in one request")
        found = None
        if notebook_path:
            found = "notebook='{}'".format(notebook_path.replace("'", "''"))
        elif pipeline_name:
            found = pipeline_name_filter(pipeline_name)
        return self._run(lambda c: c.pipelines.list_pipelines(filter=found, max_results=batch_size))

    def find_pipeline_id_by_name(self, pipeline_name: str) -> str | None:
        """The id of the one pipeline named ``pipeline_name``; ``None`` if none; an error if several."""
        matching = self.list_pipelines(pipeline_name=pipeline_name)
        if len(matching) > 1:
            raise AirflowException(
                f"There are more than one pipelines with name {pipeline_name}. "
                "Please delete duplicated pipelines first"
            )
        if not pipeline_name or not matching:
            return None
        return str(matching[0]["pipeline_id"])

    # -- repos ------------------------------------------------------------------------------------

    def create_repo(self, json: dict[str, Any]) -> dict[str, Any]:
        """``POST repos``; returns the new repo (with its ``id``)."""
        return self._run(lambda c: c.repos.create_repo(json))

    def update_repo(self, repo_id: str, json: dict[str, Any]) -> dict[str, Any]:
        """``PATCH repos/{repo_id}`` (a ``branch`` or a ``tag`` to check out); returns the answer."""
        return self._run(lambda c: c.repos.update_repo(repo_id, json))

    def delete_repo(self, repo_id: str) -> None:
        """``DELETE repos/{repo_id}``."""
        self._run(lambda c: c.repos.delete_repo(repo_id))

    def get_repo_by_path(self, path: str) -> str | None:
        """The id of the repo at a workspace ``path``, or ``None`` when there is none."""
        return self._run(lambda c: c.repos.repo_id_by_path(path))

    # -- clusters and libraries -------------------------------------------------------------------

    def get_cluster_state(self, cluster_id: str) -> ClusterState:
        """The cluster's state."""
        body = self._run(lambda c: c.get_cluster(cluster_id))
        return ClusterState(body["state"], body.get("state_message", ""))

    async def a_get_cluster_state(self, cluster_id: str) -> ClusterState:
        """Async :meth:`get_cluster_state`."""
        body = await self._arun(lambda c: c.get_cluster(cluster_id))
        return ClusterState(body["state"], body.get("state_message", ""))

    def start_cluster(self, json: dict[str, Any]) -> None:
        """``clusters/start``; ``json`` holds ``cluster_id``."""
        self._run(lambda c: c.start_cluster(json["cluster_id"]))

    def restart_cluster(self, json: dict[str, Any]) -> None:
        """``clusters/restart``; ``json`` holds ``cluster_id``."""
        self._run(lambda c: c.restart_cluster(json["cluster_id"]))

    def terminate_cluster(self, json: dict[str, Any]) -> None:
        """``clusters/delete`` (terminate); ``json`` holds ``cluster_id``."""
        self._run(lambda c: c.terminate_cluster(json["cluster_id"]))

    def install(self, json: dict[str, Any]) -> None:
        """``libraries/install``; ``json`` holds ``cluster_id`` and ``libraries``."""
        self._run(lambda c: c.install_libraries(json["cluster_id"], json["libraries"]))

    def uninstall(self, json: dict[str, Any]) -> None:
        """``libraries/uninstall``; ``json`` holds ``cluster_id`` and ``libraries``."""
        self._run(lambda c: c.uninstall_libraries(json["cluster_id"], json["libraries"]))

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call; ``(True, "Connection successfully tested")`` or the error."""
        try:
            self._run(lambda c: c.list_runs(limit=1))
        except Exception as exc:  # the UI shows the message
            return False, str(exc)
        return True, "Connection successfully tested"
