"""Stand-ins for the identity services that the connection's auth methods talk to.

- :class:`KubernetesApi`: the Kubernetes TokenRequest API over HTTPS, behind a throw-away cluster CA of
  its own (the client must trust that CA alone);
- :class:`FakeSts`: the Amazon provider's ``StsHook`` with ``GetWebIdentityToken`` (the provider is not
  a dependency of this project);
- :func:`install_fake_azure_identity`: the parts of ``azure-identity`` that the official provider and
  ``use_default_azure_credential`` call (not a dependency either). Like ``ManagedIdentityCredential``,
  they ask the metadata service found through ``AZURE_POD_IDENTITY_AUTHORITY_HOST``, so a
  :class:`~airflow_dbx_async.testing.metadata_service.MetadataService` answers both implementations.

Every token they issue is a JWT from :func:`mint_jwt`, recorded in ``issued`` so a test can look for
it in logs, errors and XComs. :func:`serve_identities` starts them all with an emulator (over TLS)
whose ``federation.json`` trusts their tokens, and :class:`Identities` writes the connection of each
method the way a user would.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import os
import ssl
import sys
import time
import types
import warnings
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import requests
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_dbx_async.client import _tokens
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.hooks import _credentials
from airflow_dbx_async.testing.metadata_service import MetadataService, mint_jwt

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path
    from types import TracebackType

    import pytest

K8S_ISSUER = "https://kubernetes.default.svc"
AWS_ISSUER = "https://sts.amazonaws.com"
AWS_ROLE = "arn:aws:iam::123456789012:role/airflow"
STS_MODULE = "airflow.providers.amazon.aws.hooks.sts"
_IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token"


class KubernetesApi:
    """``POST /api/v1/namespaces/<ns>/serviceaccounts/<sa>/token`` over HTTPS, as the API server answers it.

    The caller must send the pod's own token (``pod_token``) as bearer; the answer is 201 with
    ``status.token``, a JWT for ``system:serviceaccount:<ns>:<sa>`` with the requested audiences and
    lifetime, signed with ``key``.

    :param folder: where the cluster CA (``ca_file``) is written.
    """

    def __init__(self, folder: Path, *, key: str, pod_token: str) -> None:
        self.key = key
        self.pod_token = pod_token
        self.requests = 0
        self.paths: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.issued: list[str] = []
        self.ca_file = str(folder / "cluster-ca.crt")
        self.url = ""
        self._server: TestServer | None = None
        self._folder = folder

    async def _token(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.paths.append(request.path)
        if request.headers.get("Authorization") != f"Bearer {self.pod_token}":
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "Unauthorized"}
            return web.json_response({**status, "reason": "Unauthorized", "code": 401}, status=401)
        body = await request.json()
        self.bodies.append(body)
        spec = body.get("spec", {})
        now = int(time.time())
        namespace, account = request.match_info["namespace"], request.match_info["account"]
        claims = {
            "iss": K8S_ISSUER,
            "aud": spec.get("audiences") or [K8S_ISSUER],
            "sub": f"system:serviceaccount:{namespace}:{account}",
            "iat": now,
            "nbf": now,
            "exp": now + int(spec.get("expirationSeconds", 3600)),
        }
        token = mint_jwt(claims, self.key)
        self.issued.append(token)
        answer = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "spec": spec}
        answer["status"] = {"token": token, "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        return web.json_response(answer, status=201)

    async def __aenter__(self) -> KubernetesApi:
        authority = trustme.CA()
        authority.cert_pem.write_to_path(self.ca_file)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(context)
        app = web.Application()
        app.router.add_post("/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token", self._token)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server(ssl=context)
        self.url = f"https://127.0.0.1:{self._server.port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            await self._server.close()


class FakeSts:
    """``StsHook(aws_conn_id=...).get_conn()``: mints the AWS-signed JWT that ``federated_aws`` exchanges."""

    key = ""
    calls: list[dict[str, Any]] = []
    issued: list[str] = []

    def __init__(self, aws_conn_id: str) -> None:
        self.aws_conn_id = aws_conn_id

    def get_conn(self) -> FakeSts:
        return self

    def get_web_identity_token(self, **kwargs: Any) -> dict[str, str]:
        FakeSts.calls.append({"aws_conn_id": self.aws_conn_id, **kwargs})
        now = int(time.time())
        claims = {"iss": AWS_ISSUER, "aud": kwargs["Audience"][0], "sub": AWS_ROLE, "iat": now}
        token = mint_jwt({**claims, "exp": now + int(kwargs["DurationSeconds"])}, FakeSts.key)
        FakeSts.issued.append(token)
        return {"WebIdentityToken": token}


def _module(monkeypatch: pytest.MonkeyPatch, name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.util.spec_from_loader(name, loader=None)  # find_spec() reads it
    for attribute, value in attributes.items():
        setattr(module, attribute, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def install_fake_sts(monkeypatch: pytest.MonkeyPatch, key: str) -> type[FakeSts]:
    """Make ``airflow.providers.amazon.aws.hooks.sts`` importable, with :class:`FakeSts` as ``StsHook``."""
    FakeSts.key, FakeSts.calls, FakeSts.issued = key, [], []
    _module(monkeypatch, STS_MODULE, StsHook=FakeSts)
    return FakeSts


@dataclass(frozen=True)
class AccessToken:
    """``azure.core.credentials.AccessToken``."""

    token: str
    expires_on: int


def _imds_request(scopes: tuple[str, ...], client_id: str | None) -> tuple[str, dict[str, str]]:
    authority = os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"].rstrip("/")
    # azure-identity turns the scope into the metadata service's resource the same way.
    params = {"api-version": "2018-02-01", "resource": scopes[0].removesuffix("/.default")}
    if client_id:
        params["client_id"] = client_id
    return f"{authority}{_IMDS_TOKEN_PATH}", params


def _access_token(body: dict[str, Any]) -> AccessToken:
    return AccessToken(body["access_token"], int(body["expires_on"]))


class ManagedIdentityCredential:
    """``azure.identity.ManagedIdentityCredential``: the metadata service, synchronously."""

    def __init__(self, *, client_id: str | None = None, **kwargs: Any) -> None:
        self.client_id = client_id

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        url, params = _imds_request(scopes, self.client_id)
        answer = requests.get(url, params=params, headers={"Metadata": "true"}, timeout=10)
        answer.raise_for_status()
        return _access_token(answer.json())


class DefaultAzureCredential(ManagedIdentityCredential):
    """``azure.identity.DefaultAzureCredential`` on a VM: its managed-identity link answers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(client_id=kwargs.get("managed_identity_client_id"))


