"""Each identity-based auth method side by side with the official hook, on the same connection.

Both must reach the workspace as the same identity, or fail alike. The stand-ins, connections and
helpers are those of ``test_auth_methods`` (where the operator runs on each method); this file needs
the official provider, which the lowest leg cannot install, so that leg leaves it out.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.databricks.hooks import databricks as official
from airflow.providers.databricks.hooks import databricks_base as official_base

from airflow_dbx_async.client import _tokens
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.testing.metadata_service import MetadataService
from tests.hooks.identity_stand_ins import (
    DATABRICKS,
    EXCHANGE,
    K8S_ISSUER,
    KEY,
    METHODS,
    STS_MODULE,
    UAMI,
    Identities,
    install_fake_azure_identity,
    write_policies,
)
from tests.hooks.test_auth_methods import (
    ASKED_ONCE,
    _our_tokens,
    identity,
    pushed_run_id,
    submit,
)
from tests.integration.test_proxies import ForwardProxy
from tests.reliability.conftest import run_try

pytestmark = [
    pytest.mark.usefixtures("identity_leftovers_collected"),
    pytest.mark.asyncio,
    # The official hook's deprecated ProvidersManager lookups.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    # The server-side transports of the official hook's refused TLS connections (see the fixture below).
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


async def test_the_kubernetes_token_request_is_the_official_one(
    identities: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = identities.connect(monkeypatch, "k8s_token_request")
    assert (await run_try(submit(conn_id))).errors == []
    await identities.official(official.DatabricksHook(conn_id, retry_limit=1).list_jobs)
    assert identities.k8s.requests == 2
    ours, theirs = identities.k8s.bodies
    assert (
        ours
        == theirs
        == {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": [K8S_ISSUER], "expirationSeconds": 600},
        }
    )
    assert identities.k8s.paths == ["/api/v1/namespaces/airflow/serviceaccounts/default/token"] * 2


def _official_reads(conn_id: str, run_id: int) -> tuple[Any, dict[str, Any]]:
    hook = official.DatabricksHook(conn_id, retry_limit=1)
    return hook.get_run_state(run_id), hook.oauth_tokens


@pytest.mark.parametrize("method", METHODS)
async def test_the_official_hook_reaches_the_workspace_on_the_same_connection(
    identities: Identities, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    conn_id = identities.connect(monkeypatch, method)
    result = await run_try(submit(conn_id))
    assert result.errors == []
    run_id = pushed_run_id(result)
    state, official_tokens = await identities.official(_official_reads, conn_id, run_id)
    assert state.is_terminal
    assert state.is_successful  # the official hook read the run our operator submitted
    asked = ASKED_ONCE[method]
    if method in ("managed_identity", "default_azure_credential"):
        kind = "azure-mi" if method == "managed_identity" else "azure-default-credential"
        ours = _our_tokens(kind)
        theirs = {resource: token["access_token"] for resource, token in official_tokens.items()}
        assert set(ours) == set(theirs) == set(asked["imds"])
        for resource, token in ours.items():  # the same identity's token for the same resource
            assert identity(token) == identity(theirs[resource])
            assert identity(token)["aud"] == resource
        if method == "managed_identity":
            assert identity(ours[DATABRICKS])["appid"] == UAMI
        # The official provider also asks for a second token per resource: its cache is per hook.
        assert dict(identities.imds.requests) == {r: 2 * n for r, n in asked["imds"].items()}
    else:
        [(endpoint, token)] = _our_tokens("federation").items()
        [(official_endpoint, official_token)] = official_tokens.items()
        assert endpoint == official_endpoint == f"https://{identities.host}/oidc/v1/token"
        # Both were issued by the workspace's exchange, under the same federation policy.
        assert {token, official_token["access_token"]} <= set(identities.workspace.state.oauth_tokens)
        assert identities.workspace.state.stats.requests[EXCHANGE] == 2
    if method == "aws":
        first, second = identities.sts.calls
        assert (
            first
            == second
            == {
                "aws_conn_id": "aws_test",
                "Audience": ["databricks"],
                "SigningAlgorithm": "RS256",
                "DurationSeconds": 900,
            }
        )


# --- failing alike ------------------------------------------------------------------------------------


def _official_fails(conn_id: str) -> str:
    try:
        official.DatabricksHook(conn_id, retry_limit=1).list_jobs()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    raise AssertionError("the official hook reached the workspace")


# method, what the connection gets wrong, the setting our one-line error names, what both errors say
FAILURES = [
    (
        "managed_identity",
        {"azure_managed_identity_client_id": "nobody"},
        "use_azure_managed_identity",
        ["400", "Identity not found"],
    ),
    (
        "k8s_projected_volume",
        {"k8s_projected_volume_token_path": "/nonexistent/token"},
        "federated_k8s: k8s_projected_volume_token_path",
        ["/nonexistent/token"],
    ),
    (
        "k8s_token_request",
        {"k8s_token_path": "<unknown pod token>"},
        "federated_k8s",
        ["401", "Unauthorized"],
    ),
    ("k8s_token_request", {"client_id": ""}, "client_id", ["client_id"]),
    (
        "token_provider",
        {"federated_token_provider": f"{__name__}.no_such_provider"},
        "federated_token_provider",
        ["no_such_provider"],
    ),
    (
        "aws",
        {"aws_jwt_audience": "someone-else"},
        "federated_aws",
        ["400", "invalid_grant", "The token audience does not match the federation policy."],
    ),
    (
        "k8s_projected_volume",
        {"client_id": "sp-unknown"},
        "federated_k8s",
        ["400", "invalid_grant", "No federation policy is configured for service principal 'sp-unknown'."],
    ),
]


@pytest.mark.parametrize(("method", "changes", "named", "words"), FAILURES)
async def test_a_refused_credential_fails_alike_on_both_sides(
    identities: Identities,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    changes: dict[str, Any],
    named: str,
    words: list[str],
) -> None:
    if "k8s_token_path" in changes:  # a pod token the API server does not know
        unknown = identities.folder / "unknown-pod-token"
        unknown.write_text("not-the-pod-token")
        changes = {"k8s_token_path": str(unknown)}
    conn_id = identities.connect(monkeypatch, method, **changes)
    result = await run_try(submit(conn_id))
    assert result.trigger_kwargs is None  # nothing was submitted: the worker could not authenticate
    assert identities.workspace.state.runs == {}
    [error] = result.errors
    ours, theirs = str(error), await identities.official(_official_fails, conn_id)
    assert "\n" not in ours
    assert named in ours
    for word in words:
        assert word in ours
        assert word in theirs


async def test_federated_aws_without_the_amazon_provider_fails_alike(
    identities: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, STS_MODULE, None)  # the Amazon provider is not installed
    conn_id = identities.connect(monkeypatch, "aws")
    [error] = (await run_try(submit(conn_id))).errors
    assert "federated_aws" in str(error)
    assert "apache-airflow-providers-amazon" in str(error)
    theirs = await identities.official(_official_fails, conn_id)
    assert theirs.startswith("AirflowOptionalProviderFeatureException")
    assert "apache-airflow-providers-amazon" in theirs
    assert identities.sts.calls == []


async def test_default_azure_credential_without_azure_identity_fails_alike(
    identities: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("azure", "azure.identity", "azure.identity.aio"):
        monkeypatch.setitem(sys.modules, name, None)  # azure-identity is not installed
    conn_id = identities.connect(monkeypatch, "default_azure_credential")
    [error] = (await run_try(submit(conn_id))).errors
    assert "use_default_azure_credential" in str(error)
    assert "azure-identity" in str(error)
    theirs = await identities.official(_official_fails, conn_id)
    assert theirs.startswith("AirflowOptionalProviderFeatureException")
    assert "azure" in theirs
    assert not identities.imds.requests


# --- a thousand triggers ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["managed_identity", "token_provider"])
async def test_the_proxy_carries_the_workspace_requests_never_the_metadata_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    # Plain http on loopback: the forward proxy stand-in does not tunnel (CONNECT).
    _tokens.clear_token_cache()
    install_fake_azure_identity(monkeypatch)
    async with MetadataService(key=KEY, identities=(UAMI,)) as imds, ForwardProxy() as proxy:
        write_policies(tmp_path, imds)
        config = EmulatorConfig(simulate=True, workspace=tmp_path, tokens=())
        async with EmulatorServer(config) as workspace:
            monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", imds.url)
            monkeypatch.setattr(
                official_base, "AZURE_METADATA_SERVICE_INSTANCE_URL", f"{imds.url}/metadata/instance"
            )
            for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
                monkeypatch.delenv(name, raising=False)
            extra: dict[str, Any] = {"proxies": {"http": proxy.url}}
            if method == "managed_identity":
                extra |= {"use_azure_managed_identity": True, "azure_managed_identity_client_id": UAMI}
            else:
                extra |= {"federated_token_provider": "tests.hooks.identity_stand_ins.supplied_token"}
            host = workspace.url.removeprefix("http://")
            body = {"conn_type": "databricks", "host": host, "schema": "http", "extra": json.dumps(extra)}
            monkeypatch.setenv("AIRFLOW_CONN_DBX_PROXIED", json.dumps(body))
            result = await run_try(submit("dbx_proxied"))
            assert result.errors == []
            ours = dict(proxy.seen)
            assert ours["POST /api/2.2/jobs/runs/submit"] == 1
            assert sum(ours.values()) == sum(workspace.state.stats.requests.values())  # every one of them
            if method == "token_provider":
                assert ours[EXCHANGE] == 1
            else:  # the official hook on the same connection: the same proxy, the metadata service direct
                assert dict(imds.requests) == {DATABRICKS: 1}
                run_id = pushed_run_id(result)
                state, _ = await asyncio.to_thread(_official_reads, "dbx_proxied", run_id)
                assert state.is_successful
                assert dict(imds.requests) == {DATABRICKS: 2}
                theirs = proxy.seen - Counter(ours)
                assert list(theirs) == ["GET /api/2.2/jobs/runs/get"]  # its one request
    _tokens.clear_token_cache()
