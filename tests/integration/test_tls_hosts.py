"""TLS settings belong to the workspace's host: the token endpoint of another host is always verified.

Each test serves HTTPS from real local servers with throw-away CAs. "The system CA store" is the
bundle OpenSSL reads from ``SSL_CERT_FILE``, pointed at a CA of the test's own.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_dbx_async.client import (
    AzureServicePrincipalAuth,
    ClientConfig,
    ConfigurationError,
    JobsClient,
    TokenAuth,
    _auth,
    _pool,
)
from tests.integration.conftest import FAST_RETRY

_SECRET = "entra-client-secret-must-stay-home"
_TENANT = "tenant-1"
_TOKEN_PATH = f"/{_TENANT}/oauth2/v2.0/token"
_LIST = "/api/2.2/jobs/runs/list"


@dataclass
class Https:
    """A local HTTPS server with a certificate from ``ca``, recording each request's path and form."""

    ca: trustme.CA
    received: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((request.path, (await request.read()).decode()))
        if request.path == _TOKEN_PATH:
            return web.json_response({"access_token": "entra-token", "expires_in": 3600})
        return web.json_response({"runs": []})


Serve = Callable[[trustme.CA], Awaitable[Https]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[TestServer] = []

    async def start(ca: trustme.CA) -> Https:
        state = Https(ca)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", state.handle)
        server = TestServer(app)
        await server.start_server(ssl=context)
        servers.append(server)
        state.url = str(server.make_url("")).rstrip("/")
        return state

    yield start
    for server in servers:
        await server.close()


@pytest.fixture(autouse=True)
def fresh_tls_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[trustme.CA]:
    """A CA of our own as the whole system store, and no context cached from before."""
    system_ca = trustme.CA()
    bundle = tmp_path / "system-store.pem"
    system_ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    _pool.system_context.cache_clear()
    _pool._load_ca_context.cache_clear()
    _auth.clear_token_cache()
    yield system_ca
    _pool.system_context.cache_clear()
    _pool._load_ca_context.cache_clear()
    _auth.clear_token_cache()


def _azure(
    workspace: Https, login: Https, *, verify_tls: bool = True, ca_file: str | None = None
) -> ClientConfig:
    auth = AzureServicePrincipalAuth(_TENANT, "app-1", _SECRET, login_url=login.url)
    return ClientConfig(
        base_url=workspace.url, auth=auth, retry=FAST_RETRY, verify_tls=verify_tls, ca_file=ca_file
    )


@pytest.mark.asyncio
async def test_verify_tls_false_does_not_reach_a_token_endpoint_on_another_host(serve) -> None:
    workspace = await serve(trustme.CA())  # a private certificate: why verify_tls is off
    impostor = await serve(trustme.CA())  # stands in for Entra ID with a certificate nobody trusts
    async with JobsClient(_azure(workspace, impostor, verify_tls=False)) as client:
        with pytest.raises(ConfigurationError) as raised:
            await client.list_runs()
        assert client.request_count == 1  # a settings problem: not retried
    assert impostor.received == []  # the handshake failed: the client secret was never sent
    assert workspace.received == []
    assert raised.value.field == "token_endpoint"
    message = str(raised.value)
    assert "system CA store" in message
    assert "certificate verify failed" in message.lower()
    assert _SECRET not in message


@pytest.mark.asyncio
async def test_ca_file_is_not_trusted_for_a_token_endpoint_on_another_host(serve, tmp_path) -> None:
    private = trustme.CA()
    ca_file = tmp_path / "workspace-ca.pem"
    private.cert_pem.write_to_path(str(ca_file))
    workspace = await serve(private)
    impostor = await serve(private)
    async with JobsClient(_azure(workspace, impostor, ca_file=str(ca_file))) as client:
        with pytest.raises(ConfigurationError) as raised:
            await client.list_runs()
    assert raised.value.field == "token_endpoint"
    assert impostor.received == []


@pytest.mark.asyncio
async def test_a_token_endpoint_on_another_host_is_verified_against_the_system_store(
    serve, fresh_tls_state
) -> None:
    workspace = await serve(trustme.CA())
    login = await serve(fresh_tls_state)  # a certificate from the system store's CA
    async with JobsClient(_azure(workspace, login, verify_tls=False)) as client:
        assert (await client.list_runs()).runs == ()
    assert [path for path, _ in login.received] == [_TOKEN_PATH]
    assert f"client_secret={_SECRET}" in login.received[0][1]
    assert [path for path, _ in workspace.received] == [_LIST]


@pytest.mark.asyncio
async def test_ca_file_adds_to_the_system_store(serve, fresh_tls_state, tmp_path) -> None:
    private = trustme.CA()
    ca_file = tmp_path / "extra-ca.pem"
    private.cert_pem.write_to_path(str(ca_file))
    for ca in (private, fresh_tls_state):  # the extra CA, and the system store's still
        server = await serve(ca)
        config = ClientConfig(
            base_url=server.url, auth=TokenAuth("t"), ca_file=str(ca_file), retry=FAST_RETRY
        )
        async with JobsClient(config) as client:
            assert (await client.list_runs()).runs == ()
        assert [path for path, _ in server.received] == [_LIST]


@pytest.mark.asyncio
async def test_a_certificate_failure_on_the_workspace_advises_ca_file_only(serve) -> None:
    server = await serve(trustme.CA())
    config = ClientConfig(base_url=server.url, auth=TokenAuth("t"), retry=FAST_RETRY)
    async with JobsClient(config) as client:
        with pytest.raises(ConfigurationError) as raised:
            await client.list_runs()
    assert raised.value.field == "ca_file"
    assert "verify_tls" not in str(raised.value)
    assert server.received == []
