"""Fixtures for the emulator tests: servers on loopback and an authenticated aiohttp session."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import pytest_asyncio

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorHandle, EmulatorServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    from airflow.providers.databricks.hooks.databricks import DatabricksHook

DEMO = Path(__file__).resolve().parents[2] / "demo" / "workspace"
TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


class Api:
    """A tiny JSON helper around one session (one pooled keep-alive connection)."""

    def __init__(self, session: aiohttp.ClientSession, version: str = "2.2") -> None:
        self.session = session
        self.version = version

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        url = path if path.startswith("/") else f"/api/{self.version}/{path}"
        async with self.session.request(method, url, **kwargs) as resp:
            assert resp.content_type == "application/json", await resp.text()
            return resp.status, await resp.json()

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        status, body = await self.call(method, path, **kwargs)
        assert status == 200, body
        return body

    async def get(self, path: str, **params: Any) -> Any:
        return await self.ok("GET", path, params={k: str(v) for k, v in params.items()})

    async def post(self, path: str, body: Any) -> Any:
        return await self.ok("POST", path, json=body)

    async def wait_run(self, run_id: int, limit: float = 20.0) -> dict[str, Any]:
        async def loop() -> dict[str, Any]:
            while True:
                run: dict[str, Any] = await self.get("jobs/runs/get", run_id=run_id)
                if run["state"]["life_cycle_state"] in TERMINAL:
                    return run
                await asyncio.sleep(0.05)

        return await asyncio.wait_for(loop(), limit)


@pytest.fixture
def handle() -> Iterator[EmulatorHandle]:
    """A simulated emulator in a thread, for synchronous clients (databricks-sdk, the official hook)."""
    with EmulatorServer(EmulatorConfig(simulate=True)).start_in_thread() as running:
        yield running


def official_hook(
    handle: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, conn_id: str, *, retry_limit: int = 2
) -> DatabricksHook:
    """The official provider's ``DatabricksHook`` on ``handle``, through an ``AIRFLOW_CONN_*`` connection.

    The official hook keeps only the host name of ``host``; port and scheme come from ``port`` and
    ``schema``.
    """
    from airflow.providers.databricks.hooks.databricks import DatabricksHook

    conn = {
        "conn_type": "databricks",
        "host": handle.url,
        "port": int(handle.url.rsplit(":", 1)[1]),
        "schema": "http",
        "password": handle.token,
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return DatabricksHook(databricks_conn_id=conn_id, retry_limit=retry_limit, retry_delay=0.1)


def decode_export(html: str) -> dict[str, Any]:
    """The notebook model of an exported page, decoded the way users decode a real export."""
    found = re.search(r"var __DATABRICKS_NOTEBOOK_MODEL = '([^']+)';", html)
    assert found is not None, html[:200]
    model: dict[str, Any] = json.loads(urllib.parse.unquote(base64.b64decode(found.group(1)).decode("utf-8")))
    return model


def printed(model: dict[str, Any]) -> str:
    """All text (``ansi``) output of the model's commands, in position order."""
    out = []
    for command in sorted(model["commands"], key=lambda c: c["position"]):
        results = command["results"] or {}
        items = results["data"] if results.get("type") == "listResults" else [results]
        out += [item["data"] for item in items if item.get("type") == "ansi"]
    return "".join(out)


async def export_model(api: Api, task_run_id: int) -> dict[str, Any]:
    """``runs/export`` of a notebook task run, decoded."""
    body = await api.get("jobs/runs/export", run_id=task_run_id, views_to_export="CODE")
    (view,) = body["views"]
    assert view["type"] == "NOTEBOOK"
    return decode_export(view["content"])


if TYPE_CHECKING:
    MakeApi = Callable[..., Awaitable[tuple[EmulatorServer, Api]]]


@pytest_asyncio.fixture
async def make_api() -> AsyncIterator[Callable[..., Awaitable[tuple[EmulatorServer, Api]]]]:
    servers: list[EmulatorServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def factory(**config: Any) -> tuple[EmulatorServer, Api]:
        server = EmulatorServer(EmulatorConfig(**config))
        await server.start()
        servers.append(server)
        session = aiohttp.ClientSession(server.url, headers={"Authorization": f"Bearer {server.token}"})
        sessions.append(session)
        return server, Api(session)

    yield factory
    for session in sessions:
        await session.close()
    for server in servers:
        await server.stop()


@pytest_asyncio.fixture
async def sim(make_api: Callable[..., Awaitable[tuple[EmulatorServer, Api]]]) -> tuple[EmulatorServer, Api]:
    return await make_api(simulate=True, sim_duration_seconds=0.2)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    nb = tmp_path / "Users" / "me"
    nb.mkdir(parents=True)
    return tmp_path


def notebook(workspace: Path, name: str, *cells: str) -> str:
    """Write a Databricks source-format notebook and return its workspace path."""
    text = "# Databricks notebook source\n" + "\n# COMMAND ----------\n".join(cells)
    (workspace / "Users" / "me" / f"{name}.py").write_text(text, encoding="utf-8")
    return f"/Users/me/{name}"
