"""The Databricks tab of a task instance, served by the plugin's FastAPI app from a real DAG run.

``dag.test()`` runs a DAG against an in-process emulator (simulated runs): a one-time run of its own
that fails, a workflow group whose second task fails, and SQL statements, one of which fails. The
plugin's app is then called as the API server would call it, with tokens of users of the simple auth
manager. The emulator's request counters show what reached Databricks.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.emulator._warehouse_store import DEFAULT_WAREHOUSE_ID
from tests.helpers import DAG_TEST_LEAK_WARNINGS, collector_held, load_dag_module, set_connection

pytestmark = DAG_TEST_LEAK_WARNINGS

DAG_ID = "run_view_plugin_dag"
CONN_ID = "dbx_run_view"
CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
OTHER_WAREHOUSE = "0a1b2c3d4e5f6a7b"
# The notebook raises with the connection's token in its message, and the failing SQL statement
# selects it: the tab must not show it.
DAG = f"""
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from airflow_dbx_async.operators import (
    DatabricksNotebookOperator,
    DatabricksSQLStatementsOperator,
    DatabricksSubmitRunOperator,
)
from airflow_dbx_async.sensors import DatabricksSQLStatementsSensor
from airflow_dbx_async.workflow import DatabricksWorkflowTaskGroup

CLUSTER = {CLUSTER!r}

with DAG(dag_id={DAG_ID!r}, schedule=None, catchup=False) as dag:
    DatabricksSubmitRunOperator(
        task_id="own",
        databricks_conn_id={CONN_ID!r},
        new_cluster=CLUSTER,
        notebook_task={{
            "notebook_path": "/Shared/own",
            "base_parameters": {{
                "sim_error": "ValueError: bad token {{{{ conn.{CONN_ID}.password }}}}",
                "sim_duration_seconds": "0.1",
            }},
        }},
        retries=0,
    )
    EmptyOperator(task_id="elsewhere")
    DatabricksSQLStatementsOperator(
        task_id="sql_ok",
        databricks_conn_id={CONN_ID!r},
        warehouse_id={DEFAULT_WAREHOUSE_ID!r},
        statement="SELECT 1 AS one",
        polling_period_seconds=0,
    )
    DatabricksSQLStatementsSensor(
        task_id="sql_fails",
        databricks_conn_id={CONN_ID!r},
        warehouse_id={DEFAULT_WAREHOUSE_ID!r},
        statement="SELECT '{{{{ conn.{CONN_ID}.password }}}}' AS token,\\n       itme",
        polling_period_seconds=0,
        retries=0,
    )
    with DatabricksWorkflowTaskGroup(
        group_id="wf",
        databricks_conn_id={CONN_ID!r},
        job_clusters=[{{"job_cluster_key": "c", "new_cluster": CLUSTER}}],
        max_concurrent_runs=100,
    ):
        first = DatabricksNotebookOperator(
            task_id="first", notebook_path="/Shared/first", source="WORKSPACE", job_cluster_key="c",
            notebook_params={{"sim_duration_seconds": "0.1"}},
        )
        second = DatabricksNotebookOperator(
            task_id="second", notebook_path="/Shared/second", source="WORKSPACE", job_cluster_key="c",
            notebook_params={{"sim_error": "RuntimeError: second fails", "sim_duration_seconds": "0.1"}},
            retries=0,
        )
        first >> second
"""
RUNS_GET = "GET /api/2.2/jobs/runs/get"
HISTORY = "GET /api/2.0/sql/history/queries"


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    config = EmulatorConfig(simulate=True, cancel_grace_seconds=0, warehouses=(OTHER_WAREHOUSE,))
    with EmulatorServer(config).start_in_thread() as ours:
        yield ours


@pytest.fixture(scope="module")
def dag_run(server: Any) -> Iterator[str]:
    """One DAG run of the DAG (its tasks failed as planned); returns its run id."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        set_connection(monkeypatch, server.url, conn_id=CONN_ID, password=server.token)
        module = load_dag_module(DAG_ID, DAG)
        with collector_held():
            run = module.dag.test()
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert states == {
            "own": "failed",
            "elsewhere": "success",
            "wf.launch": "success",
            "wf.first": "success",
            "wf.second": "failed",
            "sql_ok": "success",
            "sql_fails": "failed",
        }
        yield str(run.run_id)


