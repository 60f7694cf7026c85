"""Fixtures for the Airflow-layer tests: the emulated workspace (or a fake one), a connection, captured logs.

``emulator`` is the Databricks workspace of these tests: the package's emulator in simulated mode,
served from its own thread (so synchronous operators and triggers on the test's loop both reach it),
with the connection ``CONN_ID`` pointing at it. Its clock follows the wall clock; ``Emulated.advance``
moves it (and simulated runs) on without sleeping. ``fake`` is the scripted workspace kept for the
tests listed in ``docs/testing.md``.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from tests.fake_databricks import TOKEN, FakeDatabricks, ThreadedServer
from tests.helpers import set_connection

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping

    from airflow_dbx_async.emulator import EmulatorHandle
    from airflow_dbx_async.emulator.state import EmulatorState

CLUSTER = "c"  # the one existing cluster of the emulated workspace


@dataclass
class Emulated:
    """The running emulator of one test, the API requests it received, and its clock."""

    handle: EmulatorHandle
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    offset: float = 0.0  # seconds the emulator's clock is ahead of the wall clock

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def state(self) -> EmulatorState:
        return self.handle.server.state

    def now(self) -> float:
        """The emulator's clock (epoch seconds)."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock on: simulated runs progress as if that much time had passed."""
        self.offset += seconds

    def calls(self, path: str) -> list[Any]:
        """Bodies (or query parameters) of the API requests whose path ends with ``path``."""
        return [body for _, p, body in self.requests if p.endswith(path)]

    def admin(self, what: str) -> Any:
        """``GET /_emulator/<what>``: the emulator's own account (``stats``, ``runs``, ``jobs``)."""
        with urllib.request.urlopen(f"{self.url}/_emulator/{what}", timeout=10) as answer:  # noqa: S310
            return json.loads(answer.read())

    def requests_to(self, endpoint: str) -> int:
        """How many requests the emulator counted for ``endpoint`` (``POST /api/2.2/jobs/runs/submit``)."""
        counted: dict[str, int] = self.admin("stats")["requests"]
        return counted.get(endpoint, 0)

    def run_state(self, run_id: int) -> tuple[str, str | None]:
        """``(life_cycle_state, result_state)`` of a run, as the emulator's admin listing shows it."""
        (run,) = [r for r in self.admin("runs")["runs"] if r["run_id"] == run_id]
        return run["life_cycle_state"], run["result_state"]


def _recording(requests: list[tuple[str, str, Any]]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def record(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # After the handler: it reads the body first, and aiohttp keeps the bytes for a second read.
        try:
            return await handler(request)
        finally:
            if request.path.startswith("/api/"):
                raw = await request.read()
                body = json.loads(raw) if raw.strip() else dict(request.query)
                requests.append((request.method, request.path, body))

    return record


@contextlib.contextmanager
def running_emulator(*, token: str = TOKEN) -> Iterator[Emulated]:
    """A fresh simulated workspace accepting ``token``; runs last ten minutes unless told (``sim_*``)."""
    config = EmulatorConfig(
        simulate=True,
        tokens=(token,),
        sim_duration_seconds=600,
        cancel_grace_seconds=0,
        clusters=(CLUSTER,),
    )
    server = EmulatorServer(config)
    requests: list[tuple[str, str, Any]] = []
    server.app.middlewares.append(_recording(requests))
    handle = server.start_in_thread()
    emulated = Emulated(handle, requests)
    server.state.clock = emulated.now
    try:
        yield emulated
    finally:
        handle.stop()


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulated]:
    """The emulated workspace, with the connection ``CONN_ID`` pointing at it."""
    with running_emulator() as emulated:
        set_connection(monkeypatch, emulated.url)
        yield emulated


@pytest.fixture
def fake() -> FakeDatabricks:
    return FakeDatabricks()


@pytest_asyncio.fixture
async def async_server(fake: FakeDatabricks, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The fake served on the test's own loop (for trigger tests); the connection points at it."""
    async with TestServer(fake.app(), host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        set_connection(monkeypatch, url)
        yield url


@pytest.fixture
def thread_server(fake: FakeDatabricks, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fake served from a background thread (for synchronous operator tests)."""
    with ThreadedServer(fake.app()) as server:
        set_connection(monkeypatch, server.url)
        yield server.url


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Structured log events emitted by operators, hooks and triggers during the test."""
    with structlog.testing.capture_logs() as captured:
        yield captured
