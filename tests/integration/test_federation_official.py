"""Side by side with the official provider: same connection settings, same exchange, same outcome.

The official ``BaseDatabricksHook`` always sends the exchange to ``https://<host>/oidc/v1/token``, so the
emulator serves TLS here and ``requests`` trusts its CA through ``REQUESTS_CA_BUNDLE``. The hook runs
in a worker thread: the emulator answers on this test's event loop.
"""

from __future__ import annotations

import asyncio
import gc
import json
import ssl
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from airflow_dbx_async.client import (
    AuthError,
    CallableSubjectToken,
    ClientConfig,
    ConfigurationError,
    DefaultAzureCredentialAuth,
    FederatedTokenAuth,
    JobsClient,
    _tokens,
)
from airflow_dbx_async.client._azure_identity import azure_identity_installed
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.testing.metadata_service import mint_jwt

pytestmark = [pytest.mark.asyncio, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
ISSUER = "https://kubernetes.default.svc"
SUBJECT = "system:serviceaccount:airflow:worker"
SP = "sp-side-by-side"
KEY = "side-by-side-key"
_SUBJECT_TOKEN: list[str] = []


def supplied_token() -> str:
    """The ``federated_token_provider`` both implementations import."""
    return _SUBJECT_TOKEN[0]


def _subject() -> str:
    now = int(time.time())
    return mint_jwt({"iss": ISSUER, "aud": ISSUER, "sub": SUBJECT, "iat": now, "exp": now + 900}, KEY)


@pytest_asyncio.fixture
async def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmulatorServer]:
    policy = {"issuer": ISSUER, "audiences": [ISSUER], "subject": SUBJECT, "client_id": SP, "key": KEY}
    (tmp_path / "federation.json").write_text(json.dumps({"policies": [policy]}))
    _SUBJECT_TOKEN[:] = [_subject()]
    _tokens.clear_token_cache()
    server = EmulatorServer(EmulatorConfig(simulate=True, workspace=tmp_path, tokens=(), tls=True))
    async with server:
        assert server.ca_file is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        yield server
    # A refused exchange leaves the official hook's TLS connection half-closed on the server side; its
    # transport is dropped with the stopped server. Collect it here, not in whichever test runs next.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    _tokens.clear_token_cache()


