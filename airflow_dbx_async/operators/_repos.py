"""Repos (Git folders): create, update and delete operators, drop-ins for the official ones.

Same parameters, checks, templated fields, requests and return values as
``airflow.providers.databricks.operators.databricks_repos``. One difference, on purpose: Databricks
answers a repo update with ``{}`` (https://docs.databricks.com/api/workspace/repos/update), so the
official update operator, which returns the answer's ``head_commit_id``, fails after a successful
update; this one reads the repo after the update and returns the commit it is at.
"""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_dbx_async.exceptions import DatabricksConfigError
from airflow_dbx_async.operators._api_calls import DatabricksApiOperatorBase

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_dbx_async.client import JobsClient

__all__ = ("DatabricksReposCreateOperator", "DatabricksReposDeleteOperator", "DatabricksReposUpdateOperator")

# The providers the official operator recognises from a URL's host.
_GIT_PROVIDERS = {
    "github.com": "gitHub",
    "dev.azure.com": "azureDevOpsServices",
    "gitlab.com": "gitLab",
    "bitbucket.org": "bitbucketCloud",
}
_AWS_CODE_COMMIT = re.compile(r"^git-codecommit\.[^.]+\.amazonaws.com$")
_REPOS_PATH = re.compile(r"/Repos/[^/]+/[^/]+/?$")


def detect_git_provider(url: str) -> str | None:
    """The Git provider of ``url`` from its host, as the official operator guesses it; else ``None``."""
    try:
        host = urlsplit(url).netloc.lower().rpartition("@")[2]
    except ValueError:
        return None
    provider = _GIT_PROVIDERS.get(host)
    if provider is None and _AWS_CODE_COMMIT.match(host):
        provider = "awsCodeCommit"
    return provider


def _one_of(first: tuple[str, Any], second: tuple[str, Any], *, required: bool, what: str) -> None:
    (first_name, first_value), (second_name, second_value) = first, second
    if first_value is not None and second_value is not None:
        raise DatabricksConfigError(
            second_name, f"Only one of {first_name} or {second_name} should be provided, but not both"
        )
    if required and first_value is None and second_value is None:
        raise DatabricksConfigError(first_name, f"One of {what} should be provided")


async def _repo_id(client: JobsClient, repo_id: str | None, repo_path: str | None) -> str:
    """The given ``repo_id``, or the id of the repo at ``repo_path``."""
    if repo_path is None:
        return str(repo_id)
    found = await client.repos.repo_id_by_path(repo_path)
    if found is None:
        raise DatabricksConfigError("repo_path", f"Can't find Repo ID for path '{repo_path}'")
    return found


class DatabricksReposCreateOperator(DatabricksApiOperatorBase):
    """Create a Databricks repo (``POST repos``) and check out a branch or tag; return its id.

    :param git_url: the repository's HTTPS URL.
    :param git_provider: the Git provider; guessed from the URL's host when not given.
    :param branch: a branch to check out (templated); not with ``tag``.
    :param tag: a tag to check out (templated).
    :param repo_path: ``/Repos/{folder}/{repo-name}``; by default the user's home folder (templated).
    :param ignore_existing_repo: use the repo already at ``repo_path`` instead of failing.
    :param databricks_conn_id: the Airflow connection id (templated).
    :param databricks_retry_limit: attempts per request, the first included (default 3).
    :param databricks_retry_delay: first backoff delay in seconds (default 1).
    """

    template_fields: Sequence[str] = ("repo_path", "tag", "branch", "databricks_conn_id")

    def __init__(
        self,
        *,
        git_url: str,
        git_provider: str | None = None,
        branch: str | None = None,
        tag: str | None = None,
        repo_path: str | None = None,
        ignore_existing_repo: bool = False,
        databricks_conn_id: str = "databricks_default",
        databricks_retry_limit: int = 3,
        databricks_retry_delay: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            databricks_conn_id=databricks_conn_id,
            databricks_retry_limit=databricks_retry_limit,
            databricks_retry_delay=databricks_retry_delay,
            **kwargs,
        )
        self.git_url = git_url
        self.ignore_existing_repo = ignore_existing_repo
        provider = git_provider if git_provider is not None else detect_git_provider(git_url)
        if provider is None:
            raise DatabricksConfigError(
                "git_provider", f"git_provider isn't specified and couldn't be guessed for URL {git_url}"
            )
        self.git_provider = provider
        self.repo_path = repo_path
        _one_of(("branch", branch), ("tag", tag), required=False, what="branch or tag")
        self.branch = branch
        self.tag = tag

    def execute(self, context: Context) -> int | str:
        """Create the repo (or take the existing one), check out the branch or tag; return the repo id."""
        payload = {"url": self.git_url, "provider": self.git_provider}
        if self.repo_path is not None:
            if not _REPOS_PATH.match(self.repo_path):
                raise DatabricksConfigError(
                    "repo_path",
                    f"repo_path should have form of /Repos/{{folder}}/{{repo-name}}, got '{self.repo_path}'",
                )
            payload["path"] = self.repo_path
        return self.call(partial(self._create, payload=payload))

    async def _create(self, client: JobsClient, payload: dict[str, Any]) -> int | str:
        repo_id: int | str | None = None
        if self.repo_path is not None:
            repo_id = await client.repos.repo_id_by_path(self.repo_path)
            if repo_id is not None and not self.ignore_existing_repo:
                raise DatabricksConfigError("repo_path", f"Repo with path '{self.repo_path}' already exists")
        if repo_id is None:
            try:
                repo_id = (await client.repos.create_repo(payload))["id"]
            except Exception:
                # ignore_existing_repo: a repo created meanwhile (by a concurrent task) is used.
                if not self.ignore_existing_repo or self.repo_path is None:
                    raise
                repo_id = await client.repos.repo_id_by_path(self.repo_path)
                if repo_id is None:
                    raise
                self.log.info(
                    "Repository at path '%s' already exists; continuing because ignore_existing_repo=True.",
                    self.repo_path,
                )
        if self.branch is not None:
            await client.repos.update_repo(str(repo_id), {"branch": str(self.branch)})
        elif self.tag is not None:
            await client.repos.update_repo(str(repo_id), {"tag": str(self.tag)})
        assert repo_id is not None  # for mypy: created or found above
        return repo_id


