"""The one HTTP path of the client: every API request and every OAuth/Azure token request.

:class:`Transport` sends for one :class:`~airflow_dbx_async.client.config.Workspace` over a session it
borrows; each request carries the caller's
:class:`~airflow_dbx_async.client.config.CallPolicy` (retries, timeout, API version). Every attempt,
token requests included (metadata service, token exchange, Kubernetes TokenRequest API), is retried by
the same loop, counted, and has its credentials redacted from any error. Every aiohttp exception is
translated to :class:`~airflow_dbx_async.client.errors.TransportError` here and nowhere else, and every
HTTP error answer becomes an :class:`~airflow_dbx_async.client.errors.ApiError` that keeps Databricks'
``error_code`` and ``message``. Answers that are not JSON (an HTML page from a proxy, an empty body)
still give a clear error naming the status and a short, credential-free excerpt of the body.

Limits against a broken or hostile workspace: a body is read in chunks and never beyond its
endpoint's limit (:data:`~airflow_dbx_async.client.config.MAX_BODY_BYTES_BY_ENDPOINT`, else
:data:`~airflow_dbx_async.client.config.DEFAULT_MAX_BODY_BYTES`); a longer 2xx answer fails with an
``ApiError`` ``RESPONSE_TOO_LARGE`` (not retried), and only the start of an error answer is read. JSON
nested too deeply to decode is an unreadable answer like any other. A token request is always verified:
on another host than the workspace against the system CA store, on the workspace's own against the
system store plus ``ca_file``, whatever ``verify_tls`` says.
"""

from __future__ import annotations

import asyncio
import email.utils
import html
import json
import logging
import re
import time
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from airflow_dbx_async.client._pool import direct_token_request, ssl_for_token_request
from airflow_dbx_async.client._retry import call_with_retry
from airflow_dbx_async.client.config import DEFAULT_MAX_BODY_BYTES, MAX_BODY_BYTES_BY_ENDPOINT
from airflow_dbx_async.client.errors import (
    ApiError,
    AuthError,
    ConfigurationError,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
)

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable, Mapping

    from airflow_dbx_async.client._auth import AuthHeaders, TokenRequest
    from airflow_dbx_async.client._ratelimit import RateLimiter
    from airflow_dbx_async.client.config import CallPolicy, Workspace

__all__ = ("Transport",)

_log = logging.getLogger(__name__)

_SNIPPET_CHARS = 200
_USER_AGENT = "airflow-dbx-async"
_TOKEN_TIMEOUT_SECONDS = 30.0
_CHUNK_BYTES = 64 * 1024
# An error answer is read only this far: plenty for Databricks' error_code and message, or a page title.
_ERROR_BODY_BYTES = 64 * 1024
_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_CODE_PREFIX = re.compile(r"^([A-Z][A-Z0-9_]{2,}): (.+)$", re.DOTALL)
_LINE_BREAK = re.compile(r"\s*[\r\n]+\s*")  # an error message is one line (Entra's have "Trace ID:" lines)


_NOT_FOUND_MARKERS = ("does not exist", "doesn't exist")


def api_error_for(
    status: int,
    error_code: str,
    message: str,
    method: str = "",
    path: str = "",
    retry_after: float | None = None,
) -> ApiError:
    """Map an HTTP error answer to the most specific :class:`ApiError` subclass."""
    if status in (401, 403):
        return AuthError(status, error_code, message, method, path)
    if status == 404 or (
        status == 400
        and error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
        and any(marker in message for marker in _NOT_FOUND_MARKERS)
    ):
        return NotFound(status, error_code, message, method, path)
    if status == 429:
        return RateLimited(status, error_code, message, method, path, retry_after)
    if status >= 500:
        return ServerError(status, error_code, message, method, path, retry_after)
    return ApiError(status, error_code, message, method, path)


