"""Credentials and the headers they produce: PAT, Basic, OAuth M2M and Azure service principals.

OAuth and Azure tokens are fetched with the client-credentials grant and cached per process and per
credential (a module-level cache keyed by a hash of the credential), so thousands of triggers polling
the same workspace share one token. A token is refreshed :data:`TOKEN_REFRESH_MARGIN_SECONDS` before it
expires; when Databricks still rejects it, :meth:`invalidate` drops it and the request is sent once more
with a fresh one. Every ``repr`` masks secrets, and no error message ever contains one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

import aiohttp

from airflow_dbx_async.client._transport import redact, snippet, translate_client_error
from airflow_dbx_async.client.errors import ApiError, AuthError, api_error_for

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

__all__ = (
    "AZURE_DATABRICKS_RESOURCE_ID",
    "Auth",
    "AzureServicePrincipalAuth",
    "BasicAuth",
    "OAuthM2MAuth",
    "TOKEN_REFRESH_MARGIN_SECONDS",
    "TokenAuth",
    "clear_token_cache",
)

AZURE_DATABRICKS_RESOURCE_ID = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
_AZURE_MANAGEMENT_RESOURCE = "https://management.core.windows.net/"
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
_DEFAULT_LIFETIME_SECONDS = 300.0
_TOKEN_TIMEOUT_SECONDS = 30.0
_MASK = "***"


@dataclass(frozen=True)
class TokenAuth:
    """A bearer token: a personal access token or an already-issued OAuth token."""

    token: str = field(repr=False)
    refreshable: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"TokenAuth(token={_MASK!r})"

    async def headers(self, session: aiohttp.ClientSession, base_url: str) -> dict[str, str]:
        """The headers that authenticate a request."""
        return {"Authorization": f"Bearer {self.token}"}

    def invalidate(self, base_url: str, used: Mapping[str, str]) -> bool:
        """A static token cannot be refreshed: always ``False``."""
        return False


@dataclass(frozen=True)
class BasicAuth:
    """HTTP Basic auth from a connection's login and password (deprecated by Databricks)."""

    login: str
    password: str = field(repr=False)
    refreshable: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"BasicAuth(login={self.login!r}, password={_MASK!r})"

    async def headers(self, session: aiohttp.ClientSession, base_url: str) -> dict[str, str]:
        """The headers that authenticate a request."""
        return {"Authorization": aiohttp.BasicAuth(self.login, self.password).encode()}

    def invalidate(self, base_url: str, used: Mapping[str, str]) -> bool:
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
    refreshable: ClassVar[bool] = True

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

    async def headers(self, session: aiohttp.ClientSession, base_url: str) -> dict[str, str]:
        """``Authorization: Bearer <token>`` with a cached or freshly fetched token."""
        url = self._endpoint(base_url)
        form = {"grant_type": "client_credentials", "scope": self.scopes}
        client = aiohttp.BasicAuth(self.client_id, self.client_secret)
        token = await _cached_token(
            self._key(base_url),
            lambda: _fetch_token(session, url, form, client, self.client_secret),
        )
        return {"Authorization": f"Bearer {token}"}

    def invalidate(self, base_url: str, used: Mapping[str, str]) -> bool:
        """Forget the token sent in ``used`` (if still cached) so the next call fetches a new one."""
        _invalidate(self._key(base_url), _bearer(used))
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
    refreshable: ClassVar[bool] = True

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

    async def _token(self, session: aiohttp.ClientSession, resource: str) -> str:
        url = f"{self.login_url.rstrip('/')}/{self.tenant_id}/oauth2/v2.0/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": f"{resource}/.default",  # the management resource keeps its slash: "...net//.default"
        }
        return await _cached_token(
            self._key(resource), lambda: _fetch_token(session, url, form, None, self.client_secret)
        )

    async def headers(self, session: aiohttp.ClientSession, base_url: str) -> dict[str, str]:
        """The bearer token, plus the management-token headers when ``resource_id`` is set."""
        headers = {"Authorization": f"Bearer {await self._token(session, AZURE_DATABRICKS_RESOURCE_ID)}"}
        if self.resource_id:
            headers["X-Databricks-Azure-SP-Management-Token"] = await self._token(
                session, _AZURE_MANAGEMENT_RESOURCE
            )
            headers["X-Databricks-Azure-Workspace-Resource-Id"] = self.resource_id
        return headers

    def invalidate(self, base_url: str, used: Mapping[str, str]) -> bool:
        """Forget the tokens sent in ``used`` (if still cached) so the next call fetches new ones."""
        _invalidate(self._key(AZURE_DATABRICKS_RESOURCE_ID), _bearer(used))
        _invalidate(
            self._key(_AZURE_MANAGEMENT_RESOURCE), used.get("X-Databricks-Azure-SP-Management-Token", "")
        )
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


