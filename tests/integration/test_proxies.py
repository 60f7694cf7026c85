"""The connection's ``proxies``: the workspace and its token endpoint go through the proxy, never IMDS.

The proxy is a small forward proxy for plain-HTTP requests (absolute-form request lines), which counts
what it forwards; the emulator serves plain HTTP on loopback.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_dbx_async.client import JobsClient, TokenAuth, _tokens
from airflow_dbx_async.client.config import Proxies, Workspace
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.emulator.config import DEFAULT_TOKEN as TOKEN
from airflow_dbx_async.hooks import DatabricksAsyncHook
from airflow_dbx_async.testing.metadata_service import MetadataService
from tests.helpers import CONN_ID

KEY = "proxy-test-key"


class ForwardProxy:
    """Forwards ``GET http://host/path`` style requests and counts them by ``METHOD path``."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.url = ""
        self._server: TestServer | None = None
        self._session: aiohttp.ClientSession | None = None

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        message_url = request._message.url  # the absolute-form target of a proxied request
        target = str(message_url) if message_url.is_absolute() else f"http://{request.host}{request.rel_url}"
        self.seen[f"{request.method} {request.rel_url.path}"] += 1
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("host", "proxy-authorization")
        }
        async with self._session.request(
            request.method, target, headers=headers, data=await request.read(), allow_redirects=False
        ) as answer:
            body = await answer.read()
            keep = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "retry-after")}
            return web.Response(status=answer.status, body=body, headers=keep)

    async def __aenter__(self) -> ForwardProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._session = aiohttp.ClientSession()
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self.url = f"http://127.0.0.1:{self._server.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        assert self._session is not None
        await self._server.close()
        await self._session.close()


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as running:
        yield running


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    _tokens.clear_token_cache()
    async with EmulatorServer(EmulatorConfig(simulate=True)) as server:
        yield server
    _tokens.clear_token_cache()


def connect(
    monkeypatch: pytest.MonkeyPatch, url: str, extra: dict[str, Any], conn_id: str = CONN_ID, **fields: Any
) -> None:
    body = {"conn_type": "databricks", "host": url, "extra": json.dumps(extra), **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))


async def list_runs(conn_id: str = CONN_ID) -> None:
    config = await DatabricksAsyncHook(conn_id).aget_config()
    async with JobsClient(config) as client:
        await client.list_runs()


@pytest.mark.asyncio
async def test_workspace_and_token_exchange_go_through_the_proxy(emulator, proxy, monkeypatch) -> None:
    extra = {"service_principal_oauth": True, "proxies": {"http": proxy.url}}
    connect(monkeypatch, emulator.url, extra, login="emulator-sp", password="emulator-secret")
    await list_runs()
    assert proxy.seen == {"POST /oidc/v1/token": 1, "GET /api/2.2/jobs/runs/list": 1}


@pytest.mark.asyncio
async def test_a_proxy_for_the_other_scheme_is_not_used(emulator, proxy, monkeypatch) -> None:
    connect(monkeypatch, emulator.url, {"proxies": {"https": proxy.url}}, password=TOKEN)
    await list_runs()
    assert not proxy.seen


@pytest.mark.asyncio
async def test_the_environment_is_used_only_when_the_connection_says_so(emulator, proxy, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    connect(monkeypatch, emulator.url, {}, password=TOKEN)
    await list_runs()
    assert not proxy.seen
    connect(monkeypatch, emulator.url, {"proxies_from_env": True}, "from_env", password=TOKEN)
    await list_runs("from_env")
    assert proxy.seen == {"GET /api/2.2/jobs/runs/list": 1}
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    connect(monkeypatch, emulator.url, {"proxies_from_env": True}, "not_for_loopback", password=TOKEN)
    await list_runs("not_for_loopback")
    assert proxy.seen == {"GET /api/2.2/jobs/runs/list": 1}


@pytest.mark.asyncio
async def test_the_metadata_service_is_never_reached_through_the_proxy(tmp_path, proxy, monkeypatch) -> None:
    _tokens.clear_token_cache()
    async with MetadataService(key=KEY) as imds:
        (tmp_path / "federation.json").write_text(json.dumps({"entra": {"issuer": imds.issuer, "key": KEY}}))
        config = EmulatorConfig(simulate=True, workspace=tmp_path, tokens=())
        async with EmulatorServer(config) as server:
            monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", imds.url)
            connect(
                monkeypatch, server.url, {"use_azure_managed_identity": True, "proxies": {"http": proxy.url}}
            )
            await list_runs()
    _tokens.clear_token_cache()
    assert sum(imds.requests.values()) == 1
    assert proxy.seen == {"GET /api/2.2/jobs/runs/list": 1}


def test_workspaces_behind_different_proxies_are_different_keys() -> None:
    auth = TokenAuth("t")
    direct = Workspace(base_url="https://h", auth=auth)
    one = Workspace(base_url="https://h", auth=auth, proxies=Proxies(https="http://p1:3128"))
    two = Workspace(base_url="https://h", auth=auth, proxies=Proxies(https="http://p2:3128"))
    assert len({direct, one, two}) == 3
    assert "secret" not in repr(Proxies(https="http://user:secret@p:3128"))


@pytest.mark.parametrize(
    ("no_proxy", "url", "proxied"),
    [
        ((), "https://adb-1.azuredatabricks.net", True),
        (("*",), "https://adb-1.azuredatabricks.net", False),
        ((".azuredatabricks.net",), "https://adb-1.azuredatabricks.net", False),
        (("azuredatabricks.net",), "https://adb-1.azuredatabricks.net", False),
        (("azuredatabricks.net:443",), "https://adb-1.azuredatabricks.net", False),
        (("abricks.net",), "https://adb-1.azuredatabricks.net", True),
        (("10.0.0.0/8",), "https://10.1.2.3", False),
        (("h:8443",), "https://h:443", True),
        (("h:8443",), "https://h:8443", False),
        ((), "http://plain", False),
    ],
)
def test_proxy_choice(no_proxy: tuple[str, ...], url: str, proxied: bool) -> None:
    proxies = Proxies(https="http://p:3128", no_proxy=no_proxy)
    assert (proxies.for_url(url) is not None) is proxied
