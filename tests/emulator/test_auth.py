"""Authentication: bearer tokens, HTTP Basic, OAuth M2M token endpoint, error bodies."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

if TYPE_CHECKING:
    from airflow_dbx_async.emulator import EmulatorServer
    from tests.emulator.conftest import MakeApi

pytestmark = pytest.mark.asyncio
RUNS_LIST = "/api/2.2/jobs/runs/list"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def _status(server: EmulatorServer, **kwargs: Any) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as session, session.get(server.url + RUNS_LIST, **kwargs) as resp:
        return resp.status, await resp.json(), resp.headers


async def test_missing_and_invalid_tokens(make_api: MakeApi) -> None:
    server, _ = await make_api(simulate=True, tokens=("tok-a", "tok-b"))
    status, body, _ = await _status(server)
    assert status == 401
    assert body["error_code"] == 401
    assert body["message"].startswith("Credential was not sent or was of an unsupported type for this API.")
    status, body, headers = await _status(server, headers={"Authorization": "Bearer wrong"})
    assert (status, body) == (403, {"error_code": 403, "message": "Invalid access token."})
    assert headers["X-Databricks-Reason-Phrase"] == "Invalid access token."
    assert (await _status(server, headers={"Authorization": "Bearer tok-b"}))[0] == 200
    assert "tok-a" not in repr(server.config)


async def test_basic_auth_users_and_token_as_password(make_api: MakeApi) -> None:
    server, _ = await make_api(simulate=True, basic_users={"alice": "s3cret"})
    ok = basic("alice", "s3cret")
    assert (await _status(server, headers=ok))[0] == 200
    assert (await _status(server, headers=basic("token", server.token)))[0] == 200
    assert (await _status(server, headers=basic("alice", "nope")))[0] == 403


async def _token(server: EmulatorServer, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "/oidc/v1/token", **kwargs) as resp:
            return resp.status, await resp.json()


async def test_oauth_m2m_basic_and_form_client_auth(make_api: MakeApi) -> None:
    server, _ = await make_api(simulate=True, oauth_token_ttl_seconds=120)
    form = {"grant_type": "client_credentials", "scope": "all-apis"}
    status, body = await _token(server, data=form, headers=basic("emulator-sp", "emulator-secret"))
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 120
    assert body["scope"] == "all-apis"
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await _status(server, headers=bearer))[0] == 200
    form_auth = {**form, "client_id": "emulator-sp", "client_secret": "emulator-secret"}
    assert (await _token(server, data=form_auth))[0] == 200
    status, body = await _token(server, data=form, headers=basic("emulator-sp", "bad"))
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = await _token(server, data={"grant_type": "password"})
    assert (status, body["error"]) == (400, "unsupported_grant_type")


async def test_issued_oauth_token_expires(make_api: MakeApi) -> None:
    server, _ = await make_api(simulate=True)
    form = {"grant_type": "client_credentials"}
    _, body = await _token(server, data=form, headers=basic("emulator-sp", "emulator-secret"))
    server.state.oauth_tokens[body["access_token"]] = 0.0
    assert (await _status(server, headers={"Authorization": f"Bearer {body['access_token']}"}))[0] == 403


async def test_discovery_documents(make_api: MakeApi) -> None:
    server, api = await make_api(simulate=True)
    config = await api.ok("GET", "/.well-known/databricks-config")
    assert config["oidc_endpoint"] == f"{server.url}/oidc"
    meta = await api.ok("GET", "/oidc/.well-known/oauth-authorization-server")
    assert meta["token_endpoint"] == f"{server.url}/oidc/v1/token"
