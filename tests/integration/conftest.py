"""The client's hostile-answer workspace (``ScriptedRoutes``) served by aiohttp's TestServer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_dbx_async.client import ClientConfig, JobsClient, RetryPolicy, TokenAuth, _auth
from tests.fake_databricks import Handler, ScriptedRoutes, reply

__all__ = ("TOKEN", "Handler", "ScriptedRoutes", "drop", "make_config", "reply")

TOKEN = "dapi-integration-secret-0000"


async def drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering (the request was received)."""
    assert request.transport is not None
    request.transport.close()
    raise asyncio.CancelledError


@pytest_asyncio.fixture
async def fake():
    _auth.clear_token_cache()
    state = ScriptedRoutes()
    server = TestServer(state.app())
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    yield state
    state.release.set()
    await server.close()
    _auth.clear_token_cache()


FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, budget_seconds=10.0)


def make_config(fake: ScriptedRoutes, **kwargs: Any) -> ClientConfig:
    kwargs.setdefault("auth", TokenAuth(TOKEN))
    kwargs.setdefault("retry", FAST_RETRY)
    return ClientConfig(base_url=fake.url, **kwargs)


@pytest_asyncio.fixture
async def client(fake):
    async with JobsClient(make_config(fake)) as c:
        yield c


@pytest.fixture
def no_sleep(monkeypatch):
    """Retry-After values must not make tests really sleep."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr("airflow_dbx_async.client._retry._sleep", fake_sleep)
    return slept
