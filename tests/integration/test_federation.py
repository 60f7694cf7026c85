"""Managed identity, token federation and DefaultAzureCredential against the emulator and an IMDS stand-in.

The emulator trusts the stand-in's tokens through ``federation.json`` (``entra``: the stand-in's issuer
and HS256 key) and exchanges subject JWTs under its federation policies. Every test reaches the
workspace through the client's real HTTP path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from airflow_dbx_async.client import (
    ApiError,
    AuthError,
    AzureManagedIdentityAuth,
    CallableSubjectToken,
    ClientConfig,
    ConfigurationError,
    DefaultAzureCredentialAuth,
    FederatedTokenAuth,
    JobsClient,
    RateLimited,
    RetryPolicy,
    TransportError,
    _tokens,
)
from airflow_dbx_async.client._azure_identity import azure_identity_installed
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.testing.metadata_service import MetadataService, mint_jwt

KEY = "imds-and-emulator-shared-key"
DATABRICKS = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
MANAGEMENT = "https://management.core.windows.net/"
K8S_ISSUER = "https://kubernetes.default.svc"
K8S_SUBJECT = "system:serviceaccount:airflow:triggerer"
SP = "sp-federated-app-id"
RESOURCE_ID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Databricks/workspaces/w"
FAST = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, budget_seconds=10.0)
pytestmark = pytest.mark.asyncio


def k8s_token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": K8S_ISSUER, "aud": [K8S_ISSUER], "sub": K8S_SUBJECT, "iat": now, "exp": now + 3600}
    claims.update(overrides)
    return mint_jwt(claims, KEY)


def write_policies(folder: Path, imds: MetadataService) -> None:
    policies = {
        "policies": [
            {
                "issuer": K8S_ISSUER,
                "audiences": [K8S_ISSUER],
                "subject": K8S_SUBJECT,
                "client_id": SP,
                "key": KEY,
            },
            {"issuer": "https://token.actions.example.com", "subject": "repo:me/x", "key": KEY},
        ],
        "entra": {"issuer": imds.issuer, "key": KEY},
    }
    (folder / "federation.json").write_text(json.dumps(policies))


@pytest_asyncio.fixture
async def imds() -> AsyncIterator[MetadataService]:
    _tokens.clear_token_cache()
    async with MetadataService(key=KEY, identities=("user-assigned-1",)) as service:
        yield service
    _tokens.clear_token_cache()


@pytest_asyncio.fixture
async def workspace(tmp_path: Path, imds: MetadataService) -> AsyncIterator[EmulatorServer]:
    write_policies(tmp_path, imds)
    async with EmulatorServer(EmulatorConfig(simulate=True, workspace=tmp_path, tokens=())) as server:
        yield server


def config(server: EmulatorServer, auth: Any, **kwargs: Any) -> ClientConfig:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("max_requests_per_second", None)
    return ClientConfig(base_url=server.url, auth=auth, **kwargs)


def one_line(error: BaseException, *names: str) -> str:
    text = str(error)
    assert "\n" not in text, text
    for name in names:
        assert name in text, text
    return text


# --- Azure managed identity -----------------------------------------------------------------------


async def test_managed_identity_reaches_the_workspace_with_the_management_headers(workspace, imds) -> None:
    auth = AzureManagedIdentityAuth(
        client_id="user-assigned-1", resource_id=RESOURCE_ID, endpoint=imds.token_url
    )
    async with JobsClient(config(workspace, auth)) as client:
        assert (await client.list_runs()).runs == ()
        assert (await client.list_runs()).runs == ()
        assert client.request_count == 4  # two IMDS token requests (Databricks, management), two API calls
    assert imds.requests == {DATABRICKS: 1, MANAGEMENT: 1}
    assert imds.client_ids == ["user-assigned-1", "user-assigned-1"]


async def test_system_assigned_identity_without_resource_id_asks_one_token(workspace, imds) -> None:
    async with JobsClient(config(workspace, AzureManagedIdentityAuth(endpoint=imds.token_url))) as client:
        await client.list_runs()
    assert imds.requests == {DATABRICKS: 1}
    assert imds.client_ids == [None]  # no client_id parameter at all


async def test_a_thousand_users_cause_one_token_request_per_refresh(workspace, imds, monkeypatch) -> None:
    now = [time.time()]
    monkeypatch.setattr(_tokens, "_clock", lambda: now[0])
    # Equal credentials built apart share the per-process cache: 4 clients, 250 concurrent users each.
    clients = [
        JobsClient(config(workspace, AzureManagedIdentityAuth(endpoint=imds.token_url))) for _ in range(4)
    ]
    for client in clients:
        await client.__aenter__()
    try:
        for refresh in (1, 2):
            pages = await asyncio.gather(*(c.list_runs() for c in clients for _ in range(250)))
            assert len(pages) == 1000
            assert imds.requests[DATABRICKS] == refresh  # exactly one per refresh
            now[0] += 3600  # past the token's refresh moment
    finally:
        for client in clients:
            await client.aclose()
    assert len(set(imds.issued)) == 2


async def test_a_throttled_metadata_service_is_retried_once_for_everyone(workspace, imds) -> None:
    imds.throttle(1, retry_after="0")
    async with JobsClient(config(workspace, AzureManagedIdentityAuth(endpoint=imds.token_url))) as client:
        await asyncio.gather(*(client.list_runs() for _ in range(1000)))
    assert imds.requests[DATABRICKS] == 2  # the 429, then the one request that got the token


async def test_retry_after_of_the_metadata_service_is_honoured(workspace, imds, no_sleep) -> None:
    imds.throttle(1, retry_after="7")
    async with JobsClient(config(workspace, AzureManagedIdentityAuth(endpoint=imds.token_url))) as client:
        await client.list_runs()
    assert no_sleep == [7.0]


async def test_a_throttle_that_outlasts_the_retries_fails_in_one_line(workspace, imds, no_sleep) -> None:
    imds.throttle(10, retry_after="3")
    async with JobsClient(config(workspace, AzureManagedIdentityAuth(endpoint=imds.token_url))) as client:
        with pytest.raises(RateLimited) as raised:
            await client.list_runs()
    assert raised.value.retry_after == 3.0
    one_line(raised.value, "use_azure_managed_identity", "429", "/metadata/identity/oauth2/token")
    assert imds.requests[DATABRICKS] == 4


async def test_an_unknown_identity_fails_in_one_line_naming_the_extra(workspace, imds) -> None:
    auth = AzureManagedIdentityAuth(client_id="nobody", endpoint=imds.token_url)
    async with JobsClient(config(workspace, auth)) as client:
        with pytest.raises(AuthError) as raised:
            await client.list_runs()
    one_line(raised.value, "use_azure_managed_identity", "Identity not found")


async def test_an_unreachable_metadata_service_names_the_extra(workspace, imds) -> None:
    endpoint = imds.token_url
    await imds.close()
    async with JobsClient(config(workspace, AzureManagedIdentityAuth(endpoint=endpoint))) as client:
        with pytest.raises(TransportError) as raised:
            await client.list_runs()
    one_line(raised.value, "use_azure_managed_identity")


async def test_a_token_for_another_resource_is_refused_by_the_workspace(workspace, imds) -> None:
    headers = {"Authorization": f"Bearer {imds.mint(MANAGEMENT)}"}  # right issuer, wrong audience
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{workspace.url}/api/2.2/jobs/runs/list", headers=headers) as answer:
            assert answer.status == 403


# --- Kubernetes and supplied-token federation ------------------------------------------------------


async def test_kubernetes_projected_token_is_exchanged_and_reaches_the_workspace(workspace, tmp_path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(k8s_token() + "\n")
    auth = FederatedTokenAuth.kubernetes(SP, projected_volume_token_path=str(token_file))
    async with JobsClient(config(workspace, auth)) as client:
        await asyncio.gather(*(client.list_runs() for _ in range(200)))
        assert client.request_count == 201  # one exchange for 200 concurrent calls


async def test_kubernetes_needs_a_client_id() -> None:
    with pytest.raises(ConfigurationError) as raised:
        FederatedTokenAuth.kubernetes(None, projected_volume_token_path="/nowhere")
    assert raised.value.field == "client_id"
    one_line(raised.value, "federated_k8s", "service-principal federation policy")


async def test_a_missing_projected_token_fails_in_one_line(workspace, tmp_path) -> None:
    auth = FederatedTokenAuth.kubernetes(SP, projected_volume_token_path=str(tmp_path / "absent"))
    async with JobsClient(config(workspace, auth)) as client:
        with pytest.raises(ConfigurationError) as raised:
            await client.list_runs()
        assert client.request_count == 0
    assert raised.value.field == "federated_k8s"
    one_line(raised.value, "k8s_projected_volume_token_path", "not found")


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({"sub": "system:serviceaccount:other:sa"}, "subject does not match"),
        ({"aud": ["somebody-else"]}, "audience does not match"),
        ({"exp": int(time.time()) - 10}, "expired"),
        ({"iss": "https://impostor.example.com"}, "issuer is not trusted"),
    ],
)
async def test_a_subject_token_outside_the_policy_is_refused(
    workspace, tmp_path, caplog, claims, description
) -> None:
    subject = k8s_token(**claims)
    token_file = tmp_path / "token"
    token_file.write_text(subject)
    auth = FederatedTokenAuth.kubernetes(SP, projected_volume_token_path=str(token_file))
    with caplog.at_level(logging.DEBUG):
        async with JobsClient(config(workspace, auth)) as client:
            with pytest.raises(AuthError) as raised:
                await client.list_runs()
    assert raised.value.error_code == "invalid_grant"
    one_line(raised.value, "federated_k8s", description)
    for text in (str(raised.value), repr(raised.value), caplog.text, repr(auth)):
        assert subject not in text


async def test_a_bad_signature_is_refused(workspace) -> None:
    forged = mint_jwt(
        {"iss": K8S_ISSUER, "aud": K8S_ISSUER, "sub": K8S_SUBJECT, "exp": time.time() + 60}, "x"
    )
    auth = FederatedTokenAuth(CallableSubjectToken(lambda: forged, key="forged"), client_id=SP)
    async with JobsClient(config(workspace, auth)) as client:
        with pytest.raises(AuthError) as raised:
            await client.list_runs()
    one_line(raised.value, "federated_token_provider", "signature")


async def test_supplied_token_provider_sync_and_async_for_an_account_wide_policy(workspace) -> None:
    def mint() -> str:
        return mint_jwt(
            {"iss": "https://token.actions.example.com", "sub": "repo:me/x", "exp": time.time() + 600}, KEY
        )

    async def amint() -> str:
        return mint()

    for func in (mint, amint):
        _tokens.clear_token_cache()
        auth = FederatedTokenAuth(CallableSubjectToken(func), label="federated_aws")  # no client_id
        async with JobsClient(config(workspace, auth)) as client:
            assert (await client.list_runs()).runs == ()


async def test_a_provider_returning_nothing_fails_naming_the_extra(workspace) -> None:
    auth = FederatedTokenAuth(CallableSubjectToken(lambda: "  ", key="blank"))
    async with JobsClient(config(workspace, auth)) as client:
        with pytest.raises(ConfigurationError) as raised:
            await client.list_runs()
    assert raised.value.field == "federated_token_provider"
    one_line(raised.value, "non-empty string")


async def test_a_provider_error_is_one_line_without_its_secrets(workspace) -> None:
    def broken() -> str:
        raise RuntimeError("STS said no\nsecret-detail-on-line-two")

    auth = FederatedTokenAuth(CallableSubjectToken(broken, key="aws:aws_default"), label="federated_aws")
    async with JobsClient(config(workspace, auth)) as client:
        with pytest.raises(ConfigurationError) as raised:
            await client.list_runs()
    text = one_line(raised.value, "federated_aws", "RuntimeError: STS said no")
    assert "line-two" not in text


# --- TLS of token requests ------------------------------------------------------------------------


async def test_verify_tls_false_does_not_apply_to_the_token_exchange(tmp_path, imds) -> None:
    write_policies(tmp_path, imds)
    (tmp_path / "token").write_text(k8s_token())
    auth = FederatedTokenAuth.kubernetes(SP, projected_volume_token_path=str(tmp_path / "token"))
    emulator = EmulatorServer(EmulatorConfig(simulate=True, workspace=tmp_path, tokens=(), tls=True))
    async with emulator:
        async with JobsClient(config(emulator, auth, verify_tls=False)) as client:
            with pytest.raises(ConfigurationError) as raised:
                await client.list_runs()
            assert client.request_count == 1  # the handshake failed: the subject token was never sent
        assert raised.value.field == "federated_k8s"
        one_line(raised.value, "token_endpoint", "certificate")
        async with JobsClient(config(emulator, auth, ca_file=emulator.ca_file)) as client:
            assert (await client.list_runs()).runs == ()


# --- DefaultAzureCredential -----------------------------------------------------------------------


@pytest.mark.skipif(azure_identity_installed(), reason="azure-identity is installed")
async def test_default_azure_credential_without_azure_identity_fails_before_any_request() -> None:
    with pytest.raises(ConfigurationError) as raised:
        DefaultAzureCredentialAuth()
    assert raised.value.field == "use_default_azure_credential"
    one_line(raised.value, "azure-identity", "not installed")


async def test_a_pluggable_azure_credential_reaches_the_workspace(workspace, imds) -> None:
    asked: list[tuple[str, ...]] = []

    class Credential:
        async def get_token(self, *scopes: str) -> Any:
            asked.append(scopes)
            resource = scopes[0].removesuffix("/.default")
            return SimpleNamespace(token=imds.mint(resource), expires_on=int(time.time()) + 3600)

    auth = DefaultAzureCredentialAuth(resource_id=RESOURCE_ID, credential=Credential())
    async with JobsClient(config(workspace, auth)) as client:
        await asyncio.gather(*(client.list_runs() for _ in range(50)))
    assert asked == [(f"{DATABRICKS}/.default",), (f"{MANAGEMENT}/.default",)]


# --- secrets --------------------------------------------------------------------------------------


async def test_tokens_never_reach_logs_errors_or_reprs(workspace, imds, tmp_path, caplog) -> None:
    subject = k8s_token()
    (tmp_path / "token").write_text(subject)
    federated = FederatedTokenAuth.kubernetes(SP, projected_volume_token_path=str(tmp_path / "token"))
    managed = AzureManagedIdentityAuth(endpoint=imds.token_url, resource_id=RESOURCE_ID)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for auth in (federated, managed):
            async with JobsClient(config(workspace, auth)) as client:
                await client.list_runs()
                with pytest.raises(ApiError) as raised:  # an API error after authenticating
                    await client.get_run(424242)
                texts += [
                    repr(client),
                    repr(client.config),
                    repr(auth),
                    str(raised.value),
                    repr(raised.value),
                ]
    texts.append(caplog.text)
    for secret in (subject, *imds.issued, *workspace.state.oauth_tokens):
        for text in texts:
            assert secret not in text
