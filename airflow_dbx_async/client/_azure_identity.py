"""Azure identities without a secret: the VM's managed identity, and ``DefaultAzureCredential``.

:class:`AzureManagedIdentityAuth` asks the Azure instance metadata service (IMDS) for Microsoft Entra
ID tokens, the way ``ManagedIdentityCredential`` does: ``GET
http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=...`` with the
header ``Metadata: true`` and, for a user-assigned identity, ``client_id``. The request goes through
the one transport (retries, ``Retry-After``, counting); it is plain HTTP to a link-local address by
design (the service is only reachable from inside the VM, and never through a proxy: the client's
sessions do not read proxy settings from the environment).

:class:`DefaultAzureCredentialAuth` delegates to ``azure.identity.aio.DefaultAzureCredential`` (or any
credential with the same ``get_token``), an optional package: it does its own HTTP.

Both send the Azure Databricks token as the bearer, and with ``resource_id`` also the management
token (resource ``https://management.core.windows.net/``) as ``X-Databricks-Azure-SP-Management-Token``
with ``X-Databricks-Azure-Workspace-Resource-Id``, like the official provider. Tokens are cached per
identity and resource in the shared cache, one refresh at a time.
"""

from __future__ import annotations

import importlib
import importlib.util
import ipaddress
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from airflow_dbx_async.client._auth import (
    _AZURE_MANAGEMENT_RESOURCE,
    AZURE_DATABRICKS_RESOURCE_ID,
    AuthHeaders,
    FetchToken,
    TokenRequest,
)
from airflow_dbx_async.client._tokens import cached_token, forget_token, labelled, read_token
from airflow_dbx_async.client.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = (
    "AZURE_IMDS_TOKEN_URL",
    "AzureManagedIdentityAuth",
    "AzureTokenCredential",
    "DefaultAzureCredentialAuth",
)

AZURE_IMDS_TOKEN_URL = "http://169.254.169.254/metadata/identity/oauth2/token"
IMDS_API_VERSION = "2018-02-01"
_AZURE_IDENTITY = "azure-identity"


def _check_endpoint(endpoint: str, label: str) -> None:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(label, f"the metadata service endpoint {endpoint!r} is not an http(s) URL")
    if parts.scheme == "http":
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            address = None
        if parts.hostname != "localhost" and not (address and (address.is_link_local or address.is_loopback)):
            raise ConfigurationError(
                label,
                f"plain http to the metadata service at {parts.hostname} would carry the token "
                "unencrypted; only link-local or loopback addresses may be reached over http",
            )


async def _with_management(
    token_for: Callable[[str], Awaitable[str]], resource_id: str | None
) -> AuthHeaders:
    token = await token_for(AZURE_DATABRICKS_RESOURCE_ID)
    headers = {"Authorization": f"Bearer {token}"}
    secrets = [token]
    if resource_id:
        management = await token_for(_AZURE_MANAGEMENT_RESOURCE)
        headers["X-Databricks-Azure-SP-Management-Token"] = management
        headers["X-Databricks-Azure-Workspace-Resource-Id"] = resource_id
        secrets.append(management)
    return AuthHeaders(headers, tuple(secrets))


@dataclass(frozen=True)
class AzureManagedIdentityAuth:
    """The Azure VM's (or AKS node's) managed identity, through the instance metadata service.

    :param client_id: the client id of a user-assigned identity; ``None`` for the system-assigned one.
    :param resource_id: the workspace's Azure resource id; set it to also send the management token.
    :param endpoint: the metadata service's token endpoint (a stand-in in tests).
    :param label: names the credential in errors: the connection extra that chose it.
    """

    client_id: str | None = None
    resource_id: str | None = None
    endpoint: str = AZURE_IMDS_TOKEN_URL
    label: str = "use_azure_managed_identity"

    def __post_init__(self) -> None:
        _check_endpoint(self.endpoint, self.label)

    def _key(self, resource: str) -> tuple[str, ...]:
        return ("azure-mi", self.endpoint, self.client_id or "", resource)

    def token_request(self, resource: str) -> TokenRequest:
        """The metadata service request for a token of ``resource``."""
        query = {"api-version": IMDS_API_VERSION, "resource": resource}
        if self.client_id:
            query["client_id"] = self.client_id
        return TokenRequest(
            url=self.endpoint, form={}, secret="", method="GET", query=query, headers={"Metadata": "true"}
        )

    async def _token(self, fetch: FetchToken, resource: str) -> str:
        request = self.token_request(resource)

        async def acquire() -> tuple[str, float]:
            return read_token(await fetch(request), request.url)

        return await cached_token(self._key(resource), labelled(self.label, acquire))

    async def headers(self, base_url: str, fetch: FetchToken) -> AuthHeaders:
        """The bearer token, plus the management-token headers when ``resource_id`` is set."""
        return await _with_management(lambda resource: self._token(fetch, resource), self.resource_id)

    def invalidate(self, base_url: str, used: AuthHeaders) -> bool:
        """Forget the tokens sent with ``used`` (if still cached) so the next call fetches new ones."""
        forget_token(self._key(AZURE_DATABRICKS_RESOURCE_ID), used.secrets)
        forget_token(self._key(_AZURE_MANAGEMENT_RESOURCE), used.secrets)
        return True