@pytest.fixture
def connected(server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The connection as the API server has it; the cache and the request counters start empty."""
    from airflow_dbx_async.workflow._ui_run import RUN_CACHE, STATEMENT_CACHE

    set_connection(monkeypatch, server.url, conn_id=CONN_ID, password=server.token)
    RUN_CACHE.clear()
    STATEMENT_CACHE.clear()
    server.server.state.stats.requests.clear()
    yield server
    RUN_CACHE.clear()
    STATEMENT_CACHE.clear()


def _token(role: str | None) -> str:
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return str(create_auth_manager().generate_jwt(SimpleAuthManagerUser(username="u", role=role)))


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The plugin's app, called with a token of a ``VIEWER`` (who may read the DAG's task instances)."""
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "run-view-plugin-tests-" * 4)
    from starlette.testclient import TestClient

    from airflow_dbx_async.workflow.plugin import app

    with TestClient(app, headers={"Authorization": f"Bearer {_token('VIEWER')}"}) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _collected() -> Iterator[None]:
    """What the plugin's test client leaves behind is collected at the test's end."""
    with collector_held():
        yield


def _url(run_id: str, task_id: str) -> str:
    return f"/run/{DAG_ID}/{run_id}/{task_id}?map_index={{MAP_INDEX}}"


def _xcom(run_id: str, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, key=key, task_ids=task_id, dag_ids=DAG_ID, limit=1)
        row = session.scalars(query).first()
        return None if row is None else XComModel.deserialize_value(row)


