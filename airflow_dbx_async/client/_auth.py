"""Credentials and what they add to a request: PAT, Basic, OAuth M2M and Azure service principals.

An auth object turns into :class:`AuthHeaders`: the headers of one request plus the secrets that no
error or log line may show. OAuth and Azure tokens come from the client-credentials grant, sent as a
:class:`TokenRequest` through the caller's ``fetch`` (the transport: the one HTTP path, with its
retries, error translation, redaction and request count). Tokens are cached per process and per
credential (a module-level cache keyed by a hash of the credential), so thousands of triggers polling
the same workspace share one token. A token is refreshed :data:`TOKEN_REFRESH_MARGIN_SECONDS` before
it expires; when Databricks still rejects it, :meth:`invalidate` drops it and the request is sent once
more with a fresh one. Every ``repr`` masks secrets.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from airflow_dbx_async.client.errors import AuthError

__all__ = (
    "Auth",
    "AuthHeaders",
    "AzureServicePrincipalAuth",
    "BasicAuth",
    "FetchToken",
    "OAuthM2MAuth",
    "TokenAuth",
    "TokenRequest",
    "clear_token_cache",
)

AZURE_DATABRICKS_RESOURCE_ID = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
_AZURE_MANAGEMENT_RESOURCE = "https://management.core.windows.net/"
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
_DEFAULT_LIFETIME_SECONDS = 300.0
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
    """A client-credentials grant to POST (form-encoded) to a token endpoint.

    :param url: the token endpoint.
    :param form: the form fields.
    :param secret: the client secret, redacted from any error about this request.
    :param basic_login: when set, the client authenticates with HTTP Basic ``basic_login:secret``.
    """

    url: str
    form: Mapping[str, str] = field(repr=False)
    secret: str = field(repr=False)
    basic_login: str | None = None


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


Auth = TokenAuth | BasicAuth | OAuthM2MAuth | AzureServicePrincipalAuth


@dataclass
class _CachedToken:
    access_token: str = field(repr=False)
    expires_at: float


_TOKENS: dict[tuple[str, ...], _CachedToken] = {}
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, ...], asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_clock: Callable[[], float] = time.time


def clear_token_cache() -> None:
    """Forget every cached token (tests, or after rotating a secret)."""
    _TOKENS.clear()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _fresh(cached: _CachedToken | None) -> bool:
    return cached is not None and _clock() < cached.expires_at - TOKEN_REFRESH_MARGIN_SECONDS


def _lock_for(key: tuple[str, ...]) -> asyncio.Lock:
    # asyncio locks belong to one loop; the token cache is shared by all loops of the process.
    per_loop = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(key, asyncio.Lock())


def _invalidate(key: tuple[str, ...], used_secrets: tuple[str, ...]) -> None:
    cached = _TOKENS.get(key)
    if cached is not None and cached.access_token in used_secrets:
        _TOKENS.pop(key, None)


async def _cached_token(key: tuple[str, ...], fetch: FetchToken, request: TokenRequest) -> str:
    cached = _TOKENS.get(key)
    if cached is not None and _fresh(cached):
        return cached.access_token
    async with _lock_for(key):
        cached = _TOKENS.get(key)
        if cached is not None and _fresh(cached):
            return cached.access_token
        token, lifetime = _read_token(await fetch(request), request.url)
        _TOKENS[key] = _CachedToken(token, _clock() + lifetime)
        return token


def _read_token(raw: bytes, url: str) -> tuple[str, float]:
    """The access token and its lifetime in seconds from a grant's answer."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        body = None
    # Never quote this body in an error: it may hold the very token we failed to read.
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("access_token"), str)
        or not body["access_token"]
    ):
        path = urlsplit(url).path or "/"
        raise AuthError(
            200, "INVALID_TOKEN_RESPONSE", "token endpoint answer has no access_token", "POST", path
        )
    try:
        lifetime = float(body.get("expires_in", _DEFAULT_LIFETIME_SECONDS))
    except (TypeError, ValueError):
        lifetime = _DEFAULT_LIFETIME_SECONDS
    return body["access_token"], lifetime
