"""Pipelines, Repos and Permissions (API 2.0): the workspace objects that jobs as code manage.

Three small clients, each a view of a :class:`~airflow_dbx_async.client.JobsClient`: it hands them
its own send function, so they share its session, transport, call policy and request count, and
stop working when it is closed (like :attr:`JobsClient.sql <airflow_dbx_async.client.JobsClient.sql>`).
Ids that go into a URL path are checked first: bad input is one
:class:`~airflow_dbx_async.client.errors.ConfigurationError` naming the field.

References: https://docs.databricks.com/api/workspace/pipelines/listpipelines (``filter`` is
``name LIKE '<pattern>'`` or ``notebook='<path>'``; ``max_results`` at most 100),
.../pipelines/get, https://docs.databricks.com/api/workspace/repos (create, get, update, delete),
https://docs.databricks.com/api/workspace/workspace/getstatus (a repo path answers ``object_type``
``REPO`` and its ``object_id``) and https://docs.databricks.com/api/workspace/jobs/getpermissions,
.../jobs/setpermissions (``PUT``, replaces), .../jobs/updatepermissions (``PATCH``, merges).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from airflow_dbx_async.client._numbers import check_number
from airflow_dbx_async.client._pages import Pages
from airflow_dbx_async.client.config import DEFAULT_MAX_PAGES
from airflow_dbx_async.client.errors import ConfigurationError, NotFound

__all__ = ("PermissionsClient", "PipelinesClient", "ReposClient", "pipeline_name_filter")

Send = Callable[..., Awaitable[dict[str, Any]]]

_V2 = "2.0"
# One URL path segment: unreserved characters only, never "." or "..".
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_MAX_PIPELINES_PER_PAGE = 100


def _segment(field: str, value: object) -> str:
    text = str(value).strip()
    if isinstance(value, bool) or not _SEGMENT.fullmatch(text):
        raise ConfigurationError(field, f"must be an id (letters, digits, '-', '_', '.'), got {value!r}")
    return text


def pipeline_name_filter(name: str) -> str:
    """The list ``filter`` for a pipeline name: ``name LIKE '<name>'``, a quote doubled as in SQL."""
    return "name LIKE '{}'".format(name.replace("'", "''"))


class PipelinesClient:
    """Pipelines (Lakeflow Declarative Pipelines) of one workspace; use ``client.pipelines``.

    :param send: the owning client's request function.
    """

    __slots__ = ("_send",)

    def __init__(self, send: Send) -> None:
        self._send = send

    async def list_pipelines(
        self,
        *,
        filter: str | None = None,
        max_results: int = 25,
        page_token: str | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> list[dict[str, Any]]:
        """Every pipeline's ``statuses`` entry, all pages from ``page_token`` on.

        :param filter: ``name LIKE '<pattern>'`` or ``notebook='<path>'`` (see :func:`pipeline_name_filter`).
        :param max_results: pipelines per page, 1 to 100.
        :param max_pages: pages followed at most; more fail with ``ApiError`` ``TOO_MANY_PAGES``.
        """
        check_number("max_results", max_results, minimum=1, whole=True)
        if max_results > _MAX_PIPELINES_PER_PAGE:
            raise ConfigurationError(
                "max_results", f"must be at most {_MAX_PIPELINES_PER_PAGE}, got {max_results}"
            )
        pages = Pages("pipelines", max_pages)
        found: list[dict[str, Any]] = []
        token = page_token or None
        while True:
            params = {"max_results": max_results, "filter": filter or None, "page_token": token}
            body = await self._send("GET", "pipelines", params=params, version=_V2)
            statuses = body.get("statuses")
            if isinstance(statuses, list):
                found.extend(s for s in statuses if isinstance(s, dict))
            token = pages.follow(body.get("next_page_token"))
            if token is None:
                return found

    async def get_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        """``GET pipelines/{id}``: the pipeline's settings (``spec``) and state."""
        return await self._send("GET", f"pipelines/{_segment('pipeline_id', pipeline_id)}", version=_V2)

    async def find_pipeline_id_by_name(self, name: str) -> str:
        """The id of the one pipeline named exactly ``name``.

        :raises ConfigurationError: naming ``pipeline_name``, when no pipeline or several match.
        """
        listed = await self.list_pipelines(filter=pipeline_name_filter(name))
        matches = [p for p in listed if p.get("name") == name and p.get("pipeline_id")]
        if not matches:
            raise ConfigurationError(
                "pipeline_name",
                f"no Databricks pipeline is named {name!r}; check the name or use pipeline_id",
            )
        if len(matches) > 1:
            ids = ", ".join(str(p["pipeline_id"]) for p in matches)
            raise ConfigurationError(
                "pipeline_name",
                f"{len(matches)} Databricks pipelines are named {name!r} (ids {ids}); use pipeline_id",
            )
        return str(matches[0]["pipeline_id"])


