"""The repair plugin against XComs rewritten by a user: a real DAG run in Airflow's database.

``dag.test()`` runs a workflow group against an in-process emulator (simulated runs), leaving the DAG
run, its serialized DAG, the launch task's rendered fields and XComs in the database. The plugin's
FastAPI app is then called as the API server would call it, with a token of a user with the ``USER``
role, who may write XComs through Airflow 3.3's REST API (here written straight into the database).
The emulator's request counters show what reached Databricks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_dbx_async.client import JobsClient, judge
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.hooks import DatabricksAsyncHook
from tests.helpers import DAG_TEST_LEAK_WARNINGS, collector_held, load_dag_module, set_connection, wait_for

pytestmark = DAG_TEST_LEAK_WARNINGS

DAG_ID = "repair_plugin_dag"
CONN_ID = "dbx_repair_plugin"
OTHER_CONN_ID = "dbx_repair_plugin_other"
CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
# The connection id is a template: the plugin reads the launch task's rendered value.
DAG = f"""
from airflow.sdk import DAG

from airflow_dbx_async.task_operators import DatabricksNotebookOperator
from airflow_dbx_async.workflow import DatabricksWorkflowTaskGroup

CLUSTER = {CLUSTER!r}

with DAG(dag_id={DAG_ID!r}, schedule=None, catchup=False) as dag:
    with DatabricksWorkflowTaskGroup(
        group_id="wf",
        databricks_conn_id="{{{{ 'dbx_repair' ~ '_plugin' }}}}",
        job_clusters=[{{"job_cluster_key": "c", "new_cluster": CLUSTER}}],
        max_concurrent_runs=100,  # a repaired run may still run when the next test starts
    ):
        first = DatabricksNotebookOperator(
            task_id="first", notebook_path="/Shared/first", source="WORKSPACE", job_cluster_key="c",
            notebook_params={{"sim_duration_seconds": "0.1"}},
        )
        second = DatabricksNotebookOperator(
            task_id="second", notebook_path="/Shared/second", source="WORKSPACE", job_cluster_key="c",
            notebook_params={{"sim_error": "ValueError: boom", "sim_duration_seconds": "0.1"}}, retries=0,
        )
        first >> second
"""
GENERIC_FAILURE = "Repair failed; see the API server log"
REPAIR = "POST /api/2.2/jobs/runs/repair"
RUNS_GET = "GET /api/2.2/jobs/runs/get"


@pytest.fixture(scope="module")
def dag_module() -> Any:
    return load_dag_module(DAG_ID, DAG)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Any, Any]]:
    """The group's workspace, and another one (where a rewritten XCom would point)."""
    config = EmulatorConfig(simulate=True, cancel_grace_seconds=0)
    with EmulatorServer(config).start_in_thread() as ours, EmulatorServer(config).start_in_thread() as other:
        yield ours, other


@pytest.fixture
def failed_run(dag_module: Any, servers: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """A DAG run whose task ``wf.second`` failed; returns its run id. Request counters start at zero."""
    ours, other = servers
    set_connection(monkeypatch, ours.url, conn_id=CONN_ID, password=ours.token)
    set_connection(monkeypatch, other.url, conn_id=OTHER_CONN_ID, password=other.token)
    dag_run = dag_module.dag.test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"wf.launch": "success", "wf.first": "success", "wf.second": "failed"}
    ours.server.state.stats.requests.clear()
    other.server.state.stats.requests.clear()
    return str(dag_run.run_id)


@pytest.fixture
def client(dag_module: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The plugin's app, called with a token of a user with the ``USER`` role."""
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "repair-plugin-tests-" * 4)  # long enough for HS512
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from starlette.testclient import TestClient

    from airflow_dbx_async.workflow.plugin import app

    token = create_auth_manager().generate_jwt(SimpleAuthManagerUser(username="mallory", role="USER"))
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _collected() -> Iterator[None]:
    """What ``dag.test()`` and the plugin's test client leave behind is collected at the test's end."""
    with collector_held():
        yield


def _url(run_id: str, task_id: str = "wf.second") -> str:
    return f"/repair/{DAG_ID}/{run_id}/{task_id}"


SAME_SITE = {"Origin": "http://testserver"}


