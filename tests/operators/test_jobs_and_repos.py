"""Jobs as code and repos operators against the emulator: retries, lost answers, permissions, commits."""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.emulator.config import FaultConfig
from airflow_dbx_async.exceptions import DatabricksApiError, DatabricksConfigError
from airflow_dbx_async.operators import (
    DatabricksCreateJobsOperator,
    DatabricksReposCreateOperator,
    DatabricksReposDeleteOperator,
    DatabricksReposUpdateOperator,
)
from tests.helpers import CONN_ID, context

if TYPE_CHECKING:
    from tests.fixtures import Emulated

TASKS = [{"task_key": "nb", "notebook_task": {"notebook_path": "/Users/a@b.c/nb"}}]
ACL = [{"group_name": "viewers", "permission_level": "CAN_VIEW"}]


def _create_jobs(**kwargs: Any) -> DatabricksCreateJobsOperator:
    args: dict[str, Any] = {"task_id": "jobs", "databricks_conn_id": CONN_ID, "databricks_retry_delay": 0}
    return DatabricksCreateJobsOperator(**{**args, **kwargs})


def _named(emulator: Emulated, name: str) -> list[dict[str, Any]]:
    return [job for job in emulator.state.jobs.values() if job["settings"].get("name") == name]


def _faults(emulator: Emulated, **config: Any) -> None:
    body = json.dumps(FaultConfig(**config).to_json() if config else {"rate": 0}).encode()
    request = urllib.request.Request(
        f"{emulator.url}/_emulator/faults", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - the emulator on loopback
        pass


def test_a_retry_resets_the_job_the_first_try_created(emulator: Emulated) -> None:
    first = _create_jobs(name="etl", tasks=TASKS).execute(context())
    again = _create_jobs(name="etl", tasks=TASKS, max_concurrent_runs=3).execute(context())
    assert again == first
    (job,) = _named(emulator, "etl")
    assert str(job["settings"]["max_concurrent_runs"]) == "3"
    assert len(emulator.calls("jobs/create")) == 1
    assert len(emulator.calls("jobs/reset")) == 1


def test_a_lost_create_answer_finds_the_job_instead_of_failing(emulator: Emulated) -> None:
    _faults(emulator, rate=1.0, kinds=("500",), phase="after", paths=("jobs/create",), seed=1)
    try:
        job_id = _create_jobs(name="lost", tasks=TASKS).execute(context())
    finally:
        _faults(emulator)
    assert emulator.state.stats.faults["500"] == 1  # the answer to the create was lost
    (job,) = _named(emulator, "lost")
    assert job["job_id"] == job_id
    assert len(emulator.calls("jobs/create")) == 1  # a create is never sent twice


def test_acl_on_create_and_merged_on_reset(emulator: Emulated) -> None:
    job_id = _create_jobs(name="acl", tasks=TASKS, access_control_list=ACL).execute(context())
    runners = [{"service_principal_name": "sp", "permission_level": "CAN_MANAGE_RUN"}]
    _create_jobs(name="acl", tasks=TASKS, access_control_list=runners).execute(context())
    acl = emulator.state.job(job_id)["access_control_list"]
    principals = {entry.get("group_name") or entry.get("service_principal_name") for entry in acl}
    assert {"viewers", "sp"} <= principals
    assert emulator.calls(f"permissions/jobs/{job_id}") == [{"access_control_list": runners}]


def test_several_jobs_with_the_name_fail_before_any_change(emulator: Emulated) -> None:
    for _ in range(2):
        emulator.state.create_job({"name": "dup", "tasks": TASKS})
    with pytest.raises(DatabricksConfigError, match="2 Databricks jobs are named 'dup'"):
        _create_jobs(name="dup", tasks=TASKS).execute(context())
    assert emulator.calls("jobs/reset") == emulator.calls("jobs/create") == []


def test_params_become_job_parameters_and_a_bad_answer_is_an_api_error(emulator: Emulated) -> None:
    job_id = _create_jobs(name="p", tasks=TASKS, params={"env": "prod", "none": None}).execute(context())
    assert emulator.state.job(job_id)["settings"]["parameters"] == [{"name": "env", "default": "prod"}]
    with pytest.raises(DatabricksApiError) as refused:
        _create_jobs(name="bad", tasks=[{"task_key": "x"}]).execute(context())
    assert refused.value.http_status_code == 400


def _repo_op(cls: type, **kwargs: Any) -> Any:
    return cls(task_id="repo", databricks_conn_id=CONN_ID, databricks_retry_delay=0, **kwargs)


def test_repo_create_update_and_delete(emulator: Emulated) -> None:
    path = "/Repos/team/project"
    url = "https://github.com/example/project"
    repo_id = _repo_op(DatabricksReposCreateOperator, git_url=url, repo_path=path, branch="dev").execute(
        context()
    )
    assert isinstance(repo_id, int)
    assert emulator.state.repos[repo_id]["branch"] == "dev"
    commit = _repo_op(DatabricksReposUpdateOperator, repo_path=path, tag="v1").execute(context())
    assert commit == emulator.state.repos[repo_id]["head_commit_id"]
    assert "branch" not in emulator.state.repos[repo_id] or emulator.state.repos[repo_id]["branch"] is None
    with pytest.raises(DatabricksConfigError, match="already exists"):
        _repo_op(DatabricksReposCreateOperator, git_url=url, repo_path=path).execute(context())
    assert _repo_op(
        DatabricksReposCreateOperator, git_url=url, repo_path=path, ignore_existing_repo=True
    ).execute(context()) == str(repo_id)
    _repo_op(DatabricksReposDeleteOperator, repo_id=str(repo_id)).execute(context())
    assert repo_id not in emulator.state.repos
    with pytest.raises(DatabricksConfigError, match="Can't find Repo ID"):
        _repo_op(DatabricksReposDeleteOperator, repo_path=path).execute(context())
