"""Credentials and what they add to a request: PAT, Basic, OAuth M2M and Azure service principals.

An auth object turns into :class:`AuthHeaders`: the headers of one request plus the secrets that no
error or log line may show. OAuth and Azure tokens come from the client-credentials grant, sent as a
:class:`TokenRequest` through the caller's ``fetch`` (the transport: the one HTTP path, with its
retries, error translation, redaction and request count). Tokens live in the per-process cache of
``_tokens`` (keyed by a hash of the credential), so thousands of triggers polling the same workspace
share one token and one refresh. A token is refreshed some time before it expires (the margin plus a
random jitter); when Databricks still rejects it, :meth:`invalidate` drops it and the request is sent
once more with a fresh one. Every ``repr`` masks secrets. Managed identities and token federation
live in ``_azure_mi`` and ``_federation``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from airflow_dbx_async.client._tokens import (
    TOKEN_REFRESH_MARGIN_SECONDS,
    cached_token,
    clear_token_cache,
    forget_token,
    read_token,
)

__all__ = (
    "Auth",
    "AuthHeaders",
    "AzureServicePrincipalAuth",
    "BasicAuth",
    "FetchToken",
    "OAuthM2MAuth",
    "TokenAuth",
    "TOKEN_REFRESH_MARGIN_SECONDS",
    "TokenRequest",
    "clear_token_cache",
)

AZURE_DATABRICKS_RESOURCE_ID = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
_AZURE_MANAGEMENT_RESOURCE = "https://management.core.windows.net/"
_MASK = "***"


@dataclass(frozen=True)
class AuthHeaders:
    """What a credential adds to one request.

    :param headers: the headers that authenticate the request.
    :param secrets: every secret value in them (or behind them), to redact from errors and logs.
    """

    headers: Mapping[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True)
class TokenRequest:
    """A request to a token endpoint: by default a form-encoded POST (a client-credentials grant).

    :param url: the token endpoint.
    :param form: the form fields of a POST (empty for a GET).
    :param secret: the secret sent (client secret, subject token), redacted from any error about it.
    :param basic_login: when set, the client authenticates with HTTP Basic ``basic_login:secret``.
    :param method: ``POST`` or ``GET`` (the Azure instance metadata service).
    :param query: query parameters.
    :param headers: extra headers (``Metadata: true``, or the bearer of a Kubernetes API request);
        an ``Authorization`` value is redacted from errors too.
    :param json_body: a JSON body instead of the form (the Kubernetes TokenRequest API).
    :param ca_file: the only CA trusted for this endpoint (the Kubernetes API server's cluster CA);
        otherwise the endpoint is verified against the system CA store (see ``_pool``).
    """

    url: str
    form: Mapping[str, str] = field(repr=False)
    secret: str = field(repr=False)
    basic_login: str | None = None
    method: str = "POST"
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    json_body: Mapping[str, object] | None = field(default=None, repr=False)
    ca_file: str | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret this request carries, to redact from errors."""
        bearer = self.headers.get("Authorization", "")
        return (self.secret, bearer, bearer.partition(" ")[2])


FetchToken = Callable[[TokenRequest], Awaitable[bytes]]
"""Sends a :class:`TokenRequest` and returns the raw body of its 2xx answer (errors are raised)."""


@dataclass(frozen=True)
class TokenAuth:
    """A bearer token: a personal access token or an already-issued OAuth token."""

    token: str = field(repr=False)

    def __repr__(self) -> str:
        return f"TokenAuth(token={_MASK!r})"

    async def headers(self, base_url: str, fetch: FetchToken) -> AuthHeaders:
        """The bearer header."""
        return AuthHeaders({"Authorization": f"Bearer {self.token}"}, (self.token,))

    def invalidate(self, base_url: str, used: AuthHeaders) -> bool:
        """A static token cannot be refreshed: always ``False``."""
        return False


@dataclass(frozen=True)
class BasicAuth:
    """HTTP Basic auth from a connection's login and password (deprecated by Databricks)."""

    login: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"BasicAuth(login={self.login!r}, password={_MASK!r})"

    async def headers(self, base_url: str, fetch: FetchToken) -> AuthHeaders:
        """The Basic header; both the password and its encoded form are secrets."""
        value = aiohttp.BasicAuth(self.login, self.password).encode()
        return AuthHeaders({"Authorization": value}, (self.password, value.split(" ", 1)[-1]))

    def invalidate(self, base_url: str, used: AuthHeaders) -> bool:
        """A password cannot be refreshed: always ``False``."""
        return False


@dataclass(frozen=True)
class OAuthM2MAuth:
    """A Databricks service principal using OAuth machine-to-machine (client credentials).

    :param client_id: the service principal's application id.
    :param client_secret: its OAuth secret.
    :param token_url: the token endpoint; default ``{base_url}/oidc/v1/token``.
    :param scopes: the requested scope.
    """

    client_id: str
    client_secret: str = field(repr=False)
    token_url: str | None = None
    scopes: str = "all-apis"

    def __repr__(self) -> str:
        return (
            f"OAuthM2MAuth(client_id={self.client_id!r}, client_secret={_MASK!r}, "
            f"token_url={self.token_url!r}, scopes={self.scopes!r})"
        )

    def _endpoint(self, base_url: str) -> str:
        return self.token_url or f"{base_url.rstrip('/')}/oidc/v1/token"

    def _key(self, base_url: str) -> tuple[str, ...]:
        return (
            "oauth-m2m",
            self._endpoint(base_url),
            self.client_id,
            _digest(self.client_secret),
            self.scopes,
        )

    async def headers(self, base_url: str, fetch: FetchToken) -> AuthHeaders:
        """``Authorization: Bearer <token>`` with a cached or freshly fetched token."""
        request = TokenRequest(
            url=self._endpoint(base_url),
            form={"grant_type": "client_credentials", "scope": self.scopes},
            secret=self.client_secret,
            basic_login=self.client_id,
        )
        token = await _cached_token(self._key(base_url), fetch, request)
        return AuthHeaders({"Authorization": f"Bearer {token}"}, (token, self.client_secret))

    def invalidate(self, base_url: str, used: AuthHeaders) -> bool:
        """Forget the token sent with ``used`` (if still cached) so the next call fetches a new one."""
        _invalidate(self._key(base_url), used.secrets)
        return True


@dataclass(frozen=True)
class AzureServicePrincipalAuth:
    """A Microsoft Entra ID (Azure AD) service principal, for Azure Databricks workspaces.

    :param tenant_id: the Entra ID tenant.
    :param client_id: the service principal's application id.
    :param client_secret: its client secret.
    :param resource_id: the workspace's Azure resource id; set it when the principal is not a workspace
        user, so the management-token headers are sent too.
    :param login_url: the Entra ID authority.
    """

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    resource_id: str | None = None
    login_url: str = "https://login.microsoftonline.com"

    def __repr__(self) -> str:
        return (
            f"AzureServicePrincipalAuth(tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, "
            f"client_secret={_MASK!r}, resource_id={self.resource_id!r}, login_url={self.login_url!r})"
        )

    def _key(self, resource: str) -> tuple[str, ...]:
        return (
            "azure-sp",
            self.login_url,
            self.tenant_id,
            self.client_id,
            _digest(self.client_secret),
            resource,
        )

    async def _token(self, fetch: FetchToken, resource: str) -> str:
        request = TokenRequest(
            url=f"{self.login_url.rstrip('/')}/{self.tenant_id}/oauth2/v2.0/token",
            form={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                # The management resource keeps its slash: "...net//.default".
                "scope": f"{resource}/.default",
            },
            secret=self.client_secret,
        )
        return await _cached_token(self._key(resource), fetch, request)

    async def headers(self, base_url: str, fetch: FetchToken) -> AuthHeaders:
        """The bearer token, plus the management-token headers when ``resource_id`` is set."""
        token = await self._token(fetch, AZURE_DATABRICKS_RESOURCE_ID)
        headers = {"Authorization": f"Bearer {token}"}
        secrets = [token, self.client_secret]
        if self.resource_id:
            management = await self._token(fetch, _AZURE_MANAGEMENT_RESOURCE)
            headers["X-Databricks-Azure-SP-Management-Token"] = management
            headers["X-Databricks-Azure-Workspace-Resource-Id"] = self.resource_id
            secrets.append(management)
        return AuthHeaders(headers, tuple(secrets))

    def invalidate(self, base_url: str, used: AuthHeaders) -> bool:
        """Forget the tokens sent with ``used`` (if still cached) so the next call fetches new ones."""
        _invalidate(self._key(AZURE_DATABRICKS_RESOURCE_ID), used.secrets)
        _invalidate(self._key(_AZURE_MANAGEMENT_RESOURCE), used.secrets)
        return True


class Auth(Protocol):
    """What the transport needs of a credential; every auth object of the client is one.

    Implementations are frozen (hashable: a :class:`~airflow_dbx_async.client.config.Workspace` is a
    key of the shared sessions) and mask their secrets in ``repr``.
    """

    async def headers(self, base_url: str, fetch: FetchToken) -> AuthHeaders:
        """The headers of one request, fetching (or reusing) a token through ``fetch`` if needed."""
        ...

    def invalidate(self, base_url: str, used: AuthHeaders) -> bool:
        """Forget the token sent with ``used``; ``True`` when a new one may be fetched."""
        ...


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _cached_token(key: tuple[str, ...], fetch: FetchToken, request: TokenRequest) -> str:
    async def acquire() -> tuple[str, float]:
        return read_token(await fetch(request), request.url)

    return await cached_token(key, acquire)


def _invalidate(key: tuple[str, ...], used_secrets: tuple[str, ...]) -> None:
    forget_token(key, used_secrets)
