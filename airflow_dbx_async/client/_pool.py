"""Shared aiohttp sessions: one per workspace identity and event loop, reference counted.

In the triggerer thousands of triggers share one event loop. Giving each its own session would open a
TCP+TLS connection per poll; lending them one pooled session per workspace keeps warm keep-alive
connections instead. A lease never closes the session; the pool closes it when the last lease on it
ends. Sessions are keyed by event loop as well, so a session is never used on a loop it was not
created on.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_dbx_async.client.config import Workspace

__all__ = ("DEFAULT_KEEPALIVE_SECONDS", "DEFAULT_LIMIT_PER_HOST", "SESSION_POOL", "SessionPool")

DEFAULT_KEEPALIVE_SECONDS = 120.0
DEFAULT_LIMIT_PER_HOST = 50


@functools.lru_cache(maxsize=16)
def _ssl_context_for_ca(ca_file: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def ssl_option(workspace: Workspace) -> ssl.SSLContext | bool:
    """The ``ssl`` argument for aiohttp: ``False`` without verification, a context for a CA file."""
    if not workspace.verify_tls:
        return False
    if workspace.ca_file:
        return _ssl_context_for_ca(workspace.ca_file)
    return True


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
