"""Shared aiohttp sessions: one per workspace identity and event loop, reference counted.

In the triggerer thousands of triggers share one event loop. Giving each its own session would open a
TCP+TLS connection per poll; lending them one pooled session per workspace keeps warm keep-alive
connections instead. A lease never closes the session; the pool closes it when the last lease on it
ends. Sessions are keyed by event loop as well, so a session is never used on a loop it was not
created on.

The TLS settings of a workspace (``verify_tls``, ``ca_file``) are its session's, and so apply to the
workspace's own host only: a request to any other host (the Entra ID token endpoint) carries the
system CA store's context instead (:func:`ssl_for_other_host`). ``ca_file`` adds to the system CA
store, and a renewed file is read again by the next session. Token requests are always verified
(:func:`ssl_for_token_request`): ``verify_tls: false`` never applies to a request carrying a secret
that is not the workspace's own token.

Proxies are part of the workspace's identity (so workspaces behind different proxies share no
session) and are chosen per request by the transport; sessions never read proxy settings from the
environment (``trust_env`` stays off), so the hook decides, from the connection, whether they apply.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

from airflow_dbx_async.client.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_dbx_async.client.config import Workspace

__all__ = (
    "DEFAULT_KEEPALIVE_SECONDS",
    "DEFAULT_LIMIT_PER_HOST",
    "SESSION_POOL",
    "SessionPool",
    "direct_token_request",
    "ssl_for_token_request",
)

DEFAULT_KEEPALIVE_SECONDS = 120.0
DEFAULT_LIMIT_PER_HOST = 50
_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=1)
def system_context() -> ssl.SSLContext:
    """A verifying context over the system CA store only, built once per process.

    Every request to another host than the workspace's (the Microsoft Entra ID token endpoint) uses
    it, whatever the workspace's ``verify_tls`` and ``ca_file`` say: those describe the workspace's
    certificate, and must never weaken the check of the endpoint that receives the client secret.
    """
    return ssl.create_default_context()


def ca_context(ca_file: str) -> ssl.SSLContext:
    """A verifying context trusting the system CA store plus ``ca_file``.

    Contexts are cached by the file's identity (inode, modification time, size), so a renewed CA file
    is read again by the next session without restarting the process.

    :raises ConfigurationError: naming ``ca_file``, when the file cannot be read or holds no certificate.
    """
    try:
        stat = os.stat(ca_file)
    except OSError as exc:
        raise ConfigurationError("ca_file", f"cannot read {ca_file!r}: {exc.strerror or exc}") from None
    return _load_ca_context(ca_file, stat.st_ino, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _load_ca_context(ca_file: str, inode: int, mtime_ns: int, size: int) -> ssl.SSLContext:
    context = ssl.create_default_context()  # the system CA store ...
    try:
        context.load_verify_locations(cafile=ca_file)  # ... plus the extra bundle, not instead of it
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigurationError("ca_file", f"cannot load CA certificates from {ca_file!r}: {exc}") from None
    return context


def ssl_option(workspace: Workspace) -> ssl.SSLContext | bool:
    """The ``ssl`` argument for aiohttp: ``False`` without verification, a context for a CA file."""
    if not workspace.verify_tls:
        return False
    if workspace.ca_file:
        return ca_context(workspace.ca_file)
    return True


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port


def ssl_for_other_host(base_url: str, url: str) -> ssl.SSLContext | None:
    """The SSL context of a request to ``url``: ``None`` on the workspace's own origin, else the system's.

    ``None`` leaves the session's TLS settings (the workspace's) in force; any other host (scheme, host
    and port compared) is verified against the system CA store only, with :func:`system_context`.
    """
    return None if _origin(url) == _origin(base_url) else system_context()


def only_ca_context(ca_file: str) -> ssl.SSLContext:
    """A verifying context trusting ``ca_file`` alone (a Kubernetes cluster's CA), cached by identity.

    :raises ConfigurationError: naming ``token_endpoint_ca``, when the file is missing or unreadable.
    """
    try:
        stat = os.stat(ca_file)
    except OSError as exc:
        raise ConfigurationError(
            "token_endpoint_ca", f"cannot read {ca_file!r}: {exc.strerror or exc}"
        ) from None
    return _load_only_ca(ca_file, stat.st_ino, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _load_only_ca(ca_file: str, inode: int, mtime_ns: int, size: int) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)  # a cafile replaces the system store
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigurationError(
            "token_endpoint_ca", f"cannot load CA certificates from {ca_file!r}: {exc}"
        ) from None


def ssl_for_token_request(
    workspace: Workspace, url: str, ca_file: str | None = None
) -> ssl.SSLContext | None:
    """The SSL context of a token request to ``url``: verification is never off.

    ``None`` for plain ``http`` (the link-local metadata service). A request naming its own CA
    (``ca_file``: the Kubernetes API server) trusts that CA alone. The workspace's own host trusts the
    system CA store plus the workspace's ``ca_file`` (which describes exactly that host), whatever
    ``verify_tls`` says; any other host the system CA store only.
    """
    if urlsplit(url).scheme.lower() != "https":
        return None
    if ca_file:
        return only_ca_context(ca_file)
    if _origin(url) == _origin(workspace.base_url) and workspace.ca_file:
        return ca_context(workspace.ca_file)
    return system_context()


def direct_token_request(workspace: Workspace, url: str, ca_file: str | None = None) -> bool:
    """Whether a token request to ``url`` bypasses the workspace's proxies.

    The Azure instance metadata service (plain ``http`` to a link-local address, checked by its auth
    object) and the Kubernetes API server (a request with its own cluster CA) are only reachable from
    inside the VM or the cluster, never through a proxy; the official provider does not proxy them
    either. Token endpoints on the workspace's host and Microsoft Entra ID go through the proxies.
    """
    if ca_file:
        return True
    return urlsplit(url).scheme.lower() == "http" and _origin(url) != _origin(workspace.base_url)


def new_session(
    workspace: Workspace,
    *,
    limit_per_host: int = DEFAULT_LIMIT_PER_HOST,
    keepalive_timeout: float = DEFAULT_KEEPALIVE_SECONDS,
) -> aiohttp.ClientSession:
    """A session whose keep-alive outlives a poll interval and whose TLS honours ``workspace``."""
    connector = aiohttp.TCPConnector(
        keepalive_timeout=keepalive_timeout,
        limit_per_host=limit_per_host,
        ssl=ssl_option(workspace),
    )
    return aiohttp.ClientSession(connector=connector)


@dataclass
class _Entry:
    session: aiohttp.ClientSession
    leases: int = 0


class SessionPool:
    """Lends one :class:`aiohttp.ClientSession` per (:class:`Workspace`, event loop).

    :param limit_per_host: the connection limit of each pooled session.
    :param keepalive_timeout: seconds an idle connection is kept open.
    """

    def __init__(
        self,
        *,
        limit_per_host: int = DEFAULT_LIMIT_PER_HOST,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_SECONDS,
    ) -> None:
        self.limit_per_host = limit_per_host
        self.keepalive_timeout = keepalive_timeout
        self._entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Workspace, _Entry]] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"SessionPool(limit_per_host={self.limit_per_host}, sessions={self.session_count()})"

    def session_count(self) -> int:
        """Open pooled sessions on the running loop (0 outside a loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return 0
        return len(self._entries.get(loop, {}))

    @asynccontextmanager
    async def lease(self, workspace: Workspace) -> AsyncIterator[aiohttp.ClientSession]:
        """Borrow the shared session for ``workspace``; never close it yourself."""
        loop = asyncio.get_running_loop()
        per_loop = self._entries.setdefault(loop, {})
        key = workspace
        entry = per_loop.get(key)
        if entry is None or entry.session.closed:
            entry = _Entry(
                new_session(
                    workspace, limit_per_host=self.limit_per_host, keepalive_timeout=self.keepalive_timeout
                )
            )
            per_loop[key] = entry
        entry.leases += 1
        try:
            yield entry.session
        finally:
            entry.leases -= 1
            if entry.leases == 0:
                # Drop it from the pool before awaiting close, so a new lease meanwhile gets a new session.
                if per_loop.get(key) is entry:
                    del per_loop[key]
                await entry.session.close()


SESSION_POOL = SessionPool()