class ClientSecretCredential:
    """``azure.identity.ClientSecretCredential``: imported by the official provider, never called here."""

    def __init__(self, **kwargs: Any) -> None:
        raise NotImplementedError("no Microsoft Entra ID stand-in in these tests")


@dataclass
class AsyncDefaultAzureCredential:
    """``azure.identity.aio.DefaultAzureCredential``: the same, with aiohttp; counts its ``close()``."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    closed: list[bool] = field(default_factory=list)

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        url, params = _imds_request(scopes, self.kwargs.get("managed_identity_client_id"))
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, params=params, headers={"Metadata": "true"}) as answer,
        ):
            answer.raise_for_status()
            return _access_token(await answer.json())

    async def close(self) -> None:
        self.closed.append(True)


def install_fake_azure_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``azure.identity`` and ``azure.identity.aio`` importable, with the classes above."""
    _module(monkeypatch, "azure")
    _module(
        monkeypatch,
        "azure.identity",
        ManagedIdentityCredential=ManagedIdentityCredential,
        DefaultAzureCredential=DefaultAzureCredential,
        ClientSecretCredential=ClientSecretCredential,
    )
    _module(
        monkeypatch,
        "azure.identity.aio",
        DefaultAzureCredential=lambda **kwargs: AsyncDefaultAzureCredential(kwargs),
    )


# --- a workspace trusting all of them -------------------------------------------------------------------

