"""``repair_run`` under ``dag.test()``: a run is repaired at most once, and never after the deadline.

``dag.test()`` runs each trigger inline and resumes the task with the event alone (a deferral's
``next_kwargs`` are replaced by it), so what the task did before must travel with the trigger and come
back in its event. Against an in-process emulator with simulated runs, recording the requests it
receives. It refuses a second repair of a run: a task that would repair for ever (Airflow's own
execution_timeout alarm replaces pytest's) then fails at once, and the count says why.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from tests.helpers import load_dag_module, set_connection

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from airflow_dbx_async.emulator import EmulatorHandle

CONN_ID = "databricks_dag_test_repair"
FAILING_JOB, SLOW_JOB = 8101, 8102
NB = {"notebook_path": "/Users/a@example.com/nb"}
JOBS = {
    FAILING_JOB: {"sim_duration_seconds": "0.3", "sim_result": "FAILED", "sim_error": "ValueError: planned"},
    SLOW_JOB: {"sim_duration_seconds": "600"},
}
DAG = f"""
from datetime import timedelta

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksRunNowOperator

with DAG(dag_id="dag_test_repair_fails_twice", schedule=None, catchup=False) as fails_twice:
    DatabricksRunNowOperator(
        task_id="repaired", databricks_conn_id={CONN_ID!r}, job_id={FAILING_JOB}, repair_run=True,
        polling_period_seconds=0.2, retries=0,
    )

with DAG(dag_id="dag_test_repair_deadline", schedule=None, catchup=False) as deadline:
    DatabricksRunNowOperator(
        task_id="too_slow", databricks_conn_id={CONN_ID!r}, job_id={SLOW_JOB}, repair_run=True,
        polling_period_seconds=0.2, retries=0, execution_timeout=timedelta(seconds=1),
    )
"""


def _recording(posts: Counter[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Count the API's POSTs by endpoint; refuse any repair after the first."""

    @web.middleware
    async def record(request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]) -> Any:
        if request.method == "POST" and request.path.startswith("/api/"):
            endpoint = request.path.split("/jobs/", 1)[-1]
            posts[endpoint] += 1
            if endpoint == "runs/repair" and posts[endpoint] > 1:
                body = {"error_code": "INVALID_STATE", "message": "this test allows one repair"}
                return web.json_response(body, status=400)
        return await handler(request)

    return record


@pytest.fixture(scope="module")
def posts() -> Counter[str]:
    return Counter()


@pytest.fixture(scope="module")
def emulator(posts: Counter[str]) -> Iterator[EmulatorHandle]:
    server = EmulatorServer(EmulatorConfig(simulate=True, cancel_grace_seconds=0))
    server.app.middlewares.append(_recording(posts))
    for job_id, params in JOBS.items():
        task = {"task_key": "nb", "notebook_task": {**NB, "base_parameters": params}}
        server.state.create_job({"name": f"job-{job_id}", "tasks": [task]}, job_id=job_id)
    with server.start_in_thread() as handle:
        yield handle


@pytest.fixture(scope="module")
def dags() -> Any:
    return load_dag_module("dag_test_repair", DAG)


@pytest.fixture
def connection(
    emulator: EmulatorHandle, posts: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> EmulatorHandle:
    set_connection(monkeypatch, emulator.url, conn_id=CONN_ID, password=emulator.token)
    posts.clear()
    return emulator


def test_a_run_whose_repair_fails_too_is_repaired_once(
    connection: EmulatorHandle, posts: Counter[str], dags: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.utils.state import TaskInstanceState

    dag_run = dags.fails_twice.test()
    (ti,) = dag_run.get_task_instances()
    assert ti.state == TaskInstanceState.FAILED
    assert posts == {"run-now": 1, "runs/repair": 1}
    out, err = capfd.readouterr()
    log = out + err
    assert "Attempt 1 of Databricks run" in log  # the report of the first attempt, before the repair
    assert "Attempt 2 of Databricks run" in log  # and of the repaired one
    assert "after a repair; the first attempt failed: Databricks run" in log
    assert log.count("task nb: ValueError: planned") >= 2


def test_a_run_cancelled_at_the_deadline_is_not_repaired(
    connection: EmulatorHandle, posts: Counter[str], dags: Any
) -> None:
    from airflow.utils.state import TaskInstanceState

    dag_run = dags.deadline.test()
    (ti,) = dag_run.get_task_instances()
    assert ti.state == TaskInstanceState.FAILED
    assert posts == {"run-now": 1, "runs/cancel": 1}  # cancelled once, never repaired
    (run,) = [run for run in connection.state.runs.values() if run.job_id == SLOW_JOB]
    assert run.cancel_requested
    assert run.repair_history == []
