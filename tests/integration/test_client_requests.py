from __future__ import annotations

import gc
import warnings

import aiohttp
import pytest

from airflow_dbx_async.client import JobsClient, Outcome, judge
from tests.integration.conftest import TOKEN, make_config
from tests.integration.endpoints import ENDPOINTS


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("call", "method", "path", "query", "body", "answer", "result"),
    ENDPOINTS,
    ids=[e.path for e in ENDPOINTS],
)
async def test_request_shape(fake, client, call, method, path, query, body, answer, result):
    fake.on(method, path, answer)
    assert await call(client) == result
    [request] = fake.requests
    assert (request.method, request.path, request.query, request.body) == (method, path, query, body)
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"] == "airflow-dbx-async"
    assert request.headers["Accept"] == "application/json"
    if body is not None:
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
