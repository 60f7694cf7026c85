"""A scriptable fake Databricks workspace served by aiohttp's TestServer, recording every request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_dbx_async.client import ClientConfig, JobsClient, RetryPolicy, TokenAuth, _auth

TOKEN = "dapi-integration-secret-0000"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    peer: tuple[Any, ...]


def reply(status: int = 200, body: Any = None, *, raw: bytes | None = None, **headers: str) -> Handler:
    """A handler answering ``body`` as JSON (or ``raw`` bytes as is)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        if raw is not None:
            hdrs.setdefault("Content-Type", "text/html")
            return web.Response(status=status, body=raw, headers=hdrs)
        return web.json_response({} if body is None else body, status=status, headers=hdrs)

    return handler


async def drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering (the request was received)."""
    assert request.transport is not None
    request.transport.close()
    raise asyncio.CancelledError


@dataclass
class FakeDatabricks:
    """Routes ``(method, path)`` to queues of handlers; the last handler of a queue repeats."""

    routes: dict[tuple[str, str], list[Handler]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    def on(self, method: str, path: str, *handlers: Handler | dict[str, Any]) -> None:
        self.routes[(method, path)] = [h if callable(h) else reply(200, h) for h in handlers]

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        peer = request.transport.get_extra_info("peername") if request.transport else ()
        self.requests.append(
            Recorded(
                request.method, request.path, dict(request.query), body, dict(request.headers), tuple(peer)
            )
        )
        queue = self.routes.get((request.method, request.path))
        if not queue:
            return web.json_response(
                {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No route for {request.path}"}, status=404
            )
        handler = queue.pop(0) if len(queue) > 1 else queue[0]
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


@pytest_asyncio.fixture
async def fake():
    _auth.clear_token_cache()
    state = FakeDatabricks()
    server = TestServer(state.app())
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    yield state
    state.release.set()
    await server.close()
    _auth.clear_token_cache()


FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, budget_seconds=10.0)


def make_config(fake: FakeDatabricks, **kwargs: Any) -> ClientConfig:
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
