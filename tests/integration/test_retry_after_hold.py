"""A 429 with Retry-After on runs/list holds all polling of the workspace: the sweep and the fallbacks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest
from aiohttp import web

from airflow_dbx_async.client import JobsClient, RetryPolicy
from airflow_dbx_async.client._poller import ListQuery, RunPoller, RunWatch
from airflow_dbx_async.client._ratelimit import RateLimiter
from airflow_dbx_async.client.models import RunsPage
from tests.fake_databricks import Handler, ScriptedRoutes
from tests.fake_time import FakeTime
from tests.integration.conftest import make_config

LIST, GET = "/api/2.2/jobs/runs/list", "/api/2.2/jobs/runs/get"


def _run(run_id: int) -> dict[str, object]:
    return {"run_id": run_id, "start_time": 1000 + run_id, "state": {"life_cycle_state": "RUNNING"}}


@pytest.mark.asyncio
async def test_retry_after_30_on_runs_list_stops_all_polling_for_30_s(
    fake: ScriptedRoutes, caplog: pytest.LogCaptureFixture
) -> None:
    time = FakeTime()
    seen: list[tuple[float, str]] = []

    def stamped(status: int, body: Mapping[str, object], **headers: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            seen.append((time.now, request.path))
            return web.json_response(body, status=status, headers=headers)

        return handler

    limited = {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}
    fake.on(
        "GET",
        LIST,
        stamped(429, limited, **{"Retry-After": "30"}),
        stamped(200, {"runs": [_run(1), _run(2)]}),
    )
    fake.on("GET", GET, stamped(200, _run(1)), stamped(200, _run(2)))
    limiter = RateLimiter(None, clock=time.clock, sleep=time.sleep)
    config = make_config(fake, retry=RetryPolicy(max_attempts=1))
    async with JobsClient(config, limiter=limiter) as client:

        async def list_page(query: ListQuery, token: str | None) -> RunsPage:
            return await client.list_runs(active_only=query.active_only, page_token=token)

        poller = RunPoller(list_page, clock=time.clock, sleep=time.sleep)

        async def trigger(watch: RunWatch) -> None:  # what DatabricksRunTrigger does per check
            for _ in range(3):
                run = await watch.observe(1.0, 60.0) or await client.get_run(watch.run_id)
                watch.saw(run)

        watches = [poller.watch(1), poller.watch(2)]
        with caplog.at_level(logging.WARNING, logger="airflow_dbx_async.client._ratelimit"):
            await asyncio.gather(*(trigger(w) for w in watches))
        for watch in watches:
            watch.close()
        await poller.aclose()
    (first_at, first_path), *rest = seen
    assert (first_at, first_path) == (1.0, LIST)  # the first sweep is answered 429, Retry-After: 30
    assert rest, "polling resumed"
    assert all(at >= 31.0 for at, _ in rest), rest  # nothing, sweep or runs/get, for 30 s after it
    assert {path for _, path in rest} >= {GET}  # the two fallbacks waited as well
    held = [r for r in caplog.records if "holding every request" in r.getMessage()]
    assert len(held) == 1
    assert "429 on GET /api/2.2/jobs/runs/list" in held[0].getMessage()
