from __future__ import annotations

import gc
import warnings

import aiohttp
import pytest

from airflow_dbx_async.client import JobsClient, Outcome, judge
from tests.integration.conftest import TOKEN, make_config

_TASKS = [
    {"task_key": "t", "notebook_task": {"notebook_path": "/Users/a@b.c/nb"}, "existing_cluster_id": "c"}
]
_LIBS = [{"pypi": {"package": "requests"}}]

# (call, method, path, query, body, answer, result)
_ENDPOINTS = [
    (
        lambda c: c.submit_run({"run_name": "r", "tasks": _TASKS}),
        "POST",
        "/api/2.2/jobs/runs/submit",
        {},
        {"run_name": "r", "tasks": _TASKS},
        {"run_id": 969479553499872},
        969479553499872,
    ),
    (
        lambda c: c.run_now({"job_id": 5, "job_parameters": {"a": "1"}}),
        "POST",
        "/api/2.2/jobs/run-now",
        {},
        {"job_id": 5, "job_parameters": {"a": "1"}},
        {"run_id": 12, "number_in_job": 12},
        12,
    ),
    (
        lambda c: c.get_run_json(7),
        "GET",
        "/api/2.2/jobs/runs/get",
        {"run_id": "7"},
        None,
        {"run_id": 7, "state": {"life_cycle_state": "RUNNING"}},
        {"run_id": 7, "state": {"life_cycle_state": "RUNNING"}},
    ),
    (
        lambda c: c.cancel_run(9),
        "POST",
        "/api/2.2/jobs/runs/cancel",
        {},
        {"run_id": 9},
        {},
        None,
    ),
    (
        lambda c: c.repair_run({"run_id": 9, "rerun_all_failed_tasks": True}),
        "POST",
        "/api/2.2/jobs/runs/repair",
        {},
        {"run_id": 9, "rerun_all_failed_tasks": True},
        {"repair_id": 314},
        314,
    ),
    (
        lambda c: c.get_job(5),
        "GET",
        "/api/2.2/jobs/get",
        {"job_id": "5"},
        None,
        {"job_id": 5, "settings": {"name": "n"}},
        {"job_id": 5, "settings": {"name": "n"}},
    ),
    (lambda c: c.list_jobs(), "GET", "/api/2.2/jobs/list", {"limit": "100"}, None, {}, []),
    (
        lambda c: c.get_cluster("c-1"),
        "GET",
        "/api/2.1/clusters/get",
        {"cluster_id": "c-1"},
        None,
        {"cluster_id": "c-1", "state": "RUNNING"},
        {"cluster_id": "c-1", "state": "RUNNING"},
    ),
    (
        lambda c: c.start_cluster("c-1"),
        "POST",
        "/api/2.1/clusters/start",
        {},
        {"cluster_id": "c-1"},
        {},
        None,
    ),
    (
        lambda c: c.restart_cluster("c-1"),
        "POST",
        "/api/2.1/clusters/restart",
        {},
        {"cluster_id": "c-1"},
        {},
        None,
    ),
    (
        lambda c: c.terminate_cluster("c-1"),
        "POST",
        "/api/2.1/clusters/delete",
        {},
        {"cluster_id": "c-1"},
        {},
        None,
    ),
    (
        lambda c: c.install_libraries("c-1", _LIBS),
        "POST",
        "/api/2.0/libraries/install",
        {},
        {"cluster_id": "c-1", "libraries": _LIBS},
        {},
        None,
    ),
    (
        lambda c: c.uninstall_libraries("c-1", _LIBS),
        "POST",
        "/api/2.0/libraries/uninstall",
        {},
        {"cluster_id": "c-1", "libraries": _LIBS},
        {},
        None,
    ),
    (
        lambda c: c.cluster_library_status("c-1"),
        "GET",
        "/api/2.0/libraries/cluster-status",
        {"cluster_id": "c-1"},
        None,
        {"cluster_id": "c-1", "library_statuses": []},
        {"cluster_id": "c-1", "library_statuses": []},
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("call", "method", "path", "query", "body", "answer", "result"),
    _ENDPOINTS,
    ids=[e[2] for e in _ENDPOINTS],
)
async def test_request_shape(fake, client, call, method, path, query, body, answer, result):
    fake.on(method, path, answer)
    assert await call(client) == result
    [request] = fake.requests
    assert (request.method, request.path, request.query, request.body) == (method, path, query, body)
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"] == "airflow-dbx-async"
    assert request.headers["Accept"] == "application/json"
    if method == "POST":
        assert request.headers["Content-Type"] == "application/json"
    assert client.request_count == 1


@pytest.mark.asyncio
async def test_list_runs_query_and_parsing(fake, client):
    fake.on(
        "GET",
        "/api/2.2/jobs/runs/list",
        {"runs": [{"run_id": 1, "state": {"life_cycle_state": "RUNNING"}}], "next_page_token": "p2"},
    )
    page = await client.list_runs(job_id=5, active_only=True, limit=10, page_token="p1", expand_tasks=True)
    assert fake.requests[0].query == {
        "job_id": "5",
        "active_only": "true",
        "completed_only": "false",
        "limit": "10",
        "expand_tasks": "true",
        "page_token": "p1",
    }
    assert [r.run_id for r in page.runs] == [1]
    assert page.next_page_token == "p2"


@pytest.mark.asyncio
async def test_get_run_parses_and_output_of_task_run(fake, client):
    fake.on(
        "GET",
        "/api/2.2/jobs/runs/get",
        {"run_id": 7, "job_id": 3, "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}},
    )
    fake.on("GET", "/api/2.2/jobs/runs/get-output", {"notebook_output": {"result": "ok"}, "logs": "hello"})
    run = await client.get_run(7)
    assert (run.run_id, run.job_id, judge(run.state).outcome) == (7, 3, Outcome.SUCCEEDED)
    output = await client.get_run_output(8)
    assert (output.run_id, output.notebook_result, output.logs) == (8, "ok", "hello")
    assert fake.requests[1].query == {"run_id": "8"}


@pytest.mark.asyncio
async def test_api_version_21_paths(fake):
    fake.on("GET", "/api/2.1/jobs/runs/get", {"run_id": 1, "state": {}, "next_page_token": "ignored"})
    async with JobsClient(make_config(fake, api_version="2.1")) as client:
        run = await client.get_run(1)
    assert run.run_id == 1
    assert [r.path for r in fake.requests] == ["/api/2.1/jobs/runs/get"]


@pytest.mark.asyncio
async def test_run_ids_sent_as_strings_in_answers_are_accepted(fake, client):
    fake.on("POST", "/api/2.2/jobs/run-now", {"run_id": "42"})
    assert await client.run_now({"job_id": "5"}) == 42


def _unclosed_session_warnings(make_garbage) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_garbage()
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.mark.asyncio
async def test_no_unclosed_sessions_after_use(fake):
    fake.on("GET", "/api/2.2/jobs/runs/get", {"run_id": 1, "state": {}})
    async with JobsClient(make_config(fake)) as client:
        await client.get_run(1)
    session = client._session
    assert session is not None
    assert session.closed
    del client, session
    assert _unclosed_session_warnings(lambda: None) == []
    # The detector itself works: a session that is never closed is reported.
    leaked = _unclosed_session_warnings(_leak)
    assert any("Unclosed client session" in w for w in leaked)


def _leak() -> None:
    aiohttp.ClientSession()  # never closed: its finaliser reports it