def encode_params(params: Mapping[str, object] | None) -> dict[str, str]:
    """Encode GET parameters like the Databricks SDK: lowercase booleans, ints as text, ``None`` dropped."""
    encoded: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            encoded[key] = "true" if value else "false"
        else:
            encoded[key] = str(value)
    return encoded


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Read a ``Retry-After`` header: delay seconds or an HTTP date; ``None`` when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every non-empty secret in ``text`` with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def snippet(raw: bytes, secrets: Iterable[str] = ()) -> str:
    """A short one-line excerpt of a body for error messages: HTML reduced to its title or text."""
    text = raw.decode("utf-8", errors="replace")
    title = _TITLE.search(text)
    if title and title.group(1).strip():
        text = title.group(1)
    elif "<" in text and ">" in text:
        text = _TAG.sub(" ", text)
    text = " ".join(html.unescape(text).split())
    text = redact(text, secrets)
    return text if len(text) <= _SNIPPET_CHARS else text[: _SNIPPET_CHARS - 3] + "..."


def _decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deeply
        return _INVALID


_INVALID = object()


def _code_and_message(status: int, raw: bytes, secrets: Iterable[str]) -> tuple[str, str]:
    """Databricks' error_code and message, or the best clear description of a non-standard body."""
    fallback_code = _STATUS_CODES.get(status, f"HTTP_{status}")
    if not raw.strip():
        return fallback_code, f"HTTP {status} with an empty body"
    body = _decode_json(raw)
    if isinstance(body, dict):
        code = body.get("error_code") or body.get("error")
        message = body.get("message") or body.get("error_description")
        if code is not None or message is not None:
            code_text = str(code) if code is not None and code != "" else fallback_code
            return code_text, redact(_LINE_BREAK.sub(" ", str(message or f"HTTP {status}")).strip(), secrets)
    if body is _INVALID:
        text = raw.decode("utf-8", errors="replace").strip()
        prefixed = _CODE_PREFIX.match(text)
        if prefixed and "<" not in text:
            return prefixed.group(1), snippet(prefixed.group(2).encode(), secrets)
    return fallback_code, f"HTTP {status} with a non-JSON body: {snippet(raw, secrets)!r}"


def error_for_answer(
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    method: str,
    path: str,
    secrets: Iterable[str] = (),
) -> ApiError:
    """Map an HTTP error answer (status >= 300) to the most specific :class:`ApiError`."""
    code, message = _code_and_message(status, raw, tuple(secrets))
    retry_after = parse_retry_after(headers.get("Retry-After")) if status in (429, 503) else None
    return api_error_for(status, code, message, method, path, retry_after)


def decode_success(
    status: int, raw: bytes, method: str, path: str, secrets: Iterable[str] = ()
) -> dict[str, Any]:
    """Decode a 2xx body: a JSON object, or ``{}`` for an empty body; anything else is an ApiError."""
    if not raw.strip():
        return {}
    body = _decode_json(raw)
    if isinstance(body, dict):
        return body
    message = f"HTTP {status} but the body is not a JSON object: {snippet(raw, secrets)!r}"
    raise ApiError(status, "INVALID_RESPONSE", message, method, path)


_TEMPLATED_LIMITS = tuple(
    (tuple(endpoint.split("/")), limit)
    for endpoint, limit in MAX_BODY_BYTES_BY_ENDPOINT.items()
    if "{" in endpoint
)


def max_body_bytes(api_path: str) -> int:
    """The largest answer body read from ``api_path`` (``/api/2.2/jobs/runs/export`` ...).

    An endpoint segment written ``{name}`` matches any one segment (``sql/statements/{statement_id}``).
    """
    endpoint = api_path.split("/", 3)[-1]
    exact = MAX_BODY_BYTES_BY_ENDPOINT.get(endpoint)
    if exact is not None:
        return exact
    parts = endpoint.split("/")
    for template, limit in _TEMPLATED_LIMITS:
        if len(template) == len(parts) and all(
            t == p or (t.startswith("{") and p) for t, p in zip(template, parts, strict=True)
        ):
            return limit
    return DEFAULT_MAX_BODY_BYTES


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):g} MiB" if count >= 1024 * 1024 else f"{count} bytes"


def too_large(status: int, limit: int, method: str, path: str, announced: int | None = None) -> ApiError:
    """The error of a 2xx answer longer than ``limit``; an :class:`ApiError`, never retried."""
    seen = f"announces {announced} bytes" if announced is not None else "is longer"
    message = f"the answer {seen}, more than the {_size(limit)} read from this endpoint"
    return ApiError(status, "RESPONSE_TOO_LARGE", message, method, path)


