"""Seeded fault injection: 429/500/503 answers, dropped connections and stalls.

Faults are drawn from one ``random.Random(seed)`` in request order, so a run with the same seed and the
same request sequence replays the same faults. Phase ``after`` runs the handler first (the run is
created) and then loses or replaces the answer, which is what makes idempotency tokens necessary.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING

from airflow_dbx_async.emulator._params import json_response
from airflow_dbx_async.emulator.config import FaultConfig

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ("FaultInjector", "DroppedConnection", "fault_answer")


class DroppedConnection(Exception):
    """Raised after the transport was closed on purpose: the client gets no answer."""


class FaultInjector:
    """Holds the active :class:`FaultConfig` and its random generator."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self._rng = random.Random(self.config.seed)
        self.closing = asyncio.Event()

    def configure(self, config: FaultConfig) -> None:
        """Replace the fault settings (and reseed)."""
        self.config = config
        self._rng = random.Random(config.seed)

    def draw(self, path: str) -> str | None:
        """The fault kind for a request to ``path``, or None."""
        cfg = self.config
        if cfg.rate <= 0 or (cfg.paths and not any(p in path for p in cfg.paths)):
            return None
        if self._rng.random() >= cfg.rate:
            return None
        return self._rng.choice(cfg.kinds)


def _drop(request: web.Request) -> DroppedConnection:
    transport = request.transport
    if transport is not None:
        transport.abort()
    return DroppedConnection()


def fault_answer(kind: str, request: web.Request, retry_after: int) -> web.Response:
    """The answer of a 429/500/503 fault; for ``drop`` the connection is aborted and an error raised."""
    headers = {"Retry-After": str(retry_after)}
    if kind == "429":
        body = {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "Too many requests (injected fault)."}
        return json_response(body, 429, headers)
    if kind == "503":
        body = {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "Service unavailable (injected fault)."}
        return json_response(body, 503, headers)
    if kind == "500":
        return json_response(
            {"error_code": "INTERNAL_ERROR", "message": "Internal error (injected fault)."}, 500
        )
    raise _drop(request)


async def stall(seconds: float, closing: asyncio.Event) -> None:
    """Sleep for a stall fault; a server shutdown ends the stall early."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closing.wait(), seconds)