def _official_token(monkeypatch: pytest.MonkeyPatch, server: EmulatorServer, extra: dict[str, Any]) -> str:
    from airflow.providers.databricks.hooks.databricks_base import BaseDatabricksHook

    host = server.url.removeprefix("https://")  # host:port: the official hook puts it after https://
    conn = {"conn_type": "databricks", "host": host, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_DBX_FEDERATED", json.dumps(conn))
    hook = BaseDatabricksHook("dbx_federated", retry_limit=1)
    token = hook._get_token(raise_error=True)
    assert isinstance(token, str)
    return token


async def _reaches(server: EmulatorServer, token: str) -> int:
    assert server.ca_file is not None
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{server.url}/api/2.2/jobs/runs/list"
        context = ssl.create_default_context(cafile=server.ca_file)
        async with session.get(url, headers=headers, ssl=context) as answer:
            return answer.status


async def _ours(server: EmulatorServer, auth: Any) -> str:
    config = ClientConfig(base_url=server.url, auth=auth, ca_file=server.ca_file)
    async with JobsClient(config) as client:
        assert (await client.list_runs()).runs == ()
    [key] = [k for k in _tokens._TOKENS if k[0] == "federation"]
    return _tokens._TOKENS[key].access_token


async def test_supplied_token_provider_side_by_side(emulator, monkeypatch) -> None:
    provider = f"{__name__}.supplied_token"
    extra = {"federated_token_provider": provider, "client_id": SP}
    official = await asyncio.to_thread(_official_token, monkeypatch, emulator, extra)
    ours = await _ours(
        emulator, FederatedTokenAuth(CallableSubjectToken(supplied_token, key=provider), client_id=SP)
    )
    assert {official, ours} <= set(emulator.state.oauth_tokens)  # both issued by the exchange
    assert await _reaches(emulator, official) == 200
    assert await _reaches(emulator, ours) == 200


async def test_kubernetes_projected_volume_side_by_side(emulator, monkeypatch, tmp_path) -> None:
    token_file = tmp_path / "projected-token"
    token_file.write_text(_SUBJECT_TOKEN[0] + "\n")
    extra = {"federated_k8s": True, "client_id": SP, "k8s_projected_volume_token_path": str(token_file)}
    official = await asyncio.to_thread(_official_token, monkeypatch, emulator, extra)
    ours = await _ours(
        emulator, FederatedTokenAuth.kubernetes(SP, projected_volume_token_path=str(token_file))
    )
    assert await _reaches(emulator, official) == 200
    assert await _reaches(emulator, ours) == 200


async def test_a_refused_subject_fails_on_both_sides(emulator, monkeypatch) -> None:
    from airflow.sdk.exceptions import AirflowException

    _SUBJECT_TOKEN[:] = [
        mint_jwt({"iss": ISSUER, "aud": ISSUER, "sub": "intruder", "exp": time.time() + 60}, KEY)
    ]
    provider = f"{__name__}.supplied_token"
    with pytest.raises(AirflowException, match="Status Code: 400"):
        await asyncio.to_thread(
            _official_token, monkeypatch, emulator, {"federated_token_provider": provider, "client_id": SP}
        )
    with pytest.raises(AuthError, match="invalid_grant"):
        await _ours(
            emulator, FederatedTokenAuth(CallableSubjectToken(supplied_token, key=provider), client_id=SP)
        )


@pytest.mark.skipif(azure_identity_installed(), reason="azure-identity is installed")
async def test_default_azure_credential_needs_azure_identity_on_both_sides(emulator, monkeypatch) -> None:
    from airflow.exceptions import AirflowOptionalProviderFeatureException

    with pytest.raises(AirflowOptionalProviderFeatureException, match="azure"):
        await asyncio.to_thread(
            _official_token, monkeypatch, emulator, {"use_default_azure_credential": True}
        )
    with pytest.raises(ConfigurationError, match="azure-identity"):
        DefaultAzureCredentialAuth()


async def _ours_from_connection(server: EmulatorServer, extra: dict[str, Any], **fields: Any) -> str:
    from airflow.sdk import Connection

    from airflow_dbx_async.hooks import connection_to_config

    conn = Connection(conn_id="c", conn_type="databricks", host=server.url, extra=json.dumps(extra), **fields)
    config = connection_to_config(conn)
    config = ClientConfig.of(
        type(config.workspace)(**{**config.workspace.__dict__, "ca_file": server.ca_file})
    )
    async with JobsClient(config) as client:
        assert (await client.list_runs()).runs == ()
    [key] = [k for k in _tokens._TOKENS if k[0] == "federation"]
    return _tokens._TOKENS[key].access_token


@pytest.mark.parametrize("method", ["provider", "k8s"])
async def test_the_same_connection_extra_side_by_side(emulator, monkeypatch, tmp_path, method) -> None:
    token_file = tmp_path / "projected-token"
    token_file.write_text(_SUBJECT_TOKEN[0] + "\n")
    if method == "provider":
        extra: dict[str, Any] = {"federated_token_provider": f"{__name__}.supplied_token", "client_id": SP}
    else:
        extra = {"federated_k8s": True, "client_id": SP, "k8s_projected_volume_token_path": str(token_file)}
    official = await asyncio.to_thread(_official_token, monkeypatch, emulator, extra)
    ours = await _ours_from_connection(emulator, extra)
    assert {official, ours} <= set(emulator.state.oauth_tokens)
    assert await _reaches(emulator, official) == 200
    assert await _reaches(emulator, ours) == 200