def _bearer(headers: Mapping[str, str]) -> str:
    value = headers.get("Authorization", "")
    return value[len("Bearer ") :] if value.startswith("Bearer ") else ""


def _fresh(cached: _CachedToken | None) -> bool:
    return cached is not None and _clock() < cached.expires_at - TOKEN_REFRESH_MARGIN_SECONDS


def _lock_for(key: tuple[str, ...]) -> asyncio.Lock:
    # asyncio locks belong to one loop; the token cache is shared by all loops of the process.
    per_loop = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(key, asyncio.Lock())


def _invalidate(key: tuple[str, ...], used_token: str) -> None:
    cached = _TOKENS.get(key)
    if cached is not None and cached.access_token == used_token:
        _TOKENS.pop(key, None)


async def _cached_token(key: tuple[str, ...], fetch: Callable[[], Awaitable[tuple[str, float]]]) -> str:
    cached = _TOKENS.get(key)
    if cached is not None and _fresh(cached):
        return cached.access_token
    async with _lock_for(key):
        cached = _TOKENS.get(key)
        if cached is not None and _fresh(cached):
            return cached.access_token
        token, lifetime = await fetch()
        _TOKENS[key] = _CachedToken(token, _clock() + lifetime)
        return token


async def _fetch_token(
    session: aiohttp.ClientSession,
    url: str,
    form: Mapping[str, str],
    client: aiohttp.BasicAuth | None,
    secret: str,
) -> tuple[str, float]:
    """POST a client-credentials grant; return the access token and its lifetime in seconds."""
    path = urlsplit(url).path or "/"
    try:
        async with session.post(
            url,
            data=dict(form),
            auth=client,
            headers={"Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=_TOKEN_TIMEOUT_SECONDS),
            allow_redirects=False,
        ) as response:
            raw = await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise translate_client_error(exc, "POST", path) from None
    if status >= 300:
        raise _token_error(status, raw, path, secret)
    return _read_token(raw, path)


def _token_error(status: int, raw: bytes, path: str, secret: str) -> ApiError:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = str(body.get("error") or body.get("error_code") or f"HTTP_{status}")
        message = redact(str(body.get("error_description") or body.get("message") or ""), (secret,))
    else:
        code, message = f"HTTP_{status}", snippet(raw, (secret,))
    message = f"token request failed: {message or f'HTTP {status}'}"
    if status in (400, 401, 403):
        return AuthError(status, code, message, "POST", path)
    return api_error_for(status, code, message, "POST", path)


def _read_token(raw: bytes, path: str) -> tuple[str, float]:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    # Never quote this body in an error: it may hold the very token we failed to read.
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("access_token"), str)
        or not body["access_token"]
    ):
        raise AuthError(
            200, "INVALID_TOKEN_RESPONSE", "token endpoint answer has no access_token", "POST", path
        )
    try:
        lifetime = float(body.get("expires_in", _DEFAULT_LIFETIME_SECONDS))
    except (TypeError, ValueError):
        lifetime = _DEFAULT_LIFETIME_SECONDS
    return body["access_token"], lifetime
