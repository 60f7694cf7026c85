"""The ``statements`` shape of :mod:`bench.triggerer_load`: N waiting SQL statements instead of N runs.

Each watched item is ``SELECT sleep_ms(<ms>)``, submitted with ``wait_timeout: 0s`` as both operators
submit, on the emulator's default warehouse; it is RUNNING for the given time and then SUCCEEDED. The
emulator keeps a waiting statement on its event loop, so any N of them run at once. The Statement
Execution API has no list endpoint, so every check of a statement is one ``GET`` of that statement, for
both implementations: a poll is one such request.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = (
    "STATEMENT_GET",
    "STATEMENT_SUBMIT",
    "event_succeeded",
    "is_statement_get",
    "statement_ends",
    "statement_trigger_factory",
    "submit_statements",
    "watch_one_first",
)

STATEMENTS_PATH = "/api/2.0/sql/statements"
STATEMENT_SUBMIT = f"POST {STATEMENTS_PATH}"
STATEMENT_GET = f"GET {STATEMENTS_PATH}/{{statement_id}}"
WAREHOUSE_ID = "d0e1f2a3b4c5d6e7"  # the emulator's default warehouse, always RUNNING
_GUESSED_SUBMITS_PER_SECOND = 300.0


async def submit_statements(
    url: str, token: str, ssl_ctx: ssl.SSLContext, n: int, duration: float
) -> list[str]:
    """Submit ``n`` waiting statements lasting ``duration`` +/-25 % from the moment the triggers start.

    As for runs, a statement submitted early waits longer by the expected time until all are in.
    """
    rng = random.Random(7)
    spans = [duration * rng.uniform(0.75, 1.25) for _ in range(n)]
    headers = {"Authorization": f"Bearer {token}"}
    sem, started, done = asyncio.Semaphore(32), time.monotonic(), [0]
    connector = aiohttp.TCPConnector(ssl=ssl_ctx, limit=32)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(i: int) -> str:
            async with sem:
                elapsed = time.monotonic() - started
                rate = done[0] / elapsed if done[0] >= 64 else _GUESSED_SUBMITS_PER_SECOND
                millis = int(1000 * (spans[i] + (n - done[0]) / rate))
                body = {
                    "statement": f"SELECT sleep_ms({millis})",
                    "warehouse_id": WAREHOUSE_ID,
                    "wait_timeout": "0s",
                }
                async with session.post(url + STATEMENTS_PATH, json=body) as r:
                    r.raise_for_status()
                    done[0] += 1
                    return str((await r.json())["statement_id"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def watch_one_first(url: str, token: str, ssl_ctx: ssl.SSLContext, impl: str, conn_id: str) -> None:
    """Watch one quick statement to its end before measuring, polling every 0.1 s.

    Both triggers import modules on their first poll and first event (the client's models, the
    official hook's request code); those are first-use costs of a triggerer, not costs per statement.
    """
    [statement_id] = await submit_statements(url, token, ssl_ctx, 1, 0.0)
    async for _ in statement_trigger_factory(impl, 0.1, conn_id)(statement_id).run():
        return


def statement_trigger_factory(impl: str, poll: float, conn_id: str) -> Callable[[str], Any]:
    """Each implementation's statement trigger, as its operator defers to it (no deadline to speak of)."""
    if impl == "ours":
        from airflow_dbx_async.triggers import DatabricksSQLStatementTrigger

        return lambda statement_id: DatabricksSQLStatementTrigger(
            statement_id=statement_id,
            databricks_conn_id=conn_id,
            warehouse_id=WAREHOUSE_ID,
            polling_period_seconds=poll,
        )
    from airflow.providers.databricks.triggers.databricks import DatabricksSQLStatementExecutionTrigger

    return lambda statement_id: DatabricksSQLStatementExecutionTrigger(
        statement_id=statement_id,
        databricks_conn_id=conn_id,
        end_time=time.time() + 24 * 3600,
        polling_period_seconds=int(poll),
    )


def is_statement_get(endpoint: str) -> bool:
    """Whether an emulator request count (``METHOD path``) is a ``GET`` of one statement."""
    prefix = f"GET {STATEMENTS_PATH}/"
    return endpoint.startswith(prefix) and "/" not in endpoint[len(prefix) :]


def event_succeeded(payload: dict[str, Any]) -> bool:
    """Whether an event of either implementation says the statement succeeded."""
    if "status" in payload:  # ours
        return bool(payload["status"] == "success")
    state = payload.get("state") or {}
    state = json.loads(state) if isinstance(state, str) else state  # the official sends JSON text
    return bool(state.get("state") == "SUCCEEDED")


def statement_ends(listed: dict[str, Any]) -> dict[str, float]:
    """Epoch seconds at which each ended statement ended, from the emulator's admin list."""
    return {
        str(s["statement_id"]): int(s["ended_ms"]) / 1000.0
        for s in listed["statements"]
        if s.get("ended_ms") is not None
    }