KEY = "auth-methods-shared-key"
SP = "sp-auth-methods"
UAMI = "uami-auth-methods"
SUBJECT = "system:serviceaccount:airflow:default"  # the official provider asks for "default"
CI_ISSUER = "https://token.actions.githubusercontent.com"
CI_SUBJECT = "repo:example/airflow:ref:refs/heads/main"
RESOURCE_ID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Databricks/workspaces/w"
DATABRICKS = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
MANAGEMENT = "https://management.core.windows.net/"
EXCHANGE = "POST /oidc/v1/token"
OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET = "emulator-sp", "emulator-secret"  # the emulator's default client
METHODS = [
    "managed_identity",
    "default_azure_credential",
    "k8s_projected_volume",
    "k8s_token_request",
    "token_provider",
    "aws",
]
"""The identity-based methods; :meth:`Identities.extra` knows ``oauth_m2m`` too."""
_SUBJECT_TOKENS: list[str] = []


def supplied_token() -> str:
    """The ``federated_token_provider`` of the ``token_provider`` connection (both hooks import it)."""
    now = int(time.time())
    claims = {"iss": CI_ISSUER, "aud": "databricks", "sub": CI_SUBJECT, "iat": now, "exp": now + 600}
    token = mint_jwt(claims, KEY)
    _SUBJECT_TOKENS.append(token)
    return token