class AzureTokenCredential(Protocol):
    """What :class:`DefaultAzureCredentialAuth` needs of a credential (``azure.identity.aio``'s shape)."""

    async def get_token(self, *scopes: str) -> Any:
        """An object with ``token`` (str) and ``expires_on`` (epoch seconds)."""


def _default_credential(label: str) -> Any:
    try:
        module = importlib.import_module("azure.identity.aio")
    except ImportError:
        raise ConfigurationError(
            label,
            f"needs the optional package '{_AZURE_IDENTITY}', which is not installed "
            f"(pip install {_AZURE_IDENTITY})",
        ) from None
    return module.DefaultAzureCredential()


def azure_identity_installed() -> bool:
    """Whether ``azure.identity`` can be imported (``DefaultAzureCredential`` is then available)."""
    try:
        return importlib.util.find_spec("azure.identity") is not None
    except ImportError:  # no "azure" namespace at all
        return False


@dataclass(frozen=True)
class DefaultAzureCredentialAuth:
    """``DefaultAzureCredential`` from the optional ``azure-identity`` package (workload identity on AKS).

    :param resource_id: the workspace's Azure resource id; set it to also send the management token.
    :param credential: a credential to use instead of a new ``DefaultAzureCredential`` per refresh;
        without it, ``azure-identity`` must be installed (checked here, before any request).
    :param label: names the credential in errors: the connection extra that chose it.
    """

    resource_id: str | None = None
    credential: AzureTokenCredential | None = field(default=None, compare=False)
    label: str = "use_default_azure_credential"

    def __post_init__(self) -> None:
        if self.credential is None and not azure_identity_installed():
            _default_credential(self.label)  # raises the one-line error naming the package

    def _key(self, resource: str) -> tuple[str, ...]:
        owner = "default" if self.credential is None else f"credential-{id(self.credential)}"
        return ("azure-default-credential", owner, resource)

    async def _acquire(self, resource: str) -> tuple[str, float]:
        owned = self.credential is None
        credential: Any = _default_credential(self.label) if owned else self.credential
        try:
            access = await credential.get_token(f"{resource}/.default")
        except ConfigurationError:
            raise
        except Exception as exc:  # azure-identity's own errors: not ours, and never retried
            reason = (str(exc).splitlines() or [""])[0][:300]
            raise ConfigurationError(
                self.label, f"DefaultAzureCredential could not get a token: {type(exc).__name__}: {reason}"
            ) from None
        finally:
            if owned:
                await credential.close()
        return access.token, float(access.expires_on) - time.time()

    async def _token(self, resource: str) -> str:
        return await cached_token(self._key(resource), labelled(self.label, lambda: self._acquire(resource)))

    async def headers(self, base_url: str, fetch: FetchToken) -> AuthHeaders:
        """The bearer token, plus the management-token headers when ``resource_id`` is set."""
        return await _with_management(self._token, self.resource_id)

    def invalidate(self, base_url: str, used: AuthHeaders) -> bool:
        """Forget the tokens sent with ``used`` (if still cached) so the next call fetches new ones."""
        forget_token(self._key(AZURE_DATABRICKS_RESOURCE_ID), used.secrets)
        forget_token(self._key(_AZURE_MANAGEMENT_RESOURCE), used.secrets)
        return True
