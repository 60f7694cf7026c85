"""The one HTTP request helper of the client: URL, headers, query/JSON encoding, answer decoding.

Every aiohttp exception is translated to :class:`~airflow_dbx_async.client.errors.TransportError`
here and nowhere else, and every HTTP error answer becomes an
:class:`~airflow_dbx_async.client.errors.ApiError` that keeps Databricks' ``error_code`` and
``message``. Answers that are not JSON (an HTML page from a proxy, an empty body) still give a clear
error naming the status and a short, credential-free excerpt of the body.
"""

from __future__ import annotations

import asyncio
import email.utils
import html
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from airflow_dbx_async.client.errors import (
    ApiError,
    AuthError,
    ConfigurationError,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
    api_error_for,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow_dbx_async.client._ratelimit import RateLimiter
    from airflow_dbx_async.client.config import ClientConfig

__all__ = ("parse_retry_after",)

_log = logging.getLogger(__name__)

_SNIPPET_CHARS = 200
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


def build_url(base_url: str, version: str, path: str) -> str:
    """``{base_url}/api/{version}/{path}``."""
    return f"{base_url.rstrip('/')}/api/{version}/{path.lstrip('/')}"


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
    except (UnicodeDecodeError, ValueError):
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
            return code_text, redact(str(message or f"HTTP {status}"), secrets)
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


def translate_client_error(exc: BaseException, method: str, path: str) -> TransportError | ConfigurationError:
    """Turn an aiohttp / asyncio failure into a :class:`TransportError` (or :class:`Timeout`).

    A certificate that fails verification is a settings problem, not a transient one: it becomes a
    :class:`ConfigurationError` naming ``ca_file``, which is never retried.
    """
    reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ConfigurationError(
            "ca_file",
            f"the server's TLS certificate failed verification ({exc.certificate_error}); trust its CA "
            "with the connection extra 'ca_file', or set 'verify_tls': false",
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Timeout(method, path, reason, request_sent=False)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Timeout(method, path, reason or "timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError(method, path, reason, request_sent=False)
    return TransportError(method, path, reason)


class Transport:
    """Sends one API request at a time for a :class:`JobsClient`, counting every request it sends.

    :param session: the aiohttp session to send through (owned by someone else).
    :param config: the client configuration.
    """

    def __init__(
        self, session: aiohttp.ClientSession, config: ClientConfig, limiter: RateLimiter | None = None
    ) -> None:
        self._session = session
        self._config = config
        self._limiter = limiter
        self.request_count = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        version: str | None = None,
        params: Mapping[str, object] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one request; on a stale OAuth token, refresh it once and send again."""
        version = version or self._config.api_version
        api_path = f"/api/{version}/{path.lstrip('/')}"
        url = build_url(self._config.base_url, version, path)
        auth = self._config.auth
        auth_headers = await auth.headers(self._session, self._config.base_url)
        try:
            return await self._send(method, url, api_path, auth_headers, params, json_body)
        except AuthError as exc:
            if not _token_rejected(exc) or not auth.invalidate(self._config.base_url, auth_headers):
                raise
        _log.info("Databricks rejected the OAuth token for %s %s; fetching a new one", method, api_path)
        auth_headers = await auth.headers(self._session, self._config.base_url)
        return await self._send(method, url, api_path, auth_headers, params, json_body)

    async def _send(
        self,
        method: str,
        url: str,
        api_path: str,
        auth_headers: Mapping[str, str],
        params: Mapping[str, object] | None,
        json_body: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        headers = {"User-Agent": self._config.user_agent, "Accept": "application/json", **auth_headers}
        secrets = _header_secrets(auth_headers)
        if self._limiter is not None:
            await self._limiter.acquire()
        self.request_count += 1
        try:
            async with self._session.request(
                method,
                url,
                params=encode_params(params),
                json=dict(json_body) if json_body is not None else None,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self._config.timeout_seconds),
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
                answer_headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
        except (TimeoutError, aiohttp.ClientError) as exc:
            # ``from None``: aiohttp's request_info (in some reprs) holds the Authorization header.
            raise translate_client_error(exc, method, api_path) from None
        if status >= 300:
            error = error_for_answer(status, raw, answer_headers, method, api_path, secrets)
            pause = error.retry_after if isinstance(error, RateLimited | ServerError) else None
            if pause is not None and self._limiter is not None:  # the server's pause: whole workspace
                self._limiter.hold(pause, f"{status} on {method} {api_path}")
            raise error
        return decode_success(status, raw, method, api_path, secrets)


def _token_rejected(exc: AuthError) -> bool:
    """401, or Databricks' 403 with the numeric auth-layer code ("Invalid access token")."""
    return exc.status == 401 or (exc.status == 403 and exc.error_code == "403")


def _header_secrets(auth_headers: Mapping[str, str]) -> tuple[str, ...]:
    secrets: list[str] = []
    for name, value in auth_headers.items():
        if name.lower() == "authorization":
            secrets.append(value.split(" ", 1)[-1])
        elif "token" in name.lower():
            secrets.append(value)
    return tuple(secrets)
