from __future__ import annotations

import asyncio
import email.utils
import socket
import time

import pytest
from aiohttp import web

from airflow_dbx_async.client import (
    ApiError,
    AuthError,
    JobsClient,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    Timeout,
    TransportError,
)
from tests.integration.conftest import FAST_RETRY, TOKEN, drop, make_config, reply

_SUBMIT = "/api/2.2/jobs/runs/submit"
_GET = "/api/2.2/jobs/runs/get"
_RUN = {"run_id": 7, "state": {"life_cycle_state": "RUNNING"}}


@pytest.mark.asyncio
async def test_4xx_keeps_error_code_and_message_and_is_not_retried(fake, client):
    fake.on(
        "POST",
        "/api/2.2/jobs/run-now",
        reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Job 0 does not exist."}),
    )
    with pytest.raises(NotFound) as info:
        await client.run_now({"job_id": 0})
    error = info.value
    assert (error.status, error.error_code, error.message) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Job 0 does not exist.",
    )
    assert (error.method, error.path) == ("POST", "/api/2.2/jobs/run-now")
    assert client.request_count == 1


@pytest.mark.asyncio
async def test_auth_errors_are_not_retried(fake, client):
    fake.on("GET", _GET, reply(403, {"error_code": 403, "message": "Invalid access token."}))
    with pytest.raises(AuthError) as info:
        await client.get_run(7)
    assert info.value.error_code == "403"
    assert client.request_count == 1
    assert TOKEN not in str(info.value)


@pytest.mark.asyncio
async def test_429_with_retry_after_seconds_is_retried(fake, client, no_sleep):
    fake.on(
        "GET",
        _GET,
        reply(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "x"}, Retry_After="2"),
        _RUN,
    )
    assert (await client.get_run(7)).run_id == 7
    assert no_sleep == [2.0]
    assert client.request_count == 2


@pytest.mark.asyncio
async def test_429_with_retry_after_http_date_is_retried(fake, client, no_sleep):
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    fake.on(
        "POST",
        _SUBMIT,
        reply(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "x"}, Retry_After=when),
    )
    fake.routes[("POST", _SUBMIT)].append(reply(200, {"run_id": 1}))
    assert await client.submit_run({"run_name": "no token"}) == 1
    [slept] = no_sleep
    assert 3.0 <= slept <= 5.0


@pytest.mark.asyncio
async def test_500_is_retried_then_succeeds(fake, client):
    fake.on(
        "GET", _GET, reply(500, {"error_code": "INTERNAL_ERROR", "message": "x"}), reply(502, raw=b""), _RUN
    )
    assert (await client.get_run(7)).run_id == 7
    assert client.request_count == 3


@pytest.mark.asyncio
async def test_retries_stop_after_max_attempts(fake, client):
    fake.on("GET", _GET, reply(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}))
    with pytest.raises(ServerError, match="TEMPORARILY_UNAVAILABLE"):
        await client.get_run(7)
    assert client.request_count == FAST_RETRY.max_attempts


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("failure", "error", "with_token_attempts", "without_token_attempts"),
    [
        (reply(500, {"error_code": "INTERNAL_ERROR", "message": "x"}), ServerError, 2, 1),
        (drop, TransportError, 2, 1),
        (reply(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "x"}), None, 2, 2),
        (reply(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "x"}), None, 2, 2),
    ],
)
async def test_submit_without_idempotency_token_is_not_repeated_after_ambiguous_failure(
    fake, failure, error, with_token_attempts, without_token_attempts
):
    for payload, attempts in (({"run_name": "r", "idempotency_token": "tok-1"}, with_token_attempts),):
        fake.on("POST", _SUBMIT, failure, {"run_id": 5})
        async with JobsClient(make_config(fake)) as client:
            assert await client.submit_run(payload) == 5
            assert client.request_count == attempts
    fake.on("POST", _SUBMIT, failure, {"run_id": 5})
    async with JobsClient(make_config(fake)) as client:
        if error is None:
            assert await client.submit_run({"run_name": "r"}) == 5
        else:
            with pytest.raises(error):
                await client.submit_run({"run_name": "r"})
        assert client.request_count == without_token_attempts


@pytest.mark.asyncio
async def test_dropped_connection_on_get_is_retried(fake, client):
    # aiohttp itself resends an idempotent request once on a dropped connection; we retry after that.
    fake.on("GET", _GET, drop, drop, drop, _RUN)
    assert (await client.get_run(7)).run_id == 7
    assert len(fake.requests) == 4
    assert client.request_count == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.asyncio
async def test_connection_refused_is_safe_to_repeat_even_for_submit():
    config = make_config(type("F", (), {"url": f"http://127.0.0.1:{_closed_port()}"})())
    async with JobsClient(config) as client:
        with pytest.raises(TransportError) as info:
            await client.submit_run({"run_name": "r"})
        assert client.request_count == FAST_RETRY.max_attempts
    assert info.value.request_sent is False
    assert info.value.path == _SUBMIT


@pytest.mark.asyncio
async def test_slow_answer_times_out(fake):
    async def stall(request: web.Request) -> web.StreamResponse:
        await asyncio.wait_for(fake.release.wait(), 5)
        return web.json_response(_RUN)

    fake.on("GET", _GET, stall)
    config = make_config(fake, timeout_seconds=0.2, retry=RetryPolicy(max_attempts=1))
    async with JobsClient(config) as client:
        with pytest.raises(Timeout) as info:
            await client.get_run(7)
    assert isinstance(info.value, TimeoutError)
    assert info.value.path == _GET


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answer", "status", "fragment"),
    [
        (
            reply(502, raw=b"<html><title>502 Bad Gateway</title><body>nginx</body></html>"),
            502,
            "502 Bad Gateway",
        ),
        (reply(500, raw=b""), 500, "empty body"),
        (reply(200, raw=b"<html><title>Sign in to Databricks</title></html>"), 200, "Sign in to Databricks"),
        (reply(200, raw=b"not json at all"), 200, "not json at all"),
    ],
)
async def test_malformed_bodies_give_clear_errors(fake, answer, status, fragment):
    fake.on("GET", _GET, answer)
    async with JobsClient(make_config(fake, retry=RetryPolicy(max_attempts=1))) as client:
        with pytest.raises(ApiError) as info:
            await client.get_run(7)
    assert info.value.status == status
    assert fragment in str(info.value)


@pytest.mark.asyncio
async def test_empty_success_body_and_missing_run_id(fake, client):
    fake.on("POST", "/api/2.2/jobs/runs/cancel", reply(200, raw=b""))
    await client.cancel_run(1)
    fake.on("POST", _SUBMIT, {"something": "else"})
    with pytest.raises(ApiError, match="run_id"):
        await client.submit_run({"run_name": "r"})


@pytest.mark.asyncio
async def test_rate_limited_error_surfaces_retry_after_when_giving_up(fake):
    fake.on(
        "GET", _GET, reply(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "x"}, Retry_After="9")
    )
    async with JobsClient(make_config(fake, retry=RetryPolicy(max_attempts=1))) as client:
        with pytest.raises(RateLimited) as info:
            await client.get_run(7)
    assert info.value.retry_after == 9.0
