"""What all triggers of one workspace share on one event loop: session, rate ceiling and poller.

The triggerer runs thousands of triggers on a single event loop. They borrow the
:class:`SharedWorkspace` of their :class:`~airflow_dbx_async.client.config.Workspace` (the identity:
URL, credential, TLS settings): one transport over the pooled keep-alive session, the workspace's
request-rate ceiling and its batched :class:`RunPoller`. Each borrower gets its own
:class:`~airflow_dbx_async.client.JobsClient` over that transport, carrying the borrower's
:class:`~airflow_dbx_async.client.config.CallPolicy`: callers that differ only in retries, timeout or
API version still share everything else. The registry counts borrowers and tears everything down when
the last one returns; a new event loop gets new objects, since aiohttp sessions and asyncio primitives
belong to the loop that made them.
"""

from __future__ import annotations

import asyncio
import weakref
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_dbx_async.client._client import JobsClient
from airflow_dbx_async.client._poller import ListQuery, RunPoller
from airflow_dbx_async.client._pool import SESSION_POOL, SessionPool
from airflow_dbx_async.client._ratelimit import RateLimiter
from airflow_dbx_async.client._transport import Transport
from airflow_dbx_async.client.config import ClientConfig

if TYPE_CHECKING:
    from types import TracebackType

    from airflow_dbx_async.client.config import Workspace
    from airflow_dbx_async.client.models import RunsPage

__all__ = ("WORKSPACES", "Borrowed", "Borrowing", "SharedWorkspace", "WorkspaceRegistry", "borrow_workspace")

_PAGE_SIZE = 25  # the documented maximum of runs/list


@dataclass(eq=False)
class SharedWorkspace:
    """One workspace's transport, rate ceiling and poller on one event loop."""

    workspace: Workspace
    transport: Transport
    poller: RunPoller
    limiter: RateLimiter
    borrowers: int = 0


class Borrowed:
    """What one borrower holds: its own client over the shared transport, and the shared objects."""

    __slots__ = ("client", "shared")

    def __init__(self, client: JobsClient, shared: SharedWorkspace) -> None:
        self.client = client
        self.shared = shared

    @property
    def poller(self) -> RunPoller:
        """The workspace's batched run poller."""
        return self.shared.poller


class Borrowing:
    """``async with registry.borrow(config) as borrowed``; a slotted object, cheap per waiting trigger."""

    __slots__ = ("_borrowed", "_config", "_registry")

    def __init__(self, registry: WorkspaceRegistry, config: ClientConfig) -> None:
        self._registry = registry
        self._config = config
        self._borrowed: Borrowed | None = None

    async def __aenter__(self) -> Borrowed:
        shared = await self._registry._acquire(self._config.workspace)
        self._borrowed = Borrowed(JobsClient._over(shared.transport, self._config), shared)
        return self._borrowed

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._borrowed is not None:
            borrowed, self._borrowed = self._borrowed, None
            await borrowed.client.aclose()
            await self._registry._release(borrowed.shared)


class WorkspaceRegistry:
    """Hands out one :class:`SharedWorkspace` per (workspace identity, event loop), reference-counted.

    :param pool: where the keep-alive sessions come from.
    :param min_sweep_gap: seconds between two ``runs/list`` sweeps of one workspace, at least.
    """

    def __init__(self, *, pool: SessionPool = SESSION_POOL, min_sweep_gap: float = 1.0) -> None:
        self._pool = pool
        self.min_sweep_gap = min_sweep_gap
        self._entries: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[Workspace, tuple[SharedWorkspace, AsyncExitStack]]
        ] = weakref.WeakKeyDictionary()

    def active(self) -> list[SharedWorkspace]:
        """The shared workspaces of the running loop (for tests and metrics)."""
        loop = asyncio.get_running_loop()
        return [ws for ws, _ in self._entries.get(loop, {}).values()]

    def borrow(self, config: ClientConfig) -> Borrowing:
        """Borrow the shared workspace of ``config.workspace``, with a client using ``config.policy``.

        Use as ``async with WORKSPACES.borrow(config) as borrowed:``; never close what it holds.
        """
        return Borrowing(self, config)

    async def _acquire(self, workspace: Workspace) -> SharedWorkspace:
        per_loop = self._entries.setdefault(asyncio.get_running_loop(), {})
        entry = per_loop.get(workspace)
        if entry is None:
            entry = await self._open(workspace)
            per_loop[workspace] = entry
        entry[0].borrowers += 1
        return entry[0]

    async def _release(self, shared: SharedWorkspace) -> None:
        """Drop a reference; the last one closes the poller and the session lease."""
        shared.borrowers -= 1
        if shared.borrowers:
            return
        per_loop = self._entries.get(asyncio.get_running_loop(), {})
        entry = per_loop.get(shared.workspace)
        if entry is not None and entry[0] is shared:
            del per_loop[shared.workspace]
            await shared.poller.aclose()
            await entry[1].aclose()

    async def _open(self, workspace: Workspace) -> tuple[SharedWorkspace, AsyncExitStack]:
        stack = AsyncExitStack()
        session = await stack.enter_async_context(self._pool.lease(workspace))
        rate = workspace.max_requests_per_second
        # Always a gate, even without a rate ceiling: it also holds the workspace on Retry-After.
        limiter = RateLimiter(rate, burst=max(1, int(rate)) if rate else None)
        transport = Transport(session, workspace, limiter)
        # The sweeps serve every borrower, so they follow the default policy, not any one borrower's.
        sweeper = JobsClient._over(transport, ClientConfig.of(workspace))

        async def list_page(query: ListQuery, token: str | None) -> RunsPage:
            return await sweeper.list_runs(
                limit=_PAGE_SIZE,
                page_token=token,
                active_only=query.active_only,
                completed_only=query.completed_only,
                start_time_from=query.start_time_from,
                start_time_to=query.start_time_to,
            )

        poller = RunPoller(list_page, min_sweep_gap=self.min_sweep_gap)
        shared = SharedWorkspace(workspace=workspace, transport=transport, poller=poller, limiter=limiter)
        return shared, stack


WORKSPACES = WorkspaceRegistry()


def borrow_workspace(config: ClientConfig) -> Borrowing:
    """Borrow the shared workspace of ``config`` on the running loop (the triggerer's one way in).

    Use as ``async with borrow_workspace(config) as borrowed:``; ``borrowed.client`` is this borrower's
    client and ``borrowed.poller.watch(run_id)`` waits for news of a run. Never close what it holds.
    """
    return WORKSPACES.borrow(config)