def _rewrite_xcom(run_id: str, task_id: str, key: str, value: Any) -> None:
    """What ``PATCH .../xcomEntries/{key}`` does for a user with the ``USER`` role."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        XComModel.set(key, value, dag_id=DAG_ID, task_id=task_id, run_id=run_id, session=session)


def test_the_tab_shows_a_failed_run_of_its_own_with_its_report(
    browser: Any, dag_run: str, connected: Any
) -> None:
    page = browser.get(_url(dag_run, "own"))
    assert page.status_code == 200, page.text
    html = page.text
    run_id = _xcom(dag_run, "own", "run_id")
    assert f"Databricks run {run_id}" in html
    assert 'class="bar failed"' in html  # the failed task run's bar
    assert "ValueError: bad token ***" in html  # its error, from the one failure report, masked
    assert connected.token not in html
    assert "TERMINATED/FAILED" in html
    assert "15.4.x-scala2.12, i3.xlarge, 1 worker" in html  # the run's compute
    assert "sim_duration_seconds" in html  # its parameters
    # Framed by this site only; nothing runs but the page's own nonced style sheet and script.
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in policy
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy)
    assert nonce is not None
    assert f'<script nonce="{nonce.group(1)}">' in html
    assert html.count("<script") == 1


def test_a_group_task_shows_the_job_run_with_its_place_and_the_repair_link(
    browser: Any, dag_run: str, connected: Any
) -> None:
    page = browser.get(_url(dag_run, "wf.second"))
    assert page.status_code == 200, page.text
    html = page.text
    keys = _xcom(dag_run, "wf.launch", "databricks_task_keys")
    first, second = keys["wf.first"], keys["wf.second"]
    assert html.count('class="bar ') == 2  # one bar per task run
    assert "wf.second: failed" in html  # the bar's spoken label names the Airflow task
    assert "depends on wf.first" in html
    assert f'<span class="muted">{second}</span>' in html  # its task key, in the table
    assert f"<td>{first}</td>" not in html
    assert 'class="edge"' in html  # the arrow from first to second
    assert "RuntimeError: second fails" in html
    assert 'class="row-focus"' in html  # this Airflow task's row
    assert f"/databricks-async/repair/{DAG_ID}/" in html
    assert "wf.second" in html


def test_answers_are_cached_per_run_for_a_few_seconds(
    browser: Any, dag_run: str, connected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_dbx_async.workflow._ui_run import CACHE_SECONDS, RUN_CACHE

    now = [1000.0]
    monkeypatch.setattr(RUN_CACHE, "clock", lambda: now[0])
    stats = connected.server.state.stats.requests
    for task_id in ("wf.second", "wf.first", "wf.launch", "wf.second"):  # one job run
        assert browser.get(_url(dag_run, task_id)).status_code == 200
    assert stats[RUNS_GET] == 1
    now[0] += CACHE_SECONDS + 0.1
    assert browser.get(_url(dag_run, "wf.second")).status_code == 200
    assert stats[RUNS_GET] == 2


def test_only_users_who_may_read_the_dags_task_instances_see_the_tab(
    dag_run: str, connected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "run-view-plugin-tests-" * 4)
    from starlette.testclient import TestClient

    from airflow_dbx_async.workflow.plugin import app

    with TestClient(app) as anonymous:
        for task_id in ("own", "sql_fails"):
            answer = anonymous.get(_url(dag_run, task_id))
            assert answer.status_code == 401
            nobody = anonymous.get(_url(dag_run, task_id), headers={"Authorization": f"Bearer {_token('')}"})
            assert nobody.status_code == 403
            assert "may not read task instances of this DAG" in nobody.text
    assert not connected.server.state.stats.requests  # none reached Databricks


def test_a_rewritten_run_id_is_refused(
    browser: Any, dag_run: str, connected: Any, caplog: pytest.LogCaptureFixture
) -> None:
    own = _xcom(dag_run, "own", "run_id")
    group_run = _xcom(dag_run, "wf.launch", "return_value")["run_id"]
    _rewrite_xcom(dag_run, "own", "run_id", group_run)  # a run of another job, of another name
    try:
        with caplog.at_level(logging.WARNING):
            page = browser.get(_url(dag_run, "own"))
    finally:
        _rewrite_xcom(dag_run, "own", "run_id", own)
    assert page.status_code == 403
    assert "Could not show what this task ran on Databricks; see the API server log" in page.text
    assert "RuntimeError" not in page.text
    assert "not as the task names its runs" in caplog.text


def test_a_task_that_runs_nothing_on_databricks_says_so(browser: Any, dag_run: str, connected: Any) -> None:
    page = browser.get(_url(dag_run, "elsewhere"))
    assert page.status_code == 404
    assert "runs nothing on Databricks" in page.text
    assert page.headers["x-frame-options"] == "SAMEORIGIN"  # shown in the tab like a run
    assert not connected.server.state.stats.requests


def test_the_repair_page_still_may_not_be_framed(browser: Any, dag_run: str, connected: Any) -> None:
    page = browser.get(f"/repair/{DAG_ID}/{dag_run}/wf.second")
    assert page.status_code == 200, page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'"


def test_the_plugin_adds_a_databricks_tab_to_every_task_instance() -> None:
    from airflow_dbx_async.workflow.plugin import DatabricksWorkflowRepairPlugin

    (view,) = DatabricksWorkflowRepairPlugin.external_views
    assert view["destination"] == "task_instance"
    assert view["name"] == "Databricks"
    assert view["href"].endswith("/databricks-async/run/{DAG_ID}/{RUN_ID}/{TASK_ID}?map_index={MAP_INDEX}")


def test_a_failed_sql_statement_shows_its_report_with_the_failing_line_masked(
    browser: Any, dag_run: str, connected: Any
) -> None:
    page = browser.get(_url(dag_run, "sql_fails"))
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    statement_id = _xcom(dag_run, "sql_fails", "statement_id")
    assert f"Databricks SQL statement {statement_id}" in text
    assert f"<dd>{DEFAULT_WAREHOUSE_ID}</dd>" in text
    assert "<dt>Error code</dt><dd>BAD_REQUEST</dd>" in text
    assert "no such column: itme (line 2, pos 7)" in text
    # The task log's report: the SQL numbered, the failing line flagged, a caret under "itme".
    lines = text.split("<pre>", 1)[1].split("</pre>", 1)[0].split("\n")
    assert lines[0].startswith(
        f"Databricks SQL statement {statement_id} on warehouse {DEFAULT_WAREHOUSE_ID} failed:"
    )
    assert "  SQL (line 2, pos 7 marked):" in lines
    flagged = next(i for i, line in enumerate(lines) if line.startswith("    | > 2 "))
    assert lines[flagged].index("itme") == lines[flagged + 1].index("^")
    assert "    |   1  SELECT '***' AS token," in lines  # the connection's token, masked
    assert connected.token not in page.text
    assert not any(line.startswith("  states seen") for line in lines)  # no timings but Databricks'
    assert page.headers["x-frame-options"] == "SAMEORIGIN"


def test_a_sql_statement_is_read_once_per_period(
    browser: Any, dag_run: str, connected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_dbx_async.workflow._ui_run import CACHE_SECONDS, STATEMENT_CACHE

    now = [1000.0]
    monkeypatch.setattr(STATEMENT_CACHE, "clock", lambda: now[0])
    stats = connected.server.state.stats.requests
    for _ in range(3):
        page = browser.get(_url(dag_run, "sql_ok"))
        assert page.status_code == 200, page.text
    assert "SUCCEEDED" in page.text
    assert "SELECT 1 AS one" in page.text  # the SQL, from the query history
    statement_id = _xcom(dag_run, "sql_ok", "statement_id")
    assert (stats[HISTORY], stats[f"GET /api/2.0/sql/statements/{statement_id}"]) == (1, 1)
    now[0] += CACHE_SECONDS + 0.1
    assert browser.get(_url(dag_run, "sql_ok")).status_code == 200
    assert stats[HISTORY] == 2


def _statement_on(server: Any, warehouse_id: str) -> str:
    """A statement run on ``warehouse_id`` by the same workspace user (not by the DAG)."""
    body = {"statement": "SELECT 'elsewhere'", "warehouse_id": warehouse_id, "wait_timeout": "5s"}
    request = urllib.request.Request(
        f"{server.url}/api/2.0/sql/statements",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.load(answer)["statement_id"])


def test_a_statement_of_another_warehouse_is_refused(
    browser: Any, dag_run: str, connected: Any, caplog: pytest.LogCaptureFixture
) -> None:
    own = _xcom(dag_run, "sql_ok", "statement_id")
    _rewrite_xcom(dag_run, "sql_ok", "statement_id", _statement_on(connected, OTHER_WAREHOUSE))
    try:
        with caplog.at_level(logging.WARNING):
            page = browser.get(_url(dag_run, "sql_ok"))
    finally:
        _rewrite_xcom(dag_run, "sql_ok", "statement_id", own)
    assert page.status_code == 403
    assert "Could not show what this task ran on Databricks; see the API server log" in page.text
    assert "elsewhere" not in page.text
    assert f"ran on warehouse '{OTHER_WAREHOUSE}'" in caplog.text
    assert not any(
        k.startswith("GET /api/2.0/sql/statements/") for k in connected.server.state.stats.requests
    )


def test_a_statement_databricks_forgot_shows_what_its_query_history_keeps(
    browser: Any, dag_run: str, connected: Any
) -> None:
    state = connected.server.state
    state.clock = lambda: time.time() + 13 * 3600  # Databricks forgets a statement 12 hours after it ended
    try:
        page = browser.get(_url(dag_run, "sql_fails"))
    finally:
        state.clock = time.time
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert "Databricks no longer keeps this statement" in text
    assert '<span class="state k-failed">FAILED</span>' in text
    assert "no such column: itme (line 2, pos 7)" in text
    sql = text.split("<pre>", 1)[1].split("</pre>", 1)[0].split("\n")
    assert sql[1].startswith("> 2 ")  # its SQL, the failing line still marked
    assert sql[1].index("itme") == sql[2].index("^")
    assert connected.token not in page.text
