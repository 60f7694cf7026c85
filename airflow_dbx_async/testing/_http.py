"""A minimal JSON-over-HTTP helper on the standard library, for test harness code.

The harness talks to the emulator's admin endpoints and to Airflow's REST API from plain
synchronous code (pytest fixtures, the demo), so it uses :mod:`urllib` rather than an event loop.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

__all__ = ("HttpError", "request_json", "ssl_context_for")


class HttpError(Exception):
    """A non-2xx answer; carries the status and the (possibly truncated) body."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(method, url, status, body)
        self.method = method
        self.url = url
        self.status = status
        self.body = body

    def __str__(self) -> str:
        return f"{self.method} {self.url} -> HTTP {self.status}: {self.body[:500]}"


def ssl_context_for(ca_file: str | None) -> ssl.SSLContext | None:
    """A TLS context trusting ``ca_file`` (``None`` when there is no custom CA)."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


def request_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    timeout: float = 30.0,
    context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """Send ``body`` as JSON (when not ``None``) and decode the JSON answer (``None`` when empty).

    :raises HttpError: for a non-2xx status.
    :raises OSError: when the server can't be reached (``urllib.error.URLError`` is one).
    """
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Accept": "application/json", **(headers or {})}
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        exc.close()
        raise HttpError(method, url, exc.code, text) from None
    return json.loads(raw) if raw.strip() else None
