"""A stand-in for the Azure instance metadata service (IMDS), to test managed identities locally.

It answers ``GET /metadata/identity/oauth2/token?api-version=...&resource=...[&client_id=...]`` with the
header ``Metadata: true``, as the real service does (``access_token``, ``expires_in`` and
``expires_on`` as text, ``resource``, ``token_type``), and ``GET /metadata/instance`` with the
``compute.azEnvironment`` the official provider checks. Tokens are JWTs signed HS256 with ``key``
and issued by ``issuer``, so an emulator whose ``federation.json`` has
``"entra": {"issuer": <issuer>, "key": <key>}`` accepts them as bearers::

    async with MetadataService(key="shared") as imds:
        auth = AzureManagedIdentityAuth(endpoint=imds.token_url)
        ...
    assert imds.requests["2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"] == 1

:meth:`throttle` makes the next token requests answer 429 with ``Retry-After``. :func:`mint_jwt`
also makes subject tokens for token-federation tests. Nothing here imports the client or Airflow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.test_utils import TestServer

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

__all__ = ("DEFAULT_ISSUER", "MetadataService", "mint_jwt")

DEFAULT_ISSUER = "https://sts.windows.net/00000000-0000-0000-0000-00000000e3d5/"
_TOKEN_PATH = "/metadata/identity/oauth2/token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_jwt(claims: Mapping[str, Any], key: str | None = None) -> str:
    """A compact JWT of ``claims``: HS256-signed with ``key``, else unsigned (``alg: none``)."""
    header = {"alg": "HS256" if key else "none", "typ": "JWT"}
    signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(dict(claims)).encode())}"
    signature = hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest() if key else b""
    return f"{signed}.{_b64(signature)}"


class MetadataService:
    """The metadata service on a free loopback port; ``async with MetadataService() as imds:``.

    :param key: the HS256 key of issued tokens (``None``: unsigned tokens).
    :param issuer: their ``iss``.
    :param lifetime_seconds: their lifetime.
    :param identities: user-assigned identities (client ids) besides the system-assigned one; another
        ``client_id`` is answered 400 ``Identity not found``, as the real service does.
    :param clock: the time source of ``exp`` and ``expires_on``.
    """

    def __init__(
        self,
        *,
        key: str | None = None,
        issuer: str = DEFAULT_ISSUER,
        lifetime_seconds: int = 3600,
        identities: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.issuer = issuer
        self.lifetime_seconds = lifetime_seconds
        self.identities = identities
        self.clock = clock
        self.requests: Counter[str] = Counter()
        """Token requests per resource, refused ones included."""
        self.issued: list[str] = []
        self.client_ids: list[str | None] = []
        self._throttled = 0
        self._retry_after = "1"
        self._server: TestServer | None = None
        self.url = ""

    @property
    def token_url(self) -> str:
        """The token endpoint to configure the managed identity with."""
        return f"{self.url}{_TOKEN_PATH}"

    def throttle(self, count: int, retry_after: str = "1") -> None:
        """Answer the next ``count`` token requests 429 Too Many Requests with ``Retry-After``."""
        self._throttled = count
        self._retry_after = retry_after

    def mint(self, resource: str, client_id: str | None = None) -> str:
        """A token for ``resource`` as this service issues it."""
        now = int(self.clock())
        claims = {
            "iss": self.issuer,
            "aud": resource,
            "sub": client_id or "system-assigned",
            "appid": client_id or "system-assigned",
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime_seconds,
            "uti": uuid.uuid4().hex,
        }
        return mint_jwt(claims, self.key)

    async def _token(self, request: web.Request) -> web.Response:
        if request.headers.get("Metadata", "").lower() != "true":
            return _error(400, "invalid_request", "Required metadata header not specified")
        resource = request.query.get("resource", "")
        self.requests[resource] += 1
        if self._throttled > 0:
            self._throttled -= 1
            return web.json_response(
                {"error": "too_many_requests", "error_description": "Too many requests"},
                status=429,
                headers={"Retry-After": self._retry_after},
            )
        if not resource:
            return _error(400, "invalid_request", "Required query variable 'resource' is missing")
        client_id = request.query.get("client_id")
        if client_id is not None and client_id not in self.identities:
            return _error(400, "invalid_request", "Identity not found")
        token = self.mint(resource, client_id)
        self.issued.append(token)
        self.client_ids.append(client_id)
        now = int(self.clock())
        body = {
            "access_token": token,
            "client_id": client_id or "system-assigned",
            "expires_in": str(self.lifetime_seconds),
            "expires_on": str(now + self.lifetime_seconds),
            "ext_expires_in": str(self.lifetime_seconds),
            "not_before": str(now),
            "resource": resource,
            "token_type": "Bearer",
        }
        return web.json_response(body)

    async def _instance(self, request: web.Request) -> web.Response:
        if request.headers.get("Metadata", "").lower() != "true":
            return _error(400, "invalid_request", "Required metadata header not specified")
        return web.json_response({"compute": {"azEnvironment": "AzurePublicCloud", "location": "local"}})

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get(_TOKEN_PATH, self._token)
        app.router.add_get("/metadata/instance", self._instance)
        return app

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = TestServer(self.app())
        await self._server.start_server()
        self.url = str(self._server.make_url("")).rstrip("/")

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> MetadataService:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)
