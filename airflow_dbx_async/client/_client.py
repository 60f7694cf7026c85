"""``JobsClient``: the async Databricks Jobs (and cluster) API, one method per endpoint.

The client owns its aiohttp session unless one is injected (a pooled one, see
:mod:`~airflow_dbx_async.client._pool`); it never closes an injected session. It moves through
``UNOPENED -> OPENED -> CLOSED`` once: ``aclose()`` is idempotent and a closed client cannot be reopened.
Answers are parsed into the frozen models at this boundary; every call carries the config's
:class:`~airflow_dbx_async.client.config.CallPolicy` (retries, timeout, API version) to the transport.
The SQL statement and warehouse calls are :attr:`JobsClient.sql`, a
:class:`~airflow_dbx_async.client._sql.SqlClient` sending through this client (its own module: another
API, same session and transport).

Every listing that follows ``next_page_token`` (``jobs/list``, ``runs/list``, the 2.2 pages of
``runs/get`` and ``jobs/get``) stops with an ``ApiError`` when the workspace hands out a token it
handed out before (``PAGINATION_LOOP``) or still has more after ``max_pages`` pages
(``TOO_MANY_PAGES``, default :data:`~airflow_dbx_async.client.config.DEFAULT_MAX_PAGES`), so a broken
workspace cannot keep a caller paging forever (:class:`~airflow_dbx_async.client._pages.Pages`).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client._export import VIEWS_TO_EXPORT, RunExport
from airflow_dbx_async.client._pages import Pages
from airflow_dbx_async.client._pool import new_session
from airflow_dbx_async.client._sql import SqlClient
from airflow_dbx_async.client._transport import Transport
from airflow_dbx_async.client._workspace_objects import PermissionsClient, PipelinesClient, ReposClient
from airflow_dbx_async.client.config import DEFAULT_MAX_PAGES
from airflow_dbx_async.client.errors import ApiError, ConfigurationError
from airflow_dbx_async.client.models import Run, RunOutput, RunsPage

if TYPE_CHECKING:
    from types import TracebackType

    import aiohttp

    from airflow_dbx_async.client._ratelimit import RateLimiter
    from airflow_dbx_async.client.config import ClientConfig

__all__ = ("JobsClient",)

_CLUSTERS = "2.1"
_LIBRARIES = "2.0"
# 2.2 returns at most 100 entries of these arrays per page and repeats every other field on each page.
_PAGED_ARRAYS = ("tasks", "job_clusters", "job_parameters", "parameters", "environments", "repair_history")


class _State(enum.Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


class JobsClient:
    """Async client for one Databricks workspace.

    Use it as ``async with JobsClient(config) as client: ...``.

    :param config: where and how to connect.
    :param session: a session to borrow; the client never closes it.
    :param limiter: a request-rate ceiling shared with other clients of the same workspace.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._config = config
        self._limiter = limiter
        self._session = session
        self._owns_session = session is None
        self._state = _State.UNOPENED
        self._transport: Transport | None = None
        self._requests_before_close = 0
        self._sql = SqlClient(self._call)
        self._pipelines = PipelinesClient(self._call)
        self._repos = ReposClient(self._call)
        self._permissions = PermissionsClient(self._call)

    def __repr__(self) -> str:
        return f"JobsClient(base_url={self._config.base_url!r}, state={self._state.name})"

    @property
    def config(self) -> ClientConfig:
        """The configuration this client was built with."""
        return self._config

    @property
    def sql(self) -> SqlClient:
        """The SQL statements and SQL warehouses of this workspace, sent through this client.

        Same session, transport, call policy and request count as the job calls; usable while this
        client is open. ``await client.sql.execute_statement("SELECT 1", warehouse_id)``.
        """
        return self._sql

    @property
    def pipelines(self) -> PipelinesClient:
        """The pipelines of this workspace (list, get, find by name), sent through this client."""
        return self._pipelines

    @property
    def repos(self) -> ReposClient:
        """The repos (Git folders) of this workspace and ``workspace/get-status``, through this client."""
        return self._repos

    @property
    def permissions(self) -> PermissionsClient:
        """Object permissions (a job's access control list ...), sent through this client."""
        return self._permissions

    @classmethod
    def _over(cls, transport: Transport, config: ClientConfig) -> JobsClient:
        """An open client sending through a shared ``transport`` with ``config``'s call policy.

        It owns nothing: closing it leaves the transport and its session to their owner.
        """
        client = cls(config, session=transport.session)
        client._transport = transport
        client._state = _State.OPENED
        return client

    @property
    def request_count(self) -> int:
        """Requests sent so far through this client's transport: retries and token requests included.

        A client over a shared workspace counts everything sent to that workspace. aiohttp's own
        single resend of an idempotent (GET) request whose connection dropped is not counted.
        """
        return self._transport.request_count if self._transport else self._requests_before_close

    async def __aenter__(self) -> JobsClient:
        if self._state is _State.OPENED:
            raise RuntimeError("JobsClient is already open")
        if self._state is _State.CLOSED:
            raise RuntimeError("a closed JobsClient cannot be reopened; create a new one")
        if self._session is None:
            self._session = new_session(self._config.workspace)
        self._transport = Transport(self._session, self._config.workspace, self._limiter)
        self._state = _State.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the owned session; safe to call more than once."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        if self._transport is not None:
            self._requests_before_close = self._transport.request_count
            self._transport = None
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        body: Mapping[str, Any] | None = None,
        version: str | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        transport = self._transport
        if transport is None:
            state = "closed" if self._state is _State.CLOSED else "not open"
            raise RuntimeError(f"JobsClient is {state}; use 'async with JobsClient(config) as client:'")
        return await transport.request(
            method,
            path,
            policy=self._config.policy,
            version=version,
            params=params,
            json_body=body,
            idempotent=idempotent,
        )

    # -- runs -------------------------------------------------------------------------------------

    async def submit_run(self, payload: Mapping[str, Any]) -> int:
        """``runs/submit``: start a one-time run; returns its ``run_id``."""
        body = await self._call("POST", "jobs/runs/submit", body=payload, idempotent=_has_token(payload))
        return _required_id(body, "run_id", "POST", "jobs/runs/submit")

    async def run_now(self, payload: Mapping[str, Any]) -> int:
        """``run-now``: run an existing job; returns the new ``run_id``."""
        body = await self._call("POST", "jobs/run-now", body=payload, idempotent=_has_token(payload))
        return _required_id(body, "run_id", "POST", "jobs/run-now")

    async def get_run_json(self, run_id: int, *, include_history: bool = False) -> dict[str, Any]:
        """``runs/get`` as JSON, with the 2.2 paginated arrays (tasks, ...) merged from every page.

        :param include_history: also return ``repair_history`` (sent as ``include_history=true``).
        """
        params: dict[str, object] = {"run_id": run_id}
        if include_history:
            params["include_history"] = "true"
        return await self._get_paged("jobs/runs/get", params)

    async def get_run(self, run_id: int) -> Run:
        """``runs/get`` parsed into a :class:`Run` (all task pages merged)."""
        return Run.from_api(await self.get_run_json(run_id))

    async def get_run_output_json(self, run_id: int) -> dict[str, Any]:
        """``runs/get-output`` of a task run (or a legacy single-task run), as JSON."""
        return await self._call("GET", "jobs/runs/get-output", params={"run_id": run_id})

    async def get_run_output(self, run_id: int) -> RunOutput:
        """``runs/get-output`` of a task run (or a legacy single-task run)."""
        return RunOutput.from_api(run_id, await self.get_run_output_json(run_id))

    async def export_run(self, run_id: int, views_to_export: str = "CODE") -> RunExport:
        """``runs/export`` of a notebook task run: its views as HTML pages holding the executed notebook.

        :param views_to_export: ``CODE`` (the notebook with its cell outputs), ``DASHBOARDS`` or ``ALL``.
        :raises ConfigurationError: naming ``views_to_export``, before any request, for another value.
        """
        if views_to_export not in VIEWS_TO_EXPORT:
            raise ConfigurationError(
                "views_to_export", f"must be one of {', '.join(VIEWS_TO_EXPORT)}, got {views_to_export!r}"
            )
        params = {"run_id": run_id, "views_to_export": views_to_export}
        return RunExport.from_api(run_id, await self._call("GET", "jobs/runs/export", params=params))

    async def cancel_run(self, run_id: int) -> None:
        """``runs/cancel``: ask Databricks to cancel a run (it stops asynchronously)."""
        await self._call("POST", "jobs/runs/cancel", body={"run_id": run_id})

    async def cancel_all_runs(self, job_id: int | str) -> None:
        """``runs/cancel-all``: cancel every active run of a job (Databricks stops them asynchronously)."""
        await self._call("POST", "jobs/runs/cancel-all", body={"job_id": job_id})

    async def delete_run(self, run_id: int) -> None:
        """``runs/delete``: delete a non-active run."""
        await self._call("POST", "jobs/runs/delete", body={"run_id": run_id})

    async def repair_run(self, payload: Mapping[str, Any]) -> int:
        """``runs/repair``: re-run tasks of a finished run; returns the ``repair_id``."""
        body = await self._call("POST", "jobs/runs/repair", body=payload, idempotent=False)
        return _required_id(body, "repair_id", "POST", "jobs/runs/repair")

    async def list_runs(
        self,
        *,
        job_id: int | None = None,
        active_only: bool = False,
        completed_only: bool = False,
        limit: int = 25,
        page_token: str | None = None,
        expand_tasks: bool = False,
        start_time_from: int | None = None,
        start_time_to: int | None = None,
    ) -> RunsPage:
        """One page of ``runs/list``, newest first; the start-time bounds are epoch ms, inclusive."""
        params: dict[str, object] = {
            "job_id": job_id,
            "active_only": active_only,
            "completed_only": completed_only,
            "limit": limit,
            "expand_tasks": expand_tasks,
            "start_time_from": start_time_from,
            "start_time_to": start_time_to,
            "page_token": page_token or None,
        }
        body = await self._call("GET", "jobs/runs/list", params=params)
        raw_runs = body.get("runs")
        runs = tuple(Run.from_api(r) for r in raw_runs) if isinstance(raw_runs, list) else ()
        token = body.get("next_page_token")
        return RunsPage(runs=runs, next_page_token=token if isinstance(token, str) else "")

    async def iter_runs(
        self,
        *,
        job_id: int | None = None,
        active_only: bool = False,
        completed_only: bool = False,
        limit: int = 25,
        expand_tasks: bool = False,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> AsyncIterator[Run]:
        """Every run matching the filters, following ``next_page_token`` through all pages.

        :param max_pages: pages followed at most; more fail with ``ApiError`` ``TOO_MANY_PAGES``.
        """
        pages = Pages("jobs/runs/list", max_pages)
        token: str | None = None
        while True:
            page = await self.list_runs(
                job_id=job_id,
                active_only=active_only,
                completed_only=completed_only,
                limit=limit,
                page_token=token,
                expand_tasks=expand_tasks,
            )
            for run in page.runs:
                yield run
            token = pages.follow(page.next_page_token)
            if token is None:
                return

    # -- jobs -------------------------------------------------------------------------------------

    async def get_job(self, job_id: int) -> dict[str, Any]:
        """``jobs/get`` as JSON, with the 2.2 paginated arrays merged."""
        return await self._get_paged("jobs/get", {"job_id": job_id})

    async def update_job(self, job_id: int | str, new_settings: Mapping[str, Any]) -> None:
        """``jobs/update``: change some settings of a job (a partial update)."""
        await self._call("POST", "jobs/update", body={"job_id": job_id, "new_settings": new_settings})

    async def list_jobs(
        self,
        name: str | None = None,
        *,
        expand_tasks: bool = False,
        limit: int = 100,
        max_pages: int = DEFAULT_MAX_PAGES,
        page_token: str | None = None,
        include_user_names: bool = False,
    ) -> list[dict[str, Any]]:
        """Every job from ``jobs/list`` (all pages), optionally filtered by ``name`` on the server.

        :param max_pages: pages followed at most; more fail with ``ApiError`` ``TOO_MANY_PAGES``.
        :param page_token: start at this page (a ``next_page_token`` of an earlier listing).
        :param include_user_names: also return the creator and run-as user names.
        """
        pages = Pages("jobs/list", max_pages)
        jobs: list[dict[str, Any]] = []
        token: str | None = page_token or None
        while True:
            params = {
                "limit": limit,
                "name": name,
                "page_token": token,
                "expand_tasks": expand_tasks or None,
                "include_user_names": include_user_names or None,
            }
            body = await self._call("GET", "jobs/list", params=params)
            page = body.get("jobs")
            if isinstance(page, list):
                jobs.extend(j for j in page if isinstance(j, dict))
            token = pages.follow(body.get("next_page_token"))
            if token is None:
                return jobs

    async def create_job(self, settings: Mapping[str, Any]) -> int:
        """``jobs/create``: returns the new ``job_id``."""
        body = await self._call("POST", "jobs/create", body=settings, idempotent=False)
        return _required_id(body, "job_id", "POST", "jobs/create")

    async def reset_job(self, job_id: int | str, settings: Mapping[str, Any]) -> None:
        """``jobs/reset``: replace every setting of a job."""
        await self._call("POST", "jobs/reset", body={"job_id": job_id, "new_settings": settings})

    async def latest_repair_id(self, run_id: int) -> int | None:
        """The id of the run's latest repair, or ``None`` when it was never repaired."""
        body = await self._call("GET", "jobs/runs/get", params={"run_id": run_id, "include_history": True})
        history = [h for h in body.get("repair_history") or () if isinstance(h, Mapping)]
        repairs = [h for h in history if h.get("type") != "ORIGINAL" and h.get("id") is not None]
        return _required_id(repairs[-1], "id", "GET", "jobs/runs/get") if repairs else None

    async def find_job_id_by_name(self, name: str) -> int:
        """The id of the one job whose name is exactly ``name`` (case-sensitive).

        :raises ConfigurationError: naming ``job_name``, when no job or several jobs match.
        """
        matches = [
            j for j in await self.list_jobs(name=name) if _mapping(j.get("settings")).get("name") == name
        ]
        if not matches:
            raise ConfigurationError(
                "job_name", f"no Databricks job is named {name!r}; check the name or use job_id"
            )
        if len(matches) > 1:
            ids = ", ".join(str(j.get("job_id")) for j in matches)
            raise ConfigurationError(
                "job_name", f"{len(matches)} Databricks jobs are named {name!r} (job ids {ids}); use job_id"
            )
        return _required_id(matches[0], "job_id", "GET", "jobs/list")

    # -- clusters and libraries -------------------------------------------------------------------

    async def get_cluster(self, cluster_id: str) -> dict[str, Any]:
        """``clusters/get``."""
        return await self._call("GET", "clusters/get", params={"cluster_id": cluster_id}, version=_CLUSTERS)

    async def spark_versions(self) -> dict[str, Any]:
        """``clusters/spark-versions`` (a cheap authenticated call, used to test a connection)."""
        return await self._call("GET", "clusters/spark-versions", version=_CLUSTERS)

    async def start_cluster(self, cluster_id: str) -> None:
        """``clusters/start``."""
        await self._call("POST", "clusters/start", body={"cluster_id": cluster_id}, version=_CLUSTERS)

    async def restart_cluster(self, cluster_id: str) -> None:
        """``clusters/restart``."""
        await self._call("POST", "clusters/restart", body={"cluster_id": cluster_id}, version=_CLUSTERS)

    async def terminate_cluster(self, cluster_id: str) -> None:
        """``clusters/delete``: terminate (not permanently delete) a cluster."""
        await self._call("POST", "clusters/delete", body={"cluster_id": cluster_id}, version=_CLUSTERS)

    async def install_libraries(self, cluster_id: str, libraries: list[dict[str, Any]]) -> None:
        """``libraries/install`` on a cluster."""
        body = {"cluster_id": cluster_id, "libraries": libraries}
        await self._call("POST", "libraries/install", body=body, version=_LIBRARIES)

    async def uninstall_libraries(self, cluster_id: str, libraries: list[dict[str, Any]]) -> None:
        """``libraries/uninstall`` from a cluster."""
        body = {"cluster_id": cluster_id, "libraries": libraries}
        await self._call("POST", "libraries/uninstall", body=body, version=_LIBRARIES)

    async def cluster_library_status(self, cluster_id: str) -> dict[str, Any]:
        """``libraries/cluster-status``."""
        return await self._call(
            "GET", "libraries/cluster-status", params={"cluster_id": cluster_id}, version=_LIBRARIES
        )

    # -- helpers ----------------------------------------------------------------------------------

    async def _get_paged(self, path: str, params: Mapping[str, object]) -> dict[str, Any]:
        """GET ``path`` and, on 2.2, follow ``next_page_token`` appending the paginated arrays."""
        merged = await self._call("GET", path, params=params)
        pages = Pages(path, DEFAULT_MAX_PAGES)
        while True:
            token = merged.pop("next_page_token", None)
            if self._config.api_version != "2.2" or (token := pages.follow(token)) is None:
                break
            page = await self._call("GET", path, params={**params, "page_token": token})
            for name in _PAGED_ARRAYS:
                entries = page.get(name)
                if isinstance(entries, list) and entries:
                    existing = merged.get(name)
                    merged[name] = [*(existing if isinstance(existing, list) else []), *entries]
            if "next_page_token" in page:
                merged["next_page_token"] = page["next_page_token"]
        merged.pop("has_more", None)
        return merged


def _has_token(payload: Mapping[str, Any]) -> bool:
    token = payload.get("idempotency_token")
    return isinstance(token, str) and bool(token)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _required_id(body: Mapping[str, Any], key: str, method: str, path: str) -> int:
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ApiError(200, "INVALID_RESPONSE", f"the answer has no valid {key!r}", method, path)