class ReposClient:
    """Git folders (Repos) of one workspace, and the workspace path lookup; use ``client.repos``.

    :param send: the owning client's request function.
    """

    __slots__ = ("_send",)

    def __init__(self, send: Send) -> None:
        self._send = send

    async def create_repo(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST repos`` (``url``, ``provider``, optional ``path``); the new repo, with its ``id``."""
        return await self._send("POST", "repos", body=body, version=_V2, idempotent=False)

    async def get_repo(self, repo_id: int | str) -> dict[str, Any]:
        """``GET repos/{id}``: ``path``, ``url``, ``provider``, ``branch``, ``head_commit_id``."""
        return await self._send("GET", f"repos/{_segment('repo_id', repo_id)}", version=_V2)

    async def update_repo(self, repo_id: int | str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PATCH repos/{id}`` with exactly one of ``branch`` or ``tag``; Databricks answers ``{}``."""
        return await self._send("PATCH", f"repos/{_segment('repo_id', repo_id)}", body=body, version=_V2)

    async def delete_repo(self, repo_id: int | str) -> None:
        """``DELETE repos/{id}``."""
        await self._send("DELETE", f"repos/{_segment('repo_id', repo_id)}", version=_V2)

    async def get_status(self, path: str) -> dict[str, Any]:
        """``workspace/get-status`` of a workspace path: ``object_type``, ``object_id``, ``path``."""
        return await self._send("GET", "workspace/get-status", params={"path": path}, version=_V2)

    async def repo_id_by_path(self, path: str) -> str | None:
        """The id of the repo at ``path`` (as text), or ``None`` when nothing or no repo is there."""
        try:
            status = await self.get_status(path)
        except NotFound:
            return None
        if status.get("object_type") != "REPO" or status.get("object_id") is None:
            return None
        return str(status["object_id"])


class PermissionsClient:
    """Object permissions (``permissions/{object_type}/{id}``); use ``client.permissions``.

    :param send: the owning client's request function.
    """

    __slots__ = ("_send",)

    def __init__(self, send: Send) -> None:
        self._send = send

    @staticmethod
    def _path(object_type: str, object_id: int | str) -> str:
        return f"permissions/{_segment('object_type', object_type)}/{_segment('object_id', object_id)}"

    async def get_permissions(self, object_type: str, object_id: int | str) -> dict[str, Any]:
        """``GET``: the object's ``access_control_list`` (direct and inherited permissions)."""
        return await self._send("GET", self._path(object_type, object_id), version=_V2)

    async def set_permissions(
        self, object_type: str, object_id: int | str, access_control_list: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """``PUT``: replace the object's direct permissions; answers the resulting permissions."""
        body = {"access_control_list": [dict(entry) for entry in access_control_list]}
        return await self._send("PUT", self._path(object_type, object_id), body=body, version=_V2)

    async def update_permissions(
        self, object_type: str, object_id: int | str, access_control_list: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """``PATCH``: change the permissions of the principals named; answers the resulting permissions."""
        body = {"access_control_list": [dict(entry) for entry in access_control_list]}
        return await self._send("PATCH", self._path(object_type, object_id), body=body, version=_V2)
