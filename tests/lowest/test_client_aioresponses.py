"""The client's request shapes and error mapping, with aiohttp's requests intercepted by aioresponses.

These run in the lowest-versions leg only (the declared minimum aiohttp): aioresponses builds
``ClientResponse`` objects itself, which aiohttp 3.14 changed. No socket is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import pytest_asyncio
from aioresponses import aioresponses
from aioresponses.core import normalize_url
from yarl import URL

from airflow_dbx_async.client import (
    ApiError,
    AuthError,
    ClientConfig,
    JobsClient,
    NotFound,
    Outcome,
    RateLimited,
    RetryPolicy,
    ServerError,
    Timeout,
    TokenAuth,
    TransportError,
    judge,
)
from tests.integration.endpoints import ENDPOINTS

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

HOST = "https://adb-1234567890123456.7.azuredatabricks.net"
TOKEN = "dapi-aioresponses-secret-0000"
NO_WAIT = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, budget_seconds=10.0)
_TASKS = [
    {"task_key": "t", "notebook_task": {"notebook_path": "/Users/a@b.c/nb"}, "existing_cluster_id": "c"}
]
_RUN = {"run_id": 7, "state": {"life_cycle_state": "RUNNING"}}


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest_asyncio.fixture
async def client() -> AsyncIterator[JobsClient]:
    config = ClientConfig(base_url=HOST, auth=TokenAuth(TOKEN), retry=NO_WAIT)
    async with JobsClient(config) as c:
        yield c


def _url(path: str, /, **query: str) -> URL:
    return URL(f"{HOST}{path}").with_query(query)


def _sent(mocked: aioresponses) -> list[tuple[str, str, dict[str, Any]]]:
    """Every request aiohttp was asked to send: (method, URL with query, request keyword arguments)."""
    return [
        (method, str(url), call.kwargs) for (method, url), calls in mocked.requests.items() for call in calls
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("call", "method", "path", "query", "body", "answer", "result"),
    ENDPOINTS,
    ids=[e.path for e in ENDPOINTS],
)
async def test_request_shape(mocked, client, call, method, path, query, body, answer, result):
    mocked.add(str(_url(path, **query)), method, payload=answer)
    assert await call(client) == result
    [(sent_method, sent_url, kwargs)] = _sent(mocked)
    # aioresponses records the URL normalised (query sorted, then re-encoded): expect it the same way.
    assert (sent_method, sent_url) == (method, str(normalize_url(_url(path, **query))))
    assert kwargs["json"] == body
    assert kwargs["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert kwargs["headers"]["User-Agent"] == "airflow-dbx-async"
    assert kwargs["headers"]["Accept"] == "application/json"
    assert kwargs["allow_redirects"] is False
    assert client.request_count == 1


@pytest.mark.asyncio
async def test_list_runs_encodes_booleans_lowercase_and_drops_unset_filters(mocked, client):
    query = {"active_only": "true", "completed_only": "false", "limit": "10", "expand_tasks": "false"}
    mocked.get(
        str(_url("/api/2.2/jobs/runs/list", **query)), payload={"runs": [_RUN], "next_page_token": "p2"}
    )
    page = await client.list_runs(active_only=True, limit=10)
    assert [r.run_id for r in page.runs] == [7]
    assert page.next_page_token == "p2"
    [(_, url, _)] = _sent(mocked)
    assert URL(url).query == query


@pytest.mark.asyncio
async def test_get_run_follows_22_pages_and_merges_tasks(mocked, client):
    first = {**_RUN, "tasks": [{"run_id": 71, "task_key": "a"}], "next_page_token": "p2"}
    second = {**_RUN, "tasks": [{"run_id": 72, "task_key": "b"}]}
    mocked.get(str(_url("/api/2.2/jobs/runs/get", run_id="7")), payload=first)
    mocked.get(str(_url("/api/2.2/jobs/runs/get", run_id="7", page_token="p2")), payload=second)
    run = await client.get_run(7)
    assert [t.task_key for t in run.tasks] == ["a", "b"]
    assert client.request_count == 2


@pytest.mark.asyncio
async def test_get_run_output_and_judged_state(mocked, client):
    done = {"run_id": 7, "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}}
    mocked.get(str(_url("/api/2.2/jobs/runs/get", run_id="7")), payload=done)
    mocked.get(
        str(_url("/api/2.2/jobs/runs/get-output", run_id="8")),
        payload={"notebook_output": {"result": "ok"}, "logs": "hello"},
    )
    assert judge((await client.get_run(7)).state).outcome is Outcome.SUCCEEDED
    output = await client.get_run_output(8)
    assert (output.run_id, output.notebook_result, output.logs) == (8, "ok", "hello")


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_400_does_not_exist_is_not_found_and_not_retried(mocked, client):
    answer = {"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 0 does not exist."}
    mocked.post(f"{HOST}/api/2.2/jobs/run-now", status=400, payload=answer)
    with pytest.raises(NotFound) as info:
        await client.run_now({"job_id": 0})
    error = info.value
    assert (error.status, error.error_code, error.message) == (
        400,
        "INVALID_PARAMETER_VALUE",
        answer["message"],
    )
    assert (error.method, error.path) == ("POST", "/api/2.2/jobs/run-now")
    assert client.request_count == 1


@pytest.mark.asyncio
async def test_403_is_an_auth_error_without_the_token(mocked, client):
    mocked.get(
        str(_url("/api/2.2/jobs/runs/get", run_id="7")),
        status=403,
        payload={"error_code": 403, "message": f"Invalid access token {TOKEN}."},
    )
    with pytest.raises(AuthError) as info:
        await client.get_run(7)
    assert info.value.error_code == "403"
    assert TOKEN not in str(info.value)
    assert client.request_count == 1


@pytest.mark.asyncio
async def test_500_on_a_read_is_retried_until_an_answer(mocked, client):
    url = str(_url("/api/2.2/jobs/runs/get", run_id="7"))
    mocked.get(url, status=500, payload={"error_code": "INTERNAL_ERROR", "message": "boom"})
    mocked.get(url, payload=_RUN)
    assert (await client.get_run(7)).run_id == 7
    assert client.request_count == 2


@pytest.mark.asyncio
async def test_500_on_submit_without_idempotency_token_is_not_repeated(mocked, client):
    mocked.post(f"{HOST}/api/2.2/jobs/runs/submit", status=500, payload={"message": "boom"}, repeat=True)
    with pytest.raises(ServerError) as info:
        await client.submit_run({"run_name": "r", "tasks": _TASKS})
    assert (info.value.status, info.value.error_code, info.value.message) == (500, "INTERNAL_ERROR", "boom")
    assert client.request_count == 1


@pytest.mark.asyncio
async def test_server_errors_give_up_after_max_attempts(mocked, client):
    url = str(_url("/api/2.2/jobs/runs/get", run_id="7"))
    mocked.get(url, status=502, body="<html><title>502 Bad Gateway</title></html>", repeat=True)
    with pytest.raises(ServerError) as info:
        await client.get_run(7)
    assert (info.value.status, info.value.error_code) == (502, "BAD_GATEWAY")
    assert "502 Bad Gateway" in info.value.message
    assert client.request_count == NO_WAIT.max_attempts


@pytest.mark.asyncio
async def test_429_keeps_the_retry_after_hint(mocked):
    mocked.get(
        str(_url("/api/2.2/jobs/runs/get", run_id="7")),
        status=429,
        payload={"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"},
        headers={"Retry-After": "2"},
    )
    config = ClientConfig(base_url=HOST, auth=TokenAuth(TOKEN), retry=RetryPolicy(max_attempts=1))
    async with JobsClient(config) as client:
        with pytest.raises(RateLimited) as info:
            await client.get_run(7)
    assert (info.value.status, info.value.error_code, info.value.retry_after) == (
        429,
        "REQUEST_LIMIT_EXCEEDED",
        2.0,
    )


@pytest.mark.asyncio
async def test_connection_refused_is_a_transport_error_then_retried(mocked, client):
    url = str(_url("/api/2.2/jobs/runs/get", run_id="7"))
    mocked.get(url, exception=aiohttp.ClientConnectionError("Connection reset by peer"))
    mocked.get(url, payload=_RUN)
    assert (await client.get_run(7)).run_id == 7
    assert client.request_count == 2


@pytest.mark.asyncio
async def test_dropped_connection_on_submit_is_not_repeated(mocked, client):
    mocked.post(
        f"{HOST}/api/2.2/jobs/runs/submit",
        exception=aiohttp.ServerDisconnectedError(),
        repeat=True,
    )
    with pytest.raises(TransportError) as info:
        await client.submit_run({"run_name": "r", "tasks": _TASKS})
    assert (info.value.method, info.value.path) == ("POST", "/api/2.2/jobs/runs/submit")
    assert info.value.request_sent is True
    assert client.request_count == 1


@pytest.mark.asyncio
async def test_read_timeout_is_a_timeout(mocked, client):
    url = str(_url("/api/2.2/jobs/runs/get", run_id="7"))
    mocked.get(url, exception=aiohttp.ServerTimeoutError("read timed out"), repeat=True)
    with pytest.raises(Timeout) as info:
        await client.get_run(7)
    assert isinstance(info.value, TimeoutError)
    assert client.request_count == NO_WAIT.max_attempts


@pytest.mark.asyncio
async def test_success_status_with_a_non_object_body_is_an_invalid_response(mocked, client):
    mocked.get(str(_url("/api/2.2/jobs/runs/get", run_id="7")), body="[1, 2]")
    with pytest.raises(ApiError) as info:
        await client.get_run(7)
    assert (info.value.status, info.value.error_code) == (200, "INVALID_RESPONSE")


@pytest.mark.asyncio
async def test_submit_answer_without_run_id_is_an_invalid_response(mocked, client):
    mocked.post(f"{HOST}/api/2.2/jobs/runs/submit", payload={"something": "else"})
    with pytest.raises(ApiError, match="no valid 'run_id'") as info:
        await client.submit_run({"run_name": "r", "tasks": _TASKS})
    assert info.value.error_code == "INVALID_RESPONSE"
