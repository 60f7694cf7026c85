"""The task's deadline beats a ``Retry-After`` hold of the workspace, on a fake clock.

Databricks answers every ``runs/get`` 429 with ``Retry-After: 999999``: the workspace's gate holds
requests for its longest pause (600 s) and would take the hold again after it. A task with a 30 s
``execution_timeout`` must still end at 30 s, with its run cancelled through the hold.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_dbx_async.client import _workspace
from airflow_dbx_async.client._ratelimit import RateLimiter
from airflow_dbx_async.operators._worker_wait import wait_in_worker
from airflow_dbx_async.outcome._events import RunEvent
from airflow_dbx_async.outcome._verdict import StopReason
from airflow_dbx_async.triggers import DatabricksTaskRunTrigger
from tests.fake_databricks import FakeDatabricks, ThreadedServer, state
from tests.fake_time import FakeTime
from tests.helpers import CONN_ID, set_connection

EPOCH = 1_000_000.0
DEADLINE_SECONDS = 30.0


class HeldWorkspace(FakeDatabricks):
    """Every ``runs/get`` is answered 429 with a Retry-After of eleven days."""

    async def _get(self, request: web.Request) -> web.Response:
        body = {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}
        return web.json_response(body, status=429, headers={"Retry-After": "999999"})


@pytest.fixture
def time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """One fake clock for the workspace gate and the trigger's deadline."""
    fake_time = FakeTime()
    monkeypatch.setattr(
        _workspace, "RateLimiter", partial(RateLimiter, clock=fake_time.clock, sleep=fake_time.sleep)
    )
    return fake_time


def _trigger(run_id: int, time: FakeTime) -> DatabricksTaskRunTrigger:
    trigger = DatabricksTaskRunTrigger(
        run_id=run_id,
        databricks_conn_id=CONN_ID,
        polling_period_seconds=0.01,
        retry_limit=3,
        retry_delay=0.0,
        deadline=EPOCH + DEADLINE_SECONDS,
    )
    trigger._clock = lambda: EPOCH + time.now
    return trigger


def _assert_stopped_at_the_deadline(
    event: RunEvent, held: HeldWorkspace, run_id: int, time: FakeTime
) -> None:
    assert event.stopped is StopReason.DEADLINE
    assert event.status == "failed"
    assert "execution_timeout" in event.reason
    assert "the run was cancelled" in event.reason
    assert held.cancelled == [run_id]  # sent through the hold
    assert time.now == pytest.approx(DEADLINE_SECONDS)  # not 600 s (the hold), nor 1200
    assert len(held.calls("runs/get")) == 1  # the one answered 429; nothing sent during the hold


@pytest.mark.asyncio
async def test_the_deadline_beats_a_retry_after_hold_and_the_run_is_cancelled(
    time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldWorkspace()
    run = held.add_run([state("RUNNING")])
    async with TestServer(held.app(), host="127.0.0.1") as server:
        set_connection(monkeypatch, str(server.make_url("")).rstrip("/"))
        events: list[dict[str, Any]] = [e.payload async for e in _trigger(run.run_id, time).run()]
    (event,) = [RunEvent.from_payload(p) for p in events]
    _assert_stopped_at_the_deadline(event, held, run.run_id, time)


def test_the_deadline_beats_a_retry_after_hold_in_the_worker(
    time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldWorkspace()
    run = held.add_run([state("RUNNING")])
    with ThreadedServer(held.app()) as server:
        set_connection(monkeypatch, server.url)
        event = wait_in_worker(_trigger(run.run_id, time))  # deferrable=False: the same watch, in the worker
    _assert_stopped_at_the_deadline(event, held, run.run_id, time)