class DatabricksReposUpdateOperator(DatabricksApiOperatorBase):
    """Check a branch or tag out in a Databricks repo (``PATCH repos/{id}``); return the head commit.

    :param branch: the branch to check out (templated); exactly one of ``branch`` and ``tag``.
    :param tag: the tag to check out (templated).
    :param repo_id: the repo's id; exactly one of ``repo_id`` and ``repo_path``.
    :param repo_path: the repo's workspace path (templated).
    :param databricks_conn_id: the Airflow connection id (templated).
    :param databricks_retry_limit: attempts per request, the first included (default 3).
    :param databricks_retry_delay: first backoff delay in seconds (default 1).
    """

    template_fields: Sequence[str] = ("repo_path", "tag", "branch", "databricks_conn_id")

    def __init__(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        repo_id: str | None = None,
        repo_path: str | None = None,
        databricks_conn_id: str = "databricks_default",
        databricks_retry_limit: int = 3,
        databricks_retry_delay: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            databricks_conn_id=databricks_conn_id,
            databricks_retry_limit=databricks_retry_limit,
            databricks_retry_delay=databricks_retry_delay,
            **kwargs,
        )
        _one_of(("branch", branch), ("tag", tag), required=True, what="branch or tag")
        _one_of(("repo_id", repo_id), ("repo_path", repo_path), required=True, what="repo_id or repo_path")
        self.repo_path = repo_path
        self.repo_id = repo_id
        self.branch = branch
        self.tag = tag

    def execute(self, context: Context) -> str:
        """Check the branch or tag out; return the commit the repo is at then."""
        payload = {"branch": str(self.branch)} if self.branch is not None else {"tag": str(self.tag)}
        return self.call(partial(self._update, payload=payload))

    async def _update(self, client: JobsClient, payload: dict[str, str]) -> str:
        self.repo_id = await _repo_id(client, self.repo_id, self.repo_path)
        answer = await client.repos.update_repo(self.repo_id, payload)
        commit = answer.get("head_commit_id")
        if commit is None:  # Databricks answers {}: the repo says where it is now
            commit = (await client.repos.get_repo(self.repo_id)).get("head_commit_id")
        self.log.info("Repo %s is at commit %s", self.repo_id, commit)
        return str(commit)


class DatabricksReposDeleteOperator(DatabricksApiOperatorBase):
    """Delete a Databricks repo (``DELETE repos/{id}``).

    :param repo_id: the repo's id; exactly one of ``repo_id`` and ``repo_path``.
    :param repo_path: the repo's workspace path (templated).
    :param databricks_conn_id: the Airflow connection id (templated).
    :param databricks_retry_limit: attempts per request, the first included (default 3).
    :param databricks_retry_delay: first backoff delay in seconds (default 1).
    """

    template_fields: Sequence[str] = ("repo_path", "databricks_conn_id")

    def __init__(
        self,
        *,
        repo_id: str | None = None,
        repo_path: str | None = None,
        databricks_conn_id: str = "databricks_default",
        databricks_retry_limit: int = 3,
        databricks_retry_delay: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            databricks_conn_id=databricks_conn_id,
            databricks_retry_limit=databricks_retry_limit,
            databricks_retry_delay=databricks_retry_delay,
            **kwargs,
        )
        _one_of(("repo_id", repo_id), ("repo_path", repo_path), required=True, what="repo_id or repo_path")
        self.repo_path = repo_path
        self.repo_id = repo_id

    def execute(self, context: Context) -> None:
        """Delete the repo."""
        self.call(self._delete)

    async def _delete(self, client: JobsClient) -> None:
        self.repo_id = await _repo_id(client, self.repo_id, self.repo_path)
        await client.repos.delete_repo(self.repo_id)
        self.log.info("Deleted repo %s", self.repo_id)