@dataclass
class Identities:
    """The workspace, the identity stand-ins, and the connection of each method."""

    workspace: EmulatorServer
    imds: MetadataService
    k8s: KubernetesApi
    sts: type[FakeSts]
    folder: Path
    pod_token: str

    async def official(self, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)`` of the official (blocking) hook, in a worker thread as Airflow runs it."""
        return await asyncio.to_thread(call, *args)

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``: the official hook puts it after ``https://``, ours too."""
        return self.workspace.url.removeprefix("https://")

    def extra(self, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The connection extra and other fields of ``method``."""
        fields: dict[str, Any] = {}
        if method == "managed_identity":
            extra: dict[str, Any] = {
                "use_azure_managed_identity": True,
                "azure_managed_identity_client_id": UAMI,
                "azure_resource_id": RESOURCE_ID,
            }
        elif method == "default_azure_credential":
            extra = {"use_default_azure_credential": True}
        elif method == "k8s_projected_volume":
            extra = {"client_id": SP, "k8s_projected_volume_token_path": str(self.folder / "projected")}
            fields["login"] = "federated_k8s"
        elif method == "k8s_token_request":
            extra = {
                "federated_k8s": True,
                "client_id": SP,
                "k8s_token_path": str(self.folder / "pod-token"),
                "k8s_namespace_path": str(self.folder / "namespace"),
                "expiration_seconds": 600,
            }
        elif method == "token_provider":
            extra = {"federated_token_provider": f"{__name__}.supplied_token"}
        elif method == "aws":
            extra = {"federated_aws": True, "aws_conn_id": "aws_test", "aws_web_identity_token_duration": 900}
        else:
            assert method == "oauth_m2m"
            extra = {"service_principal_oauth": True}
            fields |= {"login": OAUTH_CLIENT_ID, "password": OAUTH_CLIENT_SECRET}
        return {**extra, "ca_file": self.workspace.ca_file}, fields

    def connect(self, monkeypatch: pytest.MonkeyPatch, method: str, **changes: Any) -> str:
        """Define the connection of ``method`` (``changes`` go into its extra); returns its id."""
        extra, fields = self.extra(method)
        conn_id = f"dbx_{method}"
        body = {"conn_type": "databricks", "host": self.host, "extra": json.dumps({**extra, **changes})}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**body, **fields}))
        return conn_id

    def trust_nothing(self) -> None:
        """From now on the workspace refuses every federated and Entra ID token."""
        policies = self.folder / "workspace" / "federation.json"
        policies.write_text(json.dumps({"policies": [], "entra": {"issuer": "https://nobody", "key": KEY}}))

    @property
    def projected_token(self) -> str:
        """The subject token in the projected volume file."""
        return (self.folder / "projected").read_text().strip()

    def subject_tokens(self, method: str) -> list[str]:
        """The subject tokens that ``method`` exchanged so far."""
        if method == "k8s_projected_volume":
            return [self.projected_token]
        by_method = {
            "k8s_token_request": self.k8s.issued,
            "aws": self.sts.issued,
            "token_provider": _SUBJECT_TOKENS,
        }
        return list(by_method.get(method, []))

    def secrets(self) -> list[str]:
        """Every token and subject token issued so far, the pod's own token and the OAuth secret."""
        issued = list(self.workspace.state.oauth_tokens) + self.imds.issued + self.k8s.issued
        extra = [self.pod_token, self.projected_token, OAUTH_CLIENT_SECRET]
        return issued + self.sts.issued + _SUBJECT_TOKENS + extra


def _k8s_subject(lifetime: int = 900) -> str:
    now = int(time.time())
    claims = {"iss": K8S_ISSUER, "aud": [K8S_ISSUER], "sub": SUBJECT, "iat": now, "exp": now + lifetime}
    return mint_jwt(claims, KEY)


def write_policies(folder: Path, imds: MetadataService) -> None:
    """``federation.json`` trusting the stand-ins' tokens (and the ``token_provider``'s)."""
    policies = [
        {"issuer": K8S_ISSUER, "audiences": [K8S_ISSUER], "subject": SUBJECT, "client_id": SP, "key": KEY},
        {"issuer": AWS_ISSUER, "audiences": ["databricks"], "subject": AWS_ROLE, "key": KEY},
        {"issuer": CI_ISSUER, "audiences": ["databricks"], "subject": CI_SUBJECT, "key": KEY},
    ]
    body = {"policies": policies, "entra": {"issuer": imds.issuer, "key": KEY}}
    (folder / "federation.json").write_text(json.dumps(body))


@asynccontextmanager
async def serve_identities(folder: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Identities]:
    """An emulator over TLS trusting every stand-in, and both hooks pointed at the stand-ins.

    :param folder: for the token files, the cluster CA and the workspace folder.
    """
    _tokens.clear_token_cache()
    _SUBJECT_TOKENS.clear()
    pod_token = mint_jwt({"iss": K8S_ISSUER, "sub": "system:serviceaccount:airflow:airflow-worker"}, "pod")
    (folder / "pod-token").write_text(pod_token + "\n")
    (folder / "namespace").write_text("airflow\n")
    (folder / "projected").write_text(_k8s_subject() + "\n")
    (folder / "workspace").mkdir()
    sts = install_fake_sts(monkeypatch, KEY)
    install_fake_azure_identity(monkeypatch)
    async with (
        MetadataService(key=KEY, identities=(UAMI,)) as imds,
        KubernetesApi(folder, key=KEY, pod_token=pod_token) as k8s,
    ):
        write_policies(folder / "workspace", imds)
        config = EmulatorConfig(simulate=True, workspace=folder / "workspace", tokens=(), tls=True)
        async with EmulatorServer(config) as workspace:
            assert workspace.ca_file is not None
            monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", imds.url)
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", workspace.ca_file)  # the official hook's requests
            for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
                monkeypatch.delenv(name, raising=False)
            if importlib.util.find_spec("airflow.providers.databricks") is not None:  # not in the lowest leg
                from airflow.providers.databricks.hooks import databricks_base as official_base

                instance_url = f"{imds.url}/metadata/instance"
                monkeypatch.setattr(official_base, "AZURE_METADATA_SERVICE_INSTANCE_URL", instance_url)
                monkeypatch.setattr(official_base, "K8S_TOKEN_SERVICE_URL", k8s.url)
                monkeypatch.setattr(official_base, "K8S_CA_CERT_PATH", k8s.ca_file)
            monkeypatch.setattr(_credentials, "K8S_API_URL", k8s.url)
            monkeypatch.setattr(_credentials, "K8S_CA_FILE", k8s.ca_file)
            yield Identities(workspace, imds, k8s, sts, folder, pod_token)
    _tokens.clear_token_cache()


def collect_server_leftovers() -> None:
    """Collect the TLS transports a stopped server leaves to the garbage collector.

    A request refused by the official hook (``requests``) leaves its TLS connection half-closed on the
    server side; its transport goes with the stopped server and warns when collected. Call this where
    that warning can be ignored (the end of a module), not in whichever test runs next.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
