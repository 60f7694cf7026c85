"""Our ``DatabricksHook`` side by side with the official one, against the same emulator."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from airflow.providers.databricks.hooks import databricks as official
from airflow.sdk.exceptions import AirflowException

from airflow_dbx_async import databricks_hook as ours
from tests.parity.conftest import Workspace

pytestmark = pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")

NB = {"notebook_path": "/nb"}
FAILING = {"task_key": "bad", "notebook_task": NB, "sim_error": "ValueError: hook"}
PUBLIC = (
    "submit_run run_now get_run get_run_state get_run_page_url get_job_id get_run_output cancel_run "
    "cancel_all_runs delete_run repair_run get_latest_repair_id list_jobs find_job_id_by_name "
    "get_cluster_state start_cluster restart_cluster terminate_cluster install uninstall test_connection "
    "a_get_run a_get_run_state a_get_run_output a_get_run_page_url update_job get_run_tasks "
    "get_run_state_str get_run_state_lifecycle get_run_state_result get_run_state_message a_get_cluster_state"
    " create_job reset_job update_job_permission list_pipelines find_pipeline_id_by_name create_repo "
    "update_repo delete_repo get_repo_by_path get_conn"
).split()
# The official hook's cached properties (no arguments: compared by kind).
PROPERTIES = ("databricks_conn", "user_agent_value", "user_agent_header")
JOB = {"name": "hook-job", "tasks": [{"task_key": "nb", "notebook_task": NB}], "max_concurrent_runs": 2}
ACL = [{"group_name": "viewers", "permission_level": "CAN_VIEW"}]
URL = "https://github.com/example/hook"


@pytest.fixture
def hooks(workspace: Workspace) -> tuple[Any, Any]:
    return official.DatabricksHook(retry_delay=0), ours.DatabricksHook(retry_delay=0)


def _same(theirs: Any, mine: Any) -> None:
    assert type(mine).__name__ == type(theirs).__name__
    assert repr(mine) == repr(theirs)


def test_every_public_method_has_the_official_signature() -> None:
    import inspect

    for name in PUBLIC:
        theirs = inspect.signature(getattr(official.DatabricksHook, name))
        mine = inspect.signature(getattr(ours.DatabricksHook, name))
        assert list(mine.parameters) == list(theirs.parameters), name
        assert [p.default for p in mine.parameters.values()] == [
            p.default for p in theirs.parameters.values()
        ]
    assert inspect.iscoroutinefunction(ours.DatabricksHook.a_get_run_state)
    for name in PROPERTIES:
        assert type(vars(ours.DatabricksHook)[name]) is type(_official_attribute(name)), name
    # every async twin of the official hook outside the SQL statement and warehouse calls is here
    twins = {n for n in dir(official.DatabricksHook) if n.startswith("a_") and "sql" not in n}
    assert {n for n in twins if "warehouse" not in n} <= set(dir(ours.DatabricksHook))


def _official_attribute(name: str) -> Any:
    for klass in official.DatabricksHook.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    raise AssertionError(name)


def test_runs_read_alike(hooks: tuple[Any, Any]) -> None:
    theirs, mine = hooks
    run_id = mine.submit_run({"run_name": "h", "tasks": [FAILING]})
    assert isinstance(run_id, int)
    assert mine.get_run(run_id) == theirs.get_run(run_id)
    state = mine.get_run_state(run_id)
    _same(theirs.get_run_state(run_id), state)
    assert (state.is_terminal, state.is_successful) == (True, False)
    assert ours.RunState.from_json(state.to_json()) == state
    assert official.RunState.from_json(state.to_json()) == theirs.get_run_state(run_id)
    assert mine.get_run_page_url(run_id) == theirs.get_run_page_url(run_id)
    assert mine.get_job_id(run_id) == theirs.get_job_id(run_id)
    assert mine.get_run_tasks(run_id) == theirs.get_run_tasks(run_id)
    assert mine.get_run_state_str(run_id) == theirs.get_run_state_str(run_id)
    task_run = mine.get_run_tasks(run_id)[0]["run_id"]
    assert mine.get_run_output(task_run) == theirs.get_run_output(task_run)
    assert mine.get_run_output(task_run)["error"] == "ValueError: hook"
    assert mine.get_latest_repair_id(run_id) is theirs.get_latest_repair_id(run_id) is None
    repair_id = mine.repair_run({"run_id": run_id, "rerun_all_failed_tasks": True})
    assert isinstance(repair_id, int)
    assert mine.get_latest_repair_id(run_id) == theirs.get_latest_repair_id(run_id) == repair_id


def test_async_reads_alike(hooks: tuple[Any, Any]) -> None:
    theirs, mine = hooks
    run_id = mine.submit_run({"run_name": "a", "tasks": [{"task_key": "ok", "notebook_task": NB}]})

    async def both() -> list[Any]:
        async with theirs:
            expected = [
                await theirs.a_get_run(run_id),
                await theirs.a_get_run_state(run_id),
                await theirs.a_get_run_page_url(run_id),
            ]
        async with mine:
            got = [
                await mine.a_get_run(run_id),
                await mine.a_get_run_state(run_id),
                await mine.a_get_run_page_url(run_id),
            ]
        return [expected, got]

    expected, got = asyncio.run(both())
    assert got[0] == expected[0]
    _same(expected[1], got[1])
    assert got[2] == expected[2]


def test_jobs_and_lifecycle_calls(hooks: tuple[Any, Any], workspace: Workspace) -> None:
    theirs, mine = hooks
    assert mine.list_jobs(job_name="nightly") == theirs.list_jobs(job_name="nightly")
    assert mine.find_job_id_by_name("nightly") == theirs.find_job_id_by_name("nightly") == 101
    assert mine.find_job_id_by_name("nope") is theirs.find_job_id_by_name("nope") is None
    with pytest.raises(AirflowException, match="more than one job"):
        mine.find_job_id_by_name("twin")
    run_id = mine.run_now({"job_id": 101})
    mine.cancel_run(run_id)
    mine.cancel_all_runs(101)
    mine.delete_run(run_id)
    with pytest.raises(ours.DatabricksApiError) as gone:
        mine.get_run(run_id)
    assert gone.value.http_status_code == 400
    assert isinstance(gone.value, AirflowException)
    mine.update_job("101", {"timeout_seconds": 10})
    assert mine.test_connection() == (True, "Connection successfully tested")


def test_clusters_and_libraries(hooks: tuple[Any, Any]) -> None:
    theirs, mine = hooks
    cluster = {"cluster_id": "hook-cluster"}
    mine.start_cluster(cluster)
    _same(theirs.get_cluster_state("hook-cluster"), mine.get_cluster_state("hook-cluster"))
    mine.restart_cluster(cluster)
    libraries = {**cluster, "libraries": [{"pypi": {"package": "simplejson"}}]}
    mine.install(libraries)
    mine.uninstall(libraries)
    mine.terminate_cluster(cluster)
    state = mine.get_cluster_state("hook-cluster")
    _same(theirs.get_cluster_state("hook-cluster"), state)
    assert ours.ClusterState.from_json(state.to_json()) == state


def test_missing_connection_is_an_airflow_exception() -> None:
    assert ours.DatabricksHook("no_such_connection").test_connection()[0] is False
    with pytest.raises(AirflowException, match="no_such_connection"):
        ours.DatabricksHook("no_such_connection").get_run(1)


def test_jobs_as_code_calls(hooks: tuple[Any, Any], workspace: Workspace) -> None:
    theirs, mine = hooks
    before = workspace.snapshot()
    try:
        state = workspace.handle.server.state
        created = [hook.create_job({**JOB, "access_control_list": ACL}) for hook in (theirs, mine)]
        assert all(isinstance(job_id, int) for job_id in created)
        first, second = (state.job(job_id) for job_id in created)
        assert first["settings"] == second["settings"]
        assert first["access_control_list"] == second["access_control_list"]
        runners = [{"group_name": "runners", "permission_level": "CAN_MANAGE_RUN"}]
        new = {**JOB, "name": "hook-job v2", "access_control_list": runners}
        assert theirs.reset_job(str(created[0]), new) is mine.reset_job(str(created[1]), new) is None
        assert first["settings"] == second["settings"]
        assert first["settings"]["name"] == "hook-job v2"
        grant = {"access_control_list": [{"user_name": "me", "permission_level": "CAN_MANAGE"}]}
        answers = [
            hook.update_job_permission(job_id, grant) for hook, job_id in zip(hooks, created, strict=True)
        ]
        assert answers[1] == {**answers[0], "object_id": f"/jobs/{created[1]}"}
        assert {e.get("group_name") for e in answers[1]["access_control_list"]} >= {"viewers", "runners"}
        with pytest.raises(ours.DatabricksApiError):
            mine.update_job_permission(created[1], {"access_control_list": [{"user_name": "x"}]})
    finally:
        workspace.restore(before)


def test_list_jobs_honours_page_token_and_user_names(hooks: tuple[Any, Any]) -> None:
    theirs, mine = hooks
    token = theirs._do_api_call(("GET", "2.2/jobs/list"), {"limit": 1})["next_page_token"]
    rest = mine.list_jobs(limit=2, page_token=token)
    assert rest == theirs.list_jobs(limit=2, page_token=token)
    assert len(rest) == len(mine.list_jobs()) - 1
    assert mine.list_jobs(include_user_names=True) == theirs.list_jobs(include_user_names=True)


def test_pipeline_calls(hooks: tuple[Any, Any]) -> None:
    theirs, mine = hooks
    assert mine.list_pipelines() == theirs.list_pipelines()
    assert mine.list_pipelines(batch_size=1) == theirs.list_pipelines(batch_size=1)
    assert mine.list_pipelines(pipeline_name="twin%") == theirs.list_pipelines(pipeline_name="twin%")
    assert len(mine.list_pipelines(pipeline_name="twin%")) == 2
    assert mine.list_pipelines(notebook_path="/nb") == theirs.list_pipelines(notebook_path="/nb") == []
    assert mine.find_pipeline_id_by_name("A pipeline") == theirs.find_pipeline_id_by_name("A pipeline")
    assert mine.find_pipeline_id_by_name("A pipeline") == "1234abcd"
    assert mine.find_pipeline_id_by_name("nope") is theirs.find_pipeline_id_by_name("nope") is None
    with pytest.raises(AirflowException, match="more than one pipelines"):
        mine.find_pipeline_id_by_name("twin pipeline")
    with pytest.raises(AirflowException, match="Cannot combine"):
        mine.list_pipelines(pipeline_name="a", notebook_path="/b")


def test_repo_calls(hooks: tuple[Any, Any], workspace: Workspace) -> None:
    theirs, mine = hooks
    before = workspace.snapshot()
    try:
        made = [
            hook.create_repo({"url": URL, "provider": "gitHub", "path": f"/Repos/hook/{side}"})
            for side, hook in (("theirs", theirs), ("ours", mine))
        ]
        assert {k: v for k, v in made[0].items() if k not in ("id", "path")} == {
            k: v for k, v in made[1].items() if k not in ("id", "path")
        }
        repo_id = mine.get_repo_by_path("/Repos/hook/ours")
        assert repo_id == str(made[1]["id"])
        assert theirs.get_repo_by_path("/Repos/hook/ours") == repo_id
        assert (
            mine.get_repo_by_path("/Repos/hook/none") is theirs.get_repo_by_path("/Repos/hook/none") is None
        )
        assert mine.update_repo(repo_id, {"tag": "v1"}) == theirs.update_repo(repo_id, {"branch": "b"}) == {}
        assert mine.delete_repo(repo_id) is None
        assert mine.get_repo_by_path("/Repos/hook/ours") is None
        with pytest.raises(ours.DatabricksApiError) as gone:
            mine.delete_repo(repo_id)
        assert gone.value.http_status_code == 404
    finally:
        workspace.restore(before)


def test_connection_and_user_agent(hooks: tuple[Any, Any]) -> None:
    theirs, mine = hooks
    assert (mine.get_conn().host, mine.get_conn().port) == (theirs.get_conn().host, theirs.get_conn().port)
    assert mine.get_conn() is mine.databricks_conn
    shape = r"^[\w-]+/[\w.]+ _/0\.0\.0 python/[\d.]+ os/\w+ airflow/\S+ operator/DatabricksHook$"
    assert re.match(shape, theirs.user_agent_value)
    assert re.match(shape, mine.user_agent_value)
    assert mine.user_agent_header == {"user-agent": mine.user_agent_value}
