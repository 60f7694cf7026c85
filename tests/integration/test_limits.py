"""Bounded work against a broken or hostile workspace: body sizes, page counts, JSON nesting.

Each test runs a local server that misbehaves on purpose and checks that the client stops early with
one of its own errors, never retrying it, instead of reading, paging or recursing without end.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from airflow_dbx_async.client import ApiError, AuthError, JobsClient, OAuthM2MAuth, ServerError
from airflow_dbx_async.client.config import DEFAULT_MAX_PAGES
from tests.integration.conftest import make_config, reply

_MIB = 1024 * 1024
_GET = "/api/2.2/jobs/runs/get"
_LIST_JOBS = "/api/2.2/jobs/list"
_OFFERED = 100 * _MIB  # what each misbehaving answer would send if the client kept reading
# What a server writes before it notices the client hung up: the limit read, plus what the socket
# buffers of both ends and aiohttp's own buffers hold. Far below what is offered.
_SLACK = 24 * _MIB
_DEEP = b"[" * 100_000 + b"]" * 100_000


@dataclass
class Streamer:
    """Streams ``_OFFERED`` bytes in 1 MiB chunks, counting what it managed to write per answer."""

    status: int = 200
    announce: bool = False
    written: list[int] = field(default_factory=list)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=self.status, headers={"Content-Type": "application/json"})
        if self.announce:
            response.content_length = _OFFERED
        sent = 0
        try:
            await response.prepare(request)
            chunk = b'{"pad": "' + b"x" * (_MIB - 9)
            while sent < _OFFERED:
                await response.write(chunk)
                sent += len(chunk)
                chunk = b"x" * _MIB
        except (ConnectionError, asyncio.CancelledError):  # the client hung up: what we hoped for
            pass
        finally:
            self.written.append(sent)
            self.finished.set()
        return response

    async def wait(self, answers: int = 1) -> None:
        while len(self.written) < answers:
            self.finished.clear()
            await asyncio.wait_for(self.finished.wait(), timeout=30)


@pytest.mark.asyncio
@pytest.mark.parametrize("announce", [False, True], ids=["chunked", "content-length"])
async def test_an_answer_over_the_limit_fails_without_being_read_whole(fake, client, announce):
    streamer = Streamer(announce=announce)
    fake.on("GET", _GET, streamer)
    with pytest.raises(ApiError) as raised:
        await client.get_run(1)
    assert (type(raised.value), raised.value.status) == (ApiError, 200)
    assert raised.value.error_code == "RESPONSE_TOO_LARGE"
    assert "8 MiB" in raised.value.message
    assert ("announces" in raised.value.message) is announce
    await streamer.wait()
    assert len(fake.calls(_GET)) == 1  # never retried
    assert streamer.written[0] < 8 * _MIB + _SLACK


@pytest.mark.asyncio
async def test_an_error_answer_is_read_only_far_enough_to_keep_its_status(fake, client):
    streamer = Streamer(status=503)
    fake.on("GET", _GET, streamer)
    with pytest.raises(ServerError) as raised:  # still a 503, still retried
        await client.get_run(1)
    assert raised.value.status == 503
    await streamer.wait(len(fake.calls(_GET)))
    assert len(fake.calls(_GET)) == 4
    assert all(sent < _SLACK for sent in streamer.written)


@pytest.mark.asyncio
async def test_each_endpoint_reads_up_to_its_own_limit(fake, client):
    twelve = {"run_id": 1, "notebook_output": {"result": "y" * (12 * _MIB)}}
    fake.on("GET", "/api/2.2/jobs/runs/get-output", twelve)
    fake.on("GET", _GET, {"run_id": 1, "pad": "y" * (12 * _MIB)})
    output = await client.get_run_output_json(1)  # a 16 MiB limit
    assert len(output["notebook_output"]["result"]) == 12 * _MIB
    with pytest.raises(ApiError, match="RESPONSE_TOO_LARGE"):  # an 8 MiB limit
        await client.get_run_json(1)


@pytest.mark.asyncio
async def test_a_token_answer_over_the_limit_is_refused(fake):
    streamer = Streamer()
    fake.on("POST", "/oidc/v1/token", streamer)
    async with JobsClient(make_config(fake, auth=OAuthM2MAuth("id", "sp-secret"))) as client:
        with pytest.raises(ApiError, match="RESPONSE_TOO_LARGE"):
            await client.get_run(1)
    await streamer.wait()
    assert streamer.written[0] < 8 * _MIB + _SLACK
    assert fake.calls(_GET) == []


def _endless(key: str = "jobs"):
    """Every page hands out a fresh token, like the broken workspace of the report."""

    async def handler(request: web.Request) -> web.StreamResponse:
        number = int(request.query.get("page_token", "0")) + 1
        return web.json_response({key: [], "next_page_token": str(number)})

    return handler


def _looping(key: str, tokens: list[str]):
    """Hands out ``tokens`` one after the other, then no token."""
    answers = iter(tokens)

    async def handler(request: web.Request) -> web.StreamResponse:
        body: dict[str, object] = {key: [], "run_id": 1}
        token = next(answers, "")
        if token:
            body["next_page_token"] = token
        return web.json_response(body)

    return handler


@pytest.mark.asyncio
async def test_list_jobs_stops_after_the_default_page_limit(fake, client):
    fake.on("GET", _LIST_JOBS, _endless())
    with pytest.raises(ApiError) as raised:
        async with asyncio.timeout(60):  # without a page limit this would never end
            await client.list_jobs()
    assert raised.value.error_code == "TOO_MANY_PAGES"
    assert "after 1000" in raised.value.message
    assert DEFAULT_MAX_PAGES == 1000
    assert len(fake.calls(_LIST_JOBS)) == DEFAULT_MAX_PAGES


@pytest.mark.asyncio
async def test_iter_runs_stops_after_max_pages(fake, client):
    fake.on("GET", "/api/2.2/jobs/runs/list", _endless("runs"))
    with pytest.raises(ApiError, match="TOO_MANY_PAGES"):
        async with asyncio.timeout(60):
            [run async for run in client.iter_runs(max_pages=5)]
    assert len(fake.calls("/api/2.2/jobs/runs/list")) == 5


async def _all_runs(client: JobsClient) -> object:
    return [run async for run in client.iter_runs()]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "key", "call"),
    [
        (_LIST_JOBS, "jobs", lambda c: c.list_jobs()),
        ("/api/2.2/jobs/runs/list", "runs", _all_runs),
        (_GET, "tasks", lambda c: c.get_run_json(1)),
        ("/api/2.2/jobs/get", "tasks", lambda c: c.get_job(1)),
    ],
)
async def test_a_page_token_handed_out_twice_is_a_loop(fake, client, path, key, call):
    fake.on("GET", path, _looping(key, ["a", "b", "a", "b"]))
    with pytest.raises(ApiError) as raised:
        await call(client)
    assert raised.value.error_code == "PAGINATION_LOOP"
    assert raised.value.status == 200
    assert len(fake.calls(path)) == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [200, 400])
async def test_json_nested_too_deeply_is_an_unreadable_answer(fake, client, status):
    fake.on("GET", _GET, reply(status, raw=_DEEP, Content_Type="application/json"))
    with pytest.raises(ApiError) as raised:
        await client.get_run(1)
    assert raised.value.status == status
    assert raised.value.error_code == ("INVALID_RESPONSE" if status == 200 else "BAD_REQUEST")
    assert len(fake.calls(_GET)) == 1


@pytest.mark.asyncio
async def test_a_token_answer_nested_too_deeply_is_refused(fake):
    fake.on("POST", "/oidc/v1/token", reply(200, raw=b'{"access_token": ' + _DEEP + b"}"))
    async with JobsClient(make_config(fake, auth=OAuthM2MAuth("id", "sp-secret"))) as client:
        with pytest.raises(AuthError) as raised:
            await client.get_run(1)
    assert raised.value.error_code == "INVALID_TOKEN_RESPONSE"


def test_deep_fixture_really_is_too_deep_for_json():
    with pytest.raises(RecursionError):
        json.loads(_DEEP)
