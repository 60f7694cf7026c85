"""What all triggers of one workspace share on one event loop: session, rate ceiling and poller.

The triggerer runs thousands of triggers on a single event loop. Each borrows a
:class:`SharedWorkspace` for its configuration: a client over the pooled keep-alive session, the
workspace's request-rate ceiling and its batched :class:`RunPoller`. The registry counts borrowers
and tears everything down when the last one returns it; a new event loop gets new objects, since
aiohttp sessions and asyncio primitives belong to the loop that made them.
"""

from __future__ import annotations

import asyncio
import weakref
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_dbx_async.client._client import JobsClient
from airflow_dbx_async.client._poller import ListQuery, RunPoller
from airflow_dbx_async.client._pool import SESSION_POOL, SessionPool
from airflow_dbx_async.client._ratelimit import RateLimiter

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from airflow_dbx_async.client.config import ClientConfig
    from airflow_dbx_async.client.models import RunsPage

__all__ = ("WORKSPACES", "SharedWorkspace", "WorkspaceRegistry")

_PAGE_SIZE = 25  # the documented maximum of runs/list


@dataclass
class SharedWorkspace:
    """One workspace's shared client and poller on one event loop."""

    client: JobsClient
    poller: RunPoller
    limiter: RateLimiter
    borrowers: int = 0


class WorkspaceRegistry:
    """Hands out one :class:`SharedWorkspace` per (configuration, event loop), reference-counted.

    :param pool: where the keep-alive sessions come from.
    :param min_sweep_gap: seconds between two ``runs/list`` sweeps of one workspace, at least.
    """

    def __init__(self, *, pool: SessionPool = SESSION_POOL, min_sweep_gap: float = 1.0) -> None:
        self._pool = pool
        self.min_sweep_gap = min_sweep_gap
        self._entries: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[ClientConfig, tuple[SharedWorkspace, AsyncExitStack]]
        ] = weakref.WeakKeyDictionary()

    def active(self) -> list[SharedWorkspace]:
        """The shared workspaces of the running loop (for tests and metrics)."""
        loop = asyncio.get_running_loop()
        return [ws for ws, _ in self._entries.get(loop, {}).values()]

    @asynccontextmanager
    async def borrow(self, config: ClientConfig) -> AsyncIterator[SharedWorkspace]:
        """Borrow the shared workspace for ``config``; never close what it holds."""
        shared = await self.acquire(config)
        try:
            yield shared
        finally:
            await self.release(shared)

    async def acquire(self, config: ClientConfig) -> SharedWorkspace:
        """Take a reference to the shared workspace; pair with :meth:`release`.

        The plain pair exists for long waits in big triggerers: no context-manager objects per caller.
        """
        per_loop = self._entries.setdefault(asyncio.get_running_loop(), {})
        entry = per_loop.get(config)
        if entry is None:
            entry = await self._open(config)
            per_loop[config] = entry
        entry[0].borrowers += 1
        return entry[0]

    async def release(self, shared: SharedWorkspace) -> None:
        """Drop a reference; the last one closes the poller, the client and the session lease."""
        shared.borrowers -= 1
        if shared.borrowers:
            return
        per_loop = self._entries.get(asyncio.get_running_loop(), {})
        entry = per_loop.get(shared.client.config)
        if entry is not None and entry[0] is shared:
            del per_loop[shared.client.config]
            await shared.poller.aclose()
            await entry[1].aclose()

    async def _open(self, config: ClientConfig) -> tuple[SharedWorkspace, AsyncExitStack]:
        stack = AsyncExitStack()
        session = await stack.enter_async_context(self._pool.lease(config))
        rate = config.max_requests_per_second
        # Always a gate, even without a rate ceiling: it also holds the workspace on Retry-After.
        limiter = RateLimiter(rate, burst=max(1, int(rate)) if rate else None)
        client = await stack.enter_async_context(JobsClient(config, session=session, limiter=limiter))

        async def list_page(query: ListQuery, token: str | None) -> RunsPage:
            return await client.list_runs(
                limit=_PAGE_SIZE,
                page_token=token,
                active_only=query.active_only,
                completed_only=query.completed_only,
                start_time_from=query.start_time_from,
                start_time_to=query.start_time_to,
            )

        poller = RunPoller(list_page, min_sweep_gap=self.min_sweep_gap)
        return SharedWorkspace(client=client, poller=poller, limiter=limiter), stack


WORKSPACES = WorkspaceRegistry()
