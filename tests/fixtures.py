"""Fixtures for the Airflow-layer tests: a fake Databricks workspace, a connection, captured logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
import structlog
from aiohttp.test_utils import TestServer

from tests.fake_databricks import FakeDatabricks, ThreadedServer
from tests.helpers import set_connection

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, MutableMapping


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