async def _read_at_most(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The body read in chunks up to ``limit`` bytes, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await response.content.read(min(_CHUNK_BYTES, limit + 1 - size))
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:limit], False


def translate_client_error(
    exc: BaseException, method: str, path: str, *, other_host: bool = False
) -> TransportError | ConfigurationError:
    """Turn an aiohttp / asyncio failure into a :class:`TransportError` (or :class:`Timeout`).

    A certificate that fails verification is a settings problem, not a transient one: it becomes a
    :class:`ConfigurationError`, which is never retried. On the workspace's host it names ``ca_file``;
    on another host (``other_host``: a token endpoint) it names ``token_endpoint``, which is verified
    against the system CA store only. Neither message suggests turning verification off.
    """
    reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError) and other_host:
        return ConfigurationError(
            "token_endpoint",
            f"the TLS certificate of the token endpoint {exc.host} failed verification "
            f"({exc.certificate_error}); token requests are always verified, even when the "
            "workspace's own check is off: a token endpoint on another host than the workspace "
            "against the system CA store only, the workspace's own against the system CA store plus "
            "'ca_file'; check the endpoint's address, or add its CA to the system store",
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ConfigurationError(
            "ca_file",
            f"the server's TLS certificate failed verification ({exc.certificate_error}); if the "
            "workspace uses a private CA, trust it with the connection extra 'ca_file' (a PEM bundle, "
            "trusted in addition to the system CA store)",
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Timeout(method, path, reason, request_sent=False)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Timeout(method, path, reason or "timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError(method, path, reason, request_sent=False)
    return TransportError(method, path, reason)


class Transport:
    """Sends every request to one workspace, counting each one (retries and token requests included).

    :param session: the aiohttp session to send through (owned by someone else).
    :param workspace: the workspace and its credential.
    :param limiter: the workspace's request-rate ceiling, shared by everything that sends to it.
    """

    def __init__(
        self, session: aiohttp.ClientSession, workspace: Workspace, limiter: RateLimiter | None = None
    ) -> None:
        self.session = session
        self._workspace = workspace
        self._limiter = limiter
        self.request_count = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        policy: CallPolicy,
        version: str | None = None,
        params: Mapping[str, object] | None = None,
        json_body: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """Send one API request under ``policy``, retrying transient failures; return the JSON answer.

        :param version: the API version in the path, when not the policy's (the cluster APIs).
        :param idempotent: ``False`` for requests that may create something twice (see ``_retry``).
        """
        api_path = f"/api/{version or policy.api_version}/{path.lstrip('/')}"
        return await call_with_retry(
            partial(self._attempt, method, api_path, policy, params, json_body),
            policy.retry,
            idempotent=idempotent,
            description=f"{method} {api_path}",
        )

    async def _attempt(
        self,
        method: str,
        api_path: str,
        policy: CallPolicy,
        params: Mapping[str, object] | None,
        json_body: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """One attempt; when Databricks rejects an OAuth token, refresh it once and send again."""
        auth, base_url = self._workspace.auth, self._workspace.base_url
        fetch = partial(self._fetch_token, policy)
        used = await auth.headers(base_url, fetch)
        try:
            return await self._send(method, api_path, policy, used, params, json_body)
        except AuthError as exc:
            if not _token_rejected(exc) or not auth.invalidate(base_url, used):
                raise
        _log.info("Databricks rejected the OAuth token for %s %s; fetching a new one", method, api_path)
        used = await auth.headers(base_url, fetch)
        return await self._send(method, api_path, policy, used, params, json_body)

    async def _send(
        self,
        method: str,
        api_path: str,
        policy: CallPolicy,
        auth: AuthHeaders,
        params: Mapping[str, object] | None,
        json_body: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if self._limiter is not None:
            await self._limiter.acquire()
        try:
            status, raw = await self._exchange(
                method,
                f"{self._workspace.base_url.rstrip('/')}{api_path}",
                api_path,
                auth.secrets,
                policy.timeout_seconds,
                max_body_bytes(api_path),
                params=encode_params(params),
                json=dict(json_body) if json_body is not None else None,
                headers={"User-Agent": _USER_AGENT, "Accept": "application/json", **auth.headers},
            )
        except (RateLimited, ServerError) as error:
            if (
                error.retry_after is not None and self._limiter is not None
            ):  # the server's pause: whole workspace
                self._limiter.hold(error.retry_after, f"{error.status} on {method} {api_path}")
            raise
        return decode_success(status, raw, method, api_path, auth.secrets)

    async def _fetch_token(self, policy: CallPolicy, request: TokenRequest) -> bytes:
        """Send a token request; return the raw 2xx answer for the auth object to read.

        Its TLS is always verified (``_pool.ssl_for_token_request``): never by ``verify_tls``.
        """
        path = urlsplit(request.url).path or "/"
        login = request.basic_login
        kwargs: dict[str, Any] = {}
        if request.json_body is not None:
            kwargs["json"] = dict(request.json_body)
        elif request.method == "POST":
            kwargs["data"] = dict(request.form)
        if request.query:
            kwargs["params"] = dict(request.query)
        try:
            _, raw = await self._exchange(
                request.method,
                request.url,
                path,
                request.secrets,
                min(policy.timeout_seconds, _TOKEN_TIMEOUT_SECONDS),
                DEFAULT_MAX_BODY_BYTES,
                tls=ssl_for_token_request(self._workspace, request.url, request.ca_file),
                token_request=True,
                direct=direct_token_request(self._workspace, request.url, request.ca_file),
                auth=aiohttp.BasicAuth(login, request.secret) if login is not None else None,
                headers={"User-Agent": _USER_AGENT, "Accept": "application/json", **request.headers},
                **kwargs,
            )
        except ApiError as exc:
            raise _token_error(exc) from None
        return raw

    async def _exchange(
        self,
        method: str,
        url: str,
        path: str,
        secrets: tuple[str, ...],
        seconds: float,
        limit: int,
        *,
        tls: ssl.SSLContext | None = None,
        token_request: bool = False,
        direct: bool = False,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        """Send one HTTP request within ``seconds``; return a 2xx answer's status and body, else raise.

        :param limit: the largest 2xx body read; a longer one raises ``RESPONSE_TOO_LARGE``.
        :param tls: the SSL context of a token request; ``None`` for the session's (the workspace's).
        :param token_request: a certificate failure then names the token endpoint, not ``ca_file``.
        :param direct: never through the workspace's proxies (see ``_pool.direct_token_request``).
        """
        self.request_count += 1
        if tls is not None:
            kwargs["ssl"] = tls
        proxies = self._workspace.proxies
        if proxies is not None and not direct and (proxy := proxies.for_url(url)):
            kwargs["proxy"] = proxy
        try:
            async with self.session.request(
                method, url, timeout=aiohttp.ClientTimeout(total=seconds), allow_redirects=False, **kwargs
            ) as response:
                status = response.status
                retry_after = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
                announced = response.content_length
                if status < 300 and announced is not None and announced > limit:
                    response.close()  # not a byte of it is read
                    raise too_large(status, limit, method, path, announced)
                raw, complete = await _read_at_most(response, limit if status < 300 else _ERROR_BODY_BYTES)
                if not complete:
                    response.close()  # drop the connection rather than drain the rest
        except (TimeoutError, aiohttp.ClientError) as exc:
            # ``from None``: aiohttp's request_info (in some reprs) holds the Authorization header.
            raise translate_client_error(exc, method, path, other_host=token_request) from None
        if status >= 300:
            raise error_for_answer(status, raw, retry_after, method, path, secrets)
        if not complete:
            raise too_large(status, limit, method, path)
        return status, raw


def _token_rejected(exc: AuthError) -> bool:
    """401, or Databricks' 403 with the numeric auth-layer code ("Invalid access token")."""
    return exc.status == 401 or (exc.status == 403 and exc.error_code == "403")


def _token_error(exc: ApiError) -> ApiError:
    """The error of a failed token request: an :class:`AuthError` when the credential was refused."""
    message = f"token request failed: {exc.message}"
    if exc.status in (400, 401, 403):
        return AuthError(exc.status, exc.error_code, message, exc.method, exc.path)
    retry_after = getattr(exc, "retry_after", None)
    return api_error_for(exc.status, exc.error_code, message, exc.method, exc.path, retry_after)