def _xcom(run_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, key=key, task_ids="wf.launch", dag_ids=DAG_ID, limit=1)
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def _rewrite_xcom(run_id: str, key: str, value: Any) -> None:
    """What ``PATCH .../xcomEntries/{key}`` does for a user with the ``USER`` role."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        XComModel.set(key, value, dag_id=DAG_ID, task_id="wf.launch", run_id=run_id, session=session)


def _key(dag_module: Any, task_id: str) -> str:
    return str(dag_module.dag.get_task(task_id).databricks_task_key)


def _unrelated_failed_run(server: Any, task_key: str) -> tuple[int, int]:
    """A finished, failed run of another job (``prod_admin``'s) with a task ``task_key``: (job, run)."""
    config = DatabricksAsyncHook(CONN_ID).get_config()  # the same workspace
    settings = {
        "name": "prod_admin.nightly",
        "tasks": [
            {
                "task_key": task_key,
                "notebook_task": {"notebook_path": "/x", "base_parameters": {"sim_error": "E: x"}},
                "new_cluster": CLUSTER,
            }
        ],
    }

    async def start() -> tuple[int, int]:
        async with JobsClient(config) as jobs:
            job_id = await jobs.create_job(settings)
            return job_id, await jobs.run_now({"job_id": job_id})

    async def ended() -> bool:
        async with JobsClient(config) as jobs:
            return judge((await jobs.get_run(run_id)).state).is_final

    job_id, run_id = asyncio.run(start())
    wait_for("the unrelated run to end", lambda: asyncio.run(ended()))
    server.server.state.stats.requests.clear()
    return job_id, run_id


@pytest.mark.parametrize(
    ("key", "rewrite"),
    [
        ("return_value", lambda meta, keys: {**meta, "conn_id": OTHER_CONN_ID}),
        ("databricks_task_keys", lambda meta, keys: {"wf.second": keys["wf.first"]}),
    ],
    ids=["connection", "task_keys"],
)
def test_rewritten_xcoms_are_refused_before_any_request(
    client: Any,
    failed_run: str,
    servers: tuple[Any, Any],
    dag_module: Any,
    caplog: pytest.LogCaptureFixture,
    key: str,
    rewrite: Any,
) -> None:
    ours, other = servers
    keys = {t: _key(dag_module, t) for t in ("wf.first", "wf.second")}
    _rewrite_xcom(failed_run, key, rewrite(_xcom(failed_run, "return_value"), keys))
    with caplog.at_level(logging.WARNING):
        answer = client.post(_url(failed_run), headers=SAME_SITE)
    assert (answer.status_code, answer.json()) == (403, {"detail": GENERIC_FAILURE})
    assert "its XComs were rewritten" in caplog.text
    assert not ours.server.state.stats.requests
    assert not other.server.state.stats.requests  # the rewritten conn_id was never opened


def test_the_task_keys_come_from_the_dag(
    client: Any, failed_run: str, servers: tuple[Any, Any], dag_module: Any
) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    ours, _ = servers
    with create_session() as session:  # the official provider's XCom of the keys is not needed
        session.execute(
            delete(XComModel).where(
                XComModel.dag_id == DAG_ID,
                XComModel.run_id == failed_run,
                XComModel.key == "databricks_task_keys",
            )
        )
    assert _xcom(failed_run, "databricks_task_keys") is None
    answer = client.post(_url(failed_run), headers=SAME_SITE)
    assert answer.status_code == 200, answer.text
    assert answer.json()["task_keys"] == [_key(dag_module, "wf.second")]
    assert ours.server.state.stats.requests[REPAIR] == 1


def test_a_run_of_another_job_is_not_repaired(
    client: Any, failed_run: str, servers: tuple[Any, Any], dag_module: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ours, _ = servers
    job_id, run_id = _unrelated_failed_run(ours, _key(dag_module, "wf.second"))
    metadata = _xcom(failed_run, "return_value")
    _rewrite_xcom(failed_run, "return_value", {**metadata, "run_id": run_id})
    with caplog.at_level(logging.WARNING):
        answer = client.post(_url(failed_run), headers=SAME_SITE)
    assert (answer.status_code, answer.json()) == (403, {"detail": GENERIC_FAILURE})
    assert f"belongs to job {job_id}" in caplog.text

    # The job id rewritten as well: the job's name is not the group's.
    _rewrite_xcom(failed_run, "return_value", {**metadata, "run_id": run_id, "job_id": job_id})
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        answer = client.post(_url(failed_run), headers=SAME_SITE)
    assert (answer.status_code, answer.json()) == (403, {"detail": GENERIC_FAILURE})
    assert "is named 'prod_admin.nightly', not 'repair_plugin_dag.wf'" in caplog.text
    assert ours.server.state.stats.requests[REPAIR] == 0
    assert len(ours.server.state.runs[run_id].tasks) == 1  # not repaired


@pytest.mark.parametrize("conn_type", ["http", "generic"])
def test_only_a_databricks_connection_is_used(
    client: Any,
    failed_run: str,
    servers: tuple[Any, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    conn_type: str,
) -> None:
    ours, _ = servers
    set_connection(monkeypatch, ours.url, conn_id=CONN_ID, password=ours.token, conn_type=conn_type)
    with caplog.at_level(logging.WARNING):
        answer = client.post(_url(failed_run), headers=SAME_SITE)
    assert (answer.status_code, answer.json()) == (502, {"detail": GENERIC_FAILURE})
    assert not ours.server.state.stats.requests  # not even runs/get: the token never left
    assert f"is of type {conn_type!r}, not 'databricks'" in caplog.text


def test_a_missing_connection_answers_as_a_refused_one(
    client: Any, failed_run: str, servers: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, _ = servers
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}")
    missing = client.post(_url(failed_run), headers=SAME_SITE)
    set_connection(monkeypatch, ours.url, conn_id=CONN_ID, password=ours.token, conn_type="http")
    refused = client.post(_url(failed_run), headers=SAME_SITE)
    assert (missing.status_code, missing.json()) == (refused.status_code, refused.json())
    assert missing.json() == {"detail": GENERIC_FAILURE}
    assert CONN_ID not in missing.text


def test_a_databricks_error_is_not_shown_to_the_browser(
    client: Any, failed_run: str, servers: tuple[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    ours, _ = servers
    del ours.server.state.runs[_xcom(failed_run, "return_value")["run_id"]]  # runs/get answers 400
    with caplog.at_level(logging.ERROR):
        answer = client.post(_url(failed_run), headers=SAME_SITE)
    assert (answer.status_code, answer.json()) == (502, {"detail": GENERIC_FAILURE})
    assert "Databricks workflow repair failed" in caplog.text


def test_the_page_may_not_be_framed(client: Any, failed_run: str) -> None:
    page = client.get(_url(failed_run))
    assert page.status_code == 200, page.text
    assert "wf.second (failed)" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'"


def test_a_post_must_say_it_comes_from_this_site(
    client: Any, failed_run: str, servers: tuple[Any, Any]
) -> None:
    ours, _ = servers
    for headers in ({}, {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"}):
        answer = client.post(_url(failed_run), headers=headers)
        assert answer.status_code == 403, (headers, answer.text)
        assert "Origin or Referer" in answer.json()["detail"]
    assert not ours.server.state.stats.requests
    answer = client.post(_url(failed_run), headers={"Referer": f"http://testserver{_url(failed_run)}"})
    assert answer.status_code == 200, answer.text
    assert ours.server.state.stats.requests[REPAIR] == 1


def test_the_plugin_can_be_switched_off(
    client: Any, failed_run: str, servers: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch, dag_module: Any
) -> None:
    from airflow.models.taskinstancekey import TaskInstanceKey

    from airflow_dbx_async.links import WorkflowJobRepairAllFailedLink, WorkflowJobRepairSingleTaskLink

    ours, _ = servers
    key: Any = TaskInstanceKey(dag_id=DAG_ID, task_id="wf.second", run_id=failed_run, try_number=1)
    task = dag_module.dag.get_task("wf.second")
    assert WorkflowJobRepairSingleTaskLink().get_link(task, ti_key=key).endswith("/wf.second")
    monkeypatch.setenv("AIRFLOW__DATABRICKS_ASYNC__REPAIR_PLUGIN_ENABLED", "False")
    assert client.get(_url(failed_run)).status_code == 404
    answer = client.post(_url(failed_run), headers=SAME_SITE)
    assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})
    assert not ours.server.state.stats.requests
    assert WorkflowJobRepairSingleTaskLink().get_link(task, ti_key=key) == ""
    assert WorkflowJobRepairAllFailedLink().get_link(task, ti_key=key) == ""
