"""Our ``DatabricksHook`` side by side with the official one, against the same emulator."""

from __future__ import annotations

import asyncio
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
).split()


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
