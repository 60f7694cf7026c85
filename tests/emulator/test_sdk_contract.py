"""Contract tests through the unmodified databricks-sdk and the official hook, over real HTTP.

References: https://docs.databricks.com/api/workspace/jobs/update (merge by key, ``fields_to_remove``),
.../jobs/reset, .../jobs/repairrun, .../jobs/create (retries, ``job_clusters``), .../jobs/cancelallruns,
.../jobs/deleterun, .../clusters/get, .../repos, .../workspace/getstatus, .../statementexecution,
.../warehouses.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorHandle, EmulatorServer
from tests.emulator.conftest import official_hook

if TYPE_CHECKING:
    from collections.abc import Iterator

    from databricks.sdk import WorkspaceClient

NB = {"notebook_path": "/Users/me/nb"}
WAIT = timedelta(seconds=30)


@pytest.fixture
def handle() -> Iterator[EmulatorHandle]:
    config = EmulatorConfig(
        simulate=True, sim_duration_seconds=0.05, clusters=("0101-known",), warehouse_transition_seconds=0.1
    )
    with EmulatorServer(config).start_in_thread() as running:
        yield running


@pytest.fixture
def w(handle: EmulatorHandle) -> WorkspaceClient:
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient(host=handle.url, token=handle.token)


def _workflow_job(w: WorkspaceClient) -> int:
    """Three tasks on one job cluster: extract -> transform -> load."""
    from databricks.sdk.service import compute, jobs

    cluster = jobs.JobCluster(job_cluster_key="shared", new_cluster=compute.ClusterSpec(num_workers=1))

    def task(key: str, *upstream: str, **extra: Any) -> jobs.Task:
        deps = [jobs.TaskDependency(task_key=u) for u in upstream]
        nb = jobs.NotebookTask(notebook_path=f"/Users/me/{key}", base_parameters=extra or None)
        return jobs.Task(task_key=key, job_cluster_key="shared", depends_on=deps or None, notebook_task=nb)

    tasks = [task("load", "transform"), task("transform", "extract", sim_result="FAILED"), task("extract")]
    created = w.jobs.create(name="workflow", job_clusters=[cluster], tasks=tasks, max_concurrent_runs=5)
    assert created.job_id is not None
    return created.job_id


def test_job_clusters_dependency_order_and_repair_of_chosen_tasks(w: WorkspaceClient) -> None:
    from databricks.sdk.errors import BadRequest
    from databricks.sdk.service import jobs

    job_id = _workflow_job(w)
    run = w.jobs.run_now(job_id=job_id).result(WAIT)
    by_key = {t.task_key: t for t in run.tasks or []}
    assert by_key["extract"].state.result_state == jobs.RunResultState.SUCCESS  # type: ignore[union-attr]
    assert by_key["transform"].state.result_state == jobs.RunResultState.FAILED  # type: ignore[union-attr]
    assert by_key["load"].state.result_state == jobs.RunResultState.UPSTREAM_FAILED  # type: ignore[union-attr]
    assert (by_key["extract"].end_time or 0) <= (by_key["transform"].start_time or 0)

    # Fix the failing task in the job, then repair only it and what depends on it.
    fixed = jobs.Task(
        task_key="transform",
        job_cluster_key="shared",
        notebook_task=jobs.NotebookTask(notebook_path="/Users/me/nb"),
    )
    fixed.depends_on = [jobs.TaskDependency(task_key="extract")]
    w.jobs.update(job_id=job_id, new_settings=jobs.JobSettings(tasks=[fixed]))
    w.jobs.repair_run(run_id=run.run_id, rerun_tasks=["transform"], rerun_dependent_tasks=True).result(WAIT)  # type: ignore[arg-type]
    repaired = w.jobs.get_run(run.run_id, include_history=True)  # type: ignore[arg-type]
    keys = sorted(t.task_key for t in repaired.tasks or [] if t.task_key)
    assert keys == ["extract", "load", "load", "transform", "transform"]  # extract was not re-run
    assert repaired.state.result_state == jobs.RunResultState.SUCCESS  # type: ignore[union-attr]
    with pytest.raises(BadRequest, match="latest_repair_id"):
        w.jobs.repair_run(run_id=run.run_id, rerun_tasks=["load"])  # type: ignore[arg-type]
    with pytest.raises(BadRequest, match="duplicate"):
        w.jobs.repair_run(run_id=run.run_id, rerun_tasks=["load", "load"])  # type: ignore[arg-type]


def test_update_merges_by_key_removes_and_checks_dependencies(w: WorkspaceClient) -> None:
    from databricks.sdk.errors import BadRequest
    from databricks.sdk.service import compute, jobs

    job_id = _workflow_job(w)
    extra = jobs.JobCluster(job_cluster_key="spare", new_cluster=compute.ClusterSpec(num_workers=2))
    w.jobs.update(job_id=job_id, new_settings=jobs.JobSettings(job_clusters=[extra], tags={"team": "a"}))
    settings = w.jobs.get(job_id).settings
    assert settings is not None
    assert sorted(c.job_cluster_key for c in settings.job_clusters or []) == ["shared", "spare"]
    assert [t.task_key for t in settings.tasks or []] == ["load", "transform", "extract"]
    w.jobs.update(job_id=job_id, fields_to_remove=["tags", "job_clusters/spare", "tasks/load"])
    settings = w.jobs.get(job_id).settings
    assert settings is not None
    assert settings.tags is None
    assert [c.job_cluster_key for c in settings.job_clusters or []] == ["shared"]
    assert sorted(t.task_key for t in settings.tasks or []) == ["extract", "transform"]
    with pytest.raises(BadRequest, match="extract"):  # transform still depends on it
        w.jobs.update(job_id=job_id, fields_to_remove=["tasks/extract"])
    with pytest.raises(BadRequest, match="job_clusters"):
        w.jobs.update(job_id=job_id, fields_to_remove=["job_clusters/shared"])
    with pytest.raises(BadRequest, match="nope"):
        w.jobs.update(job_id=job_id, fields_to_remove=["tasks/nope"])
    assert len(w.jobs.get(job_id).settings.tasks or []) == 2  # type: ignore[union-attr]  # nothing applied
    only = jobs.Task(task_key="solo", notebook_task=jobs.NotebookTask(notebook_path="/Users/me/nb"))
    w.jobs.reset(job_id=job_id, new_settings=jobs.JobSettings(name="solo", tasks=[only]))
    settings = w.jobs.get(job_id).settings
    assert settings is not None
    assert (settings.name, [t.task_key for t in settings.tasks or []]) == ("solo", ["solo"])
    assert not settings.job_clusters


def _run_id(w: WorkspaceClient, job_id: int | None) -> int:
    assert job_id is not None
    return w.jobs.run_now(job_id=job_id).run_id


def _state(w: WorkspaceClient, run_id: int) -> Any:
    state = w.jobs.get_run(run_id).state
    assert state is not None
    return state


def test_retries_cancel_all_delete_and_clusters(w: WorkspaceClient) -> None:
    from databricks.sdk.errors import BadRequest, ResourceDoesNotExist
    from databricks.sdk.service import jobs

    flaky = jobs.Task(
        task_key="flaky",
        notebook_task=jobs.NotebookTask(notebook_path="/x", base_parameters={"sim_failing_attempts": "1"}),
        max_retries=2,
        min_retry_interval_millis=10,
        existing_cluster_id="0101-known",
    )
    job = w.jobs.create(name="retry", tasks=[flaky])
    run = w.jobs.run_now(job_id=job.job_id).result(WAIT)  # type: ignore[arg-type]
    assert [(t.attempt_number, t.state.result_state.value) for t in run.tasks or []] == [  # type: ignore[union-attr]
        (0, "FAILED"),
        (1, "SUCCESS"),
    ]
    slow = jobs.Task(
        task_key="slow",
        notebook_task=jobs.NotebookTask(notebook_path="/x", base_parameters={"sim_duration_seconds": "30"}),
    )
    queued_job = w.jobs.create(name="q", tasks=[slow], queue=jobs.QueueSettings(enabled=True))
    first = _run_id(w, queued_job.job_id)
    second = _run_id(w, queued_job.job_id)
    assert _state(w, second).life_cycle_state == jobs.RunLifeCycleState.QUEUED
    w.jobs.cancel_all_runs(all_queued_runs=True)
    w.jobs.wait_get_run_job_terminated_or_skipped(second, WAIT)
    assert _state(w, second).result_state == jobs.RunResultState.CANCELED
    assert _state(w, first).life_cycle_state != jobs.RunLifeCycleState.TERMINATED
    w.jobs.cancel_all_runs(job_id=queued_job.job_id)
    w.jobs.wait_get_run_job_terminated_or_skipped(first, WAIT)
    w.jobs.delete_run(first)
    with pytest.raises(ResourceDoesNotExist):
        w.jobs.get_run(first)
    assert w.clusters.get("0101-known").state is not None
    # The SDK maps Databricks' 400 "... does not exist" to ResourceDoesNotExist.
    with pytest.raises(ResourceDoesNotExist, match="does not exist"):
        w.clusters.get("0101-unknown")
    bad = jobs.SubmitTask(
        task_key="a",
        existing_cluster_id="0101-unknown",
        notebook_task=jobs.NotebookTask(notebook_path="/Users/me/nb"),
    )
    with pytest.raises(BadRequest, match="Cluster 0101-unknown does not exist"):
        w.jobs.submit(run_name="x", tasks=[bad])


def test_output_caps_of_five_megabytes(w: WorkspaceClient) -> None:
    from databricks.sdk.service import jobs

    big = "x" * (5 * 1024 * 1024 + 10)
    task = jobs.SubmitTask(
        task_key="big",
        notebook_task=jobs.NotebookTask(notebook_path="/x", base_parameters={"sim_output": big}),
    )
    run = w.jobs.submit(run_name="big", tasks=[task]).result(WAIT)
    output = w.jobs.get_run_output(run.tasks[0].run_id)  # type: ignore[index,arg-type]
    assert output.notebook_output is not None
    assert output.notebook_output.truncated is True
    assert len(output.notebook_output.result or "") == 5 * 1024 * 1024
    assert output.logs is None


@pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")
def test_official_hook_repos_permissions_and_connection_test(
    handle: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = official_hook(handle, monkeypatch, "dbx_repos")
    assert hook.get_repo_by_path("/Repos/me/project") is None  # 404 RESOURCE_DOES_NOT_EXIST
    created = hook.create_repo(
        {"url": "https://github.com/me/project.git", "provider": "gitHub", "path": "/Repos/me/project"}
    )
    repo_id = hook.get_repo_by_path("/Repos/me/project")
    assert repo_id == str(created["id"])
    assert hook.update_repo(repo_id, {"branch": "dev"}) == {}  # repos/update answers an empty object
    updated = hook._do_api_call(("GET", f"2.0/repos/{repo_id}"))
    assert updated["branch"] == "dev"
    assert updated["head_commit_id"] != created["head_commit_id"]
    hook.delete_repo(repo_id)
    assert hook.get_repo_by_path("/Repos/me/project") is None
    assert hook.test_connection() == (True, "Connection successfully tested")  # clusters/spark-versions
    job_id = hook.create_job({"name": "acl", "tasks": [{"task_key": "a", "notebook_task": NB}]})
    acl = [{"user_name": "me@example.com", "permission_level": "CAN_MANAGE"}]
    granted = hook.update_job_permission(job_id, {"access_control_list": acl})
    assert granted["object_id"] == f"/jobs/{job_id}"
    assert hook.list_pipelines(pipeline_name="nothing") == []


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_runs_list_expand_tasks_caps_each_run_on_2_2(handle: EmulatorHandle) -> None:
    tasks = [{"task_key": f"t{i:03d}", "notebook_task": NB} for i in range(120)]
    body = json.dumps({"run_name": "wide", "tasks": tasks}).encode()
    headers = {"Authorization": f"Bearer {handle.token}", "Content-Type": "application/json"}
    too_many = _post(f"{handle.url}/api/2.1/jobs/runs/submit", body, headers)
    assert too_many[0] == 400
    assert "more than 100 tasks" in too_many[1]["message"]
    assert _post(f"{handle.url}/api/2.2/jobs/runs/submit", body, headers)[0] == 200
    listing = urllib.request.Request(
        f"{handle.url}/api/2.2/jobs/runs/list?expand_tasks=true", headers=headers
    )
    with urllib.request.urlopen(listing, timeout=10) as answer:
        (run,) = json.loads(answer.read())["runs"]
    assert (len(run["tasks"]), run["has_more"]) == (100, True)


def test_sdk_statement_execution_and_warehouses(w: WorkspaceClient) -> None:
    from databricks.sdk.errors import BadRequest, NotFound
    from databricks.sdk.service import sql

    from airflow_dbx_async.emulator._warehouse_store import DEFAULT_WAREHOUSE_ID as wid

    (listed,) = list(w.warehouses.list())
    assert (listed.id, listed.state) == (wid, sql.State.RUNNING)
    run = w.statement_execution.execute_statement
    run("CREATE TABLE kv (k TEXT, v INTEGER)", wid)
    run("INSERT INTO kv VALUES ('a', 1), ('b', 2)", wid)
    param = sql.StatementParameterListItem(name="min", value="2", type="INT")
    got = run("SELECT k, v FROM kv WHERE v >= :min", wid, parameters=[param], wait_timeout="30s")
    assert got.status is not None
    assert got.status.state == sql.StatementState.SUCCEEDED
    assert got.manifest is not None
    assert got.manifest.schema is not None
    assert [c.type_name for c in got.manifest.schema.columns or []] == [
        sql.ColumnInfoTypeName.STRING,
        sql.ColumnInfoTypeName.LONG,
    ]
    assert got.result is not None
    assert got.result.data_array == [["b", "2"]]
    assert got.statement_id is not None
    assert w.statement_execution.get_statement(got.statement_id).result == got.result
    failed = run("SELEC 1", wid)
    assert failed.status is not None
    assert failed.status.state == sql.StatementState.FAILED
    assert failed.status.error is not None
    assert failed.status.error.error_code == sql.ServiceErrorCode.BAD_REQUEST
    assert failed.status.error.message == 'near "SELEC": syntax error (line 1, pos 0)'
    slow = run("SELECT sleep_ms(600000)", wid, wait_timeout="0s")
    assert slow.statement_id is not None
    w.statement_execution.cancel_execution(slow.statement_id)
    done = w.statement_execution.get_statement(slow.statement_id)
    while done.status is not None and done.status.state in (
        sql.StatementState.PENDING,
        sql.StatementState.RUNNING,
    ):
        done = w.statement_execution.get_statement(slow.statement_id)
    assert done.status is not None
    assert done.status.state == sql.StatementState.CANCELED
    with pytest.raises(BadRequest, match="wait_timeout"):
        run("SELECT 1", wid, wait_timeout="3s")
    with pytest.raises(NotFound):
        w.statement_execution.get_statement("00000000-0000-0000-0000-000000000000")

    stopped = w.warehouses.stop(wid).result(timeout=WAIT)
    assert stopped.state == sql.State.STOPPED
    started = w.warehouses.start(wid).result(timeout=WAIT)
    assert started.state == sql.State.RUNNING
    assert w.warehouses.get(wid).health is not None
