"""Every credential a connection can name, from its extras to a token the emulator accepts.

The connections are the official provider's; the hook reads them with :func:`connection_to_config`
and the trigger borrows the workspace they describe. Managed identities get their tokens from a local
stand-in of the Azure metadata service (reached through ``AZURE_POD_IDENTITY_AUTHORITY_HOST``, as
azure-identity's ``ManagedIdentityCredential`` reaches one), Kubernetes federation from a projected
token file, and a ``federated_token_provider`` from a function of this module.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from airflow.sdk import Connection

from airflow_dbx_async.client import (
    AuthError,
    AzureManagedIdentityAuth,
    AzureServicePrincipalAuth,
    BasicAuth,
    ConfigurationError,
    FederatedTokenAuth,
    JobsClient,
    KubernetesTokenRequest,
    OAuthM2MAuth,
    ProjectedVolumeToken,
    TokenAuth,
    _tokens,
    borrow_workspace,
)
from airflow_dbx_async.client._azure_identity import azure_identity_installed
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.exceptions import DatabricksConfigError
from airflow_dbx_async.hooks import DatabricksAsyncHook, connection_to_config, redact
from airflow_dbx_async.testing.metadata_service import MetadataService, mint_jwt
from airflow_dbx_async.triggers import DatabricksRunTrigger
from tests.helpers import CONN_ID, first_event

KEY = "hook-methods-shared-key"
ISSUER = "https://kubernetes.default.svc"
SUBJECT = "system:serviceaccount:airflow:worker"
AWS_ISSUER = "https://sts.amazonaws.com"
AWS_ROLE = "arn:aws:iam::123456789012:role/airflow"
SP = "sp-hook-methods"
RESOURCE_ID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Databricks/workspaces/w"
DATABRICKS = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
MANAGEMENT = "https://management.core.windows.net/"
TASK = {"task_key": "t", "notebook_task": {"notebook_path": "/x"}, "sim_duration_seconds": 0.2}
_SUBJECTS: list[str] = []


def supplied_token() -> str:
    """The ``federated_token_provider`` of these connections."""
    return _SUBJECTS[0]


def subject(issuer: str = ISSUER, sub: str = SUBJECT, aud: str = ISSUER) -> str:
    now = int(time.time())
    return mint_jwt({"iss": issuer, "aud": aud, "sub": sub, "iat": now, "exp": now + 900}, KEY)


def conn(**fields: Any) -> Connection:
    extra = fields.pop("extra", {})
    fields.setdefault("host", "adb-1.azuredatabricks.net")
    return Connection(conn_id="c", conn_type="databricks", extra=json.dumps(extra), **fields)


def inner(auth: Any) -> Any:
    return getattr(auth, "inner", auth)


# --- which credential, in the official order ---------------------------------------------------------

PRECEDENCE = [
    ({"password": "p", "extra": {"token": "t", "use_azure_managed_identity": True}}, TokenAuth),
    ({"password": "p", "extra": {"use_azure_managed_identity": True}}, TokenAuth),
    (
        {"login": "a", "password": "s", "extra": {"azure_tenant_id": "t", "use_azure_managed_identity": 1}},
        AzureServicePrincipalAuth,
    ),
    (
        {"extra": {"use_azure_managed_identity": "yes", "use_default_azure_credential": True}},
        AzureManagedIdentityAuth,
    ),
    (
        {"login": "a", "password": "s", "extra": {"use_azure_managed_identity": True}},
        AzureManagedIdentityAuth,
    ),
    (
        {"login": "a", "password": "s", "extra": {"service_principal_oauth": True, "federated_k8s": True}},
        OAuthM2MAuth,
    ),
    (
        {"extra": {"federated_token_provider": f"{__name__}.supplied_token", "federated_k8s": True}},
        FederatedTokenAuth,
    ),
    ({"login": "federated_k8s", "extra": {"client_id": SP}}, FederatedTokenAuth),
    ({"login": "a", "password": "s", "extra": {"federated_k8s": "false"}}, BasicAuth),
]


@pytest.mark.parametrize(("fields", "kind"), PRECEDENCE)
def test_the_first_method_that_applies_wins_in_the_official_order(fields: dict[str, Any], kind: type) -> None:
    assert type(inner(connection_to_config(conn(**fields)).auth)) is kind


def test_managed_identity_extras() -> None:
    extra = {
        "use_azure_managed_identity": True,
        "azure_managed_identity_client_id": "uami",
        "azure_resource_id": RESOURCE_ID,
    }
    auth = inner(connection_to_config(conn(extra=extra)).auth)
    assert (auth.client_id, auth.resource_id) == ("uami", RESOURCE_ID)
    assert auth.endpoint == "http://169.254.169.254/metadata/identity/oauth2/token"


def test_kubernetes_extras_and_official_defaults(tmp_path: Path) -> None:
    auth = inner(connection_to_config(conn(extra={"federated_k8s": True, "client_id": SP})).auth)
    assert auth.client_id == SP
    assert auth.label == "federated_k8s"
    assert inner(auth.source) == KubernetesTokenRequest()  # the official provider's defaults
    extra = {
        "federated_k8s": True,
        "client_id": SP,
        "audience": "aud",
        "expiration_seconds": "600",
        "k8s_token_path": "/t",
        "k8s_namespace_path": "/n",
    }
    source = inner(inner(connection_to_config(conn(extra=extra)).auth).source)
    assert (source.audience, source.expiration_seconds, source.token_path, source.namespace_path) == (
        "aud",
        600,
        "/t",
        "/n",
    )
    extra = {"federated_k8s": True, "client_id": SP, "k8s_projected_volume_token_path": "/p"}
    assert inner(inner(connection_to_config(conn(extra=extra)).auth).source) == ProjectedVolumeToken("/p")


def test_azure_ad_endpoint_is_the_service_principals_authority() -> None:
    extra = {"azure_tenant_id": "t", "azure_ad_endpoint": "https://login.microsoftonline.us/"}
    auth = inner(connection_to_config(conn(login="a", password="s", extra=extra)).auth)
    assert auth.login_url == "https://login.microsoftonline.us"


REFUSED = [
    ({"extra": {"use_azure_managed_identity": "ture"}}, "use_azure_managed_identity"),
    ({"extra": {"federated_k8s": "maybe", "client_id": SP}}, "federated_k8s"),
    ({"extra": {"federated_k8s": True, "client_id": SP, "expiration_seconds": "1.5"}}, "expiration_seconds"),
    ({"extra": {"federated_k8s": True}}, "client_id"),
    (
        {"extra": {"federated_aws": True, "aws_web_identity_token_duration": "x"}},
        "aws_web_identity_token_duration",
    ),
    ({"extra": {"federated_token_provider": "no_such_module.mint"}}, "federated_token_provider"),
    ({"extra": {"federated_token_provider": "nodots"}}, "federated_token_provider"),
    (
        {"login": "a", "password": "s", "extra": {"azure_tenant_id": "t", "azure_ad_endpoint": "http://x"}},
        "azure_ad_endpoint",
    ),
    ({"extra": {"proxies": ["http://proxy:3128"]}}, "proxies"),
    ({"extra": {"proxies": {"ftp": "http://proxy:3128"}}}, "proxies"),
    ({"extra": {"proxies": {"https": ""}}}, "proxies"),
    ({"extra": {"proxies": {"https": "socks5://proxy:1080"}}}, "proxies"),
    ({"extra": {"proxies_from_env": "sure"}}, "proxies_from_env"),
]


@pytest.mark.parametrize(("fields", "field"), REFUSED)
def test_bad_values_are_refused_in_one_line_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        connection_to_config(conn(**fields))
    assert caught.value.field == field
    assert "\n" not in str(caught.value)


def test_federated_aws_without_the_amazon_provider_names_the_extra_and_the_package(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "airflow.providers.amazon.aws.hooks.sts", None)
    for fields in ({"extra": {"federated_aws": True}}, {"login": "federated_aws"}):
        with pytest.raises(ConfigurationError) as caught:
            connection_to_config(conn(**fields))
        assert caught.value.field == "federated_aws"
        assert "apache-airflow-providers-amazon" in str(caught.value)


@pytest.mark.skipif(azure_identity_installed(), reason="azure-identity is installed")
def test_default_azure_credential_without_azure_identity_is_a_config_error(monkeypatch) -> None:
    body = {"conn_type": "databricks", "host": "adb-1.azuredatabricks.net"}
    body["extra"] = json.dumps({"use_default_azure_credential": True})
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(body))
    with pytest.raises(DatabricksConfigError, match="use_default_azure_credential.*azure-identity"):
        DatabricksAsyncHook(CONN_ID).get_config()


# --- against the emulator -----------------------------------------------------------------------------


class FakeSts:
    """``StsHook(aws_conn_id=...).get_conn()`` of the Amazon provider, minting a JWT the emulator trusts."""

    calls: list[dict[str, Any]] = []

    def __init__(self, aws_conn_id: str) -> None:
        self.aws_conn_id = aws_conn_id

    def get_conn(self) -> FakeSts:
        return self

    def get_web_identity_token(self, **kwargs: Any) -> dict[str, str]:
        FakeSts.calls.append({"aws_conn_id": self.aws_conn_id, **kwargs})
        return {"WebIdentityToken": subject(AWS_ISSUER, AWS_ROLE, kwargs["Audience"][0])}


@pytest.fixture
def fake_amazon(monkeypatch: pytest.MonkeyPatch) -> type[FakeSts]:
    module = types.ModuleType("airflow.providers.amazon.aws.hooks.sts")
    module.StsHook = FakeSts  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "airflow.providers.amazon.aws.hooks.sts", module)
    FakeSts.calls = []
    return FakeSts


@pytest_asyncio.fixture
async def imds(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MetadataService]:
    _tokens.clear_token_cache()
    async with MetadataService(key=KEY, identities=("uami",)) as service:
        monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", service.url)
        yield service
    _tokens.clear_token_cache()


@pytest_asyncio.fixture
async def workspace(tmp_path: Path, imds: MetadataService) -> AsyncIterator[EmulatorServer]:
    policies = {
        "policies": [
            {"issuer": ISSUER, "audiences": [ISSUER], "subject": SUBJECT, "client_id": SP, "key": KEY},
            {"issuer": AWS_ISSUER, "audiences": ["databricks"], "subject": AWS_ROLE, "key": KEY},
        ],
        "entra": {"issuer": imds.issuer, "key": KEY},
    }
    (tmp_path / "federation.json").write_text(json.dumps(policies))
    _SUBJECTS[:] = [subject()]
    async with EmulatorServer(EmulatorConfig(simulate=True, workspace=tmp_path, tokens=())) as server:
        yield server


def connect(monkeypatch: pytest.MonkeyPatch, url: str, extra: dict[str, Any], **fields: Any) -> None:
    body = {"conn_type": "databricks", "host": url, "extra": json.dumps(extra), **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(body))


def methods(tmp_path: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    token_file = tmp_path / "projected-token"
    token_file.write_text(subject() + "\n")
    return {
        "managed identity": (
            {
                "use_azure_managed_identity": True,
                "azure_managed_identity_client_id": "uami",
                "azure_resource_id": RESOURCE_ID,
            },
            {},
        ),
        "token provider": ({"federated_token_provider": f"{__name__}.supplied_token", "client_id": SP}, {}),
        "kubernetes": (
            {"client_id": SP, "k8s_projected_volume_token_path": str(token_file)},
            {"login": "federated_k8s"},
        ),
        "aws": ({"federated_aws": True, "aws_conn_id": "aws_test"}, {}),
    }


METHODS = ["managed identity", "token provider", "kubernetes", "aws"]


@pytest.mark.asyncio
@pytest.mark.parametrize("method", METHODS)
async def test_each_method_reaches_the_workspace_through_the_hook_and_the_trigger(
    method: str, workspace, imds, fake_amazon, tmp_path, monkeypatch, caplog
) -> None:
    extra, fields = methods(tmp_path)[method]
    connect(monkeypatch, workspace.url, extra, **fields)
    hook = DatabricksAsyncHook(CONN_ID)
    config = await hook.aget_config()
    run_id = workspace.state.submit({"run_name": method, "tasks": [TASK]})
    trigger = DatabricksRunTrigger(run_id=run_id, databricks_conn_id=CONN_ID, polling_period_seconds=0.1)
    event = await first_event(trigger)
    assert event.status == "success"
    issued = [t.access_token for t in _tokens._TOKENS.values()]
    assert issued
    for token in issued:  # registered with Airflow's masker when first used, and never logged
        assert redact(f"x {token} y") == "x *** y"
        assert token not in caplog.text
    if method == "managed identity":
        assert imds.requests == {DATABRICKS: 1, MANAGEMENT: 1}
        assert imds.client_ids == ["uami", "uami"]
    elif method == "aws":
        assert fake_amazon.calls == [
            {
                "aws_conn_id": "aws_test",
                "Audience": ["databricks"],
                "SigningAlgorithm": "RS256",
                "DurationSeconds": 300,
            }
        ]
    else:
        assert workspace.state.stats.requests["POST /oidc/v1/token"] == 1
    if isinstance(inner(config.auth), FederatedTokenAuth):
        assert redact(_SUBJECTS[0]) == "***" or method == "aws"
    assert "\n" not in repr(config)


@pytest.mark.asyncio
async def test_a_refused_subject_fails_in_one_line_without_the_token(workspace, monkeypatch, caplog) -> None:
    _SUBJECTS[:] = [subject(sub="intruder")]
    connect(
        monkeypatch,
        workspace.url,
        {"federated_token_provider": f"{__name__}.supplied_token", "client_id": SP},
    )
    config = await DatabricksAsyncHook(CONN_ID).aget_config()
    with pytest.raises(AuthError) as caught:
        async with JobsClient(config) as client:
            await client.list_runs()
    text = str(caught.value)
    assert "federated_token_provider" in text
    assert "\n" not in text
    assert _SUBJECTS[0] not in text
    assert _SUBJECTS[0] not in caplog.text


@pytest.mark.asyncio
async def test_a_thousand_triggers_on_one_managed_identity_cause_one_imds_request_per_refresh(
    workspace, imds, monkeypatch
) -> None:
    connect(monkeypatch, workspace.url, {"use_azure_managed_identity": True, "max_requests_per_second": 0})
    now = [time.time()]
    monkeypatch.setattr(_tokens, "_clock", lambda: now[0])

    async def one() -> None:
        config = await DatabricksAsyncHook(CONN_ID).aget_config()
        async with borrow_workspace(config) as borrowed:
            await borrowed.client.list_runs()

    await asyncio.gather(*(one() for _ in range(1000)))
    assert imds.requests == {DATABRICKS: 1}
    now[0] += 3600  # every token is now past its refresh time
    await asyncio.gather(*(one() for _ in range(1000)))
    assert imds.requests == {DATABRICKS: 2}
