"""Many triggers on one loop: one session, batched polls, a fallback that keeps every run, a rate ceiling."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from airflow_dbx_async.client._workspace import WORKSPACES
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.triggers import DatabricksRunTrigger
from tests.helpers import CONN_ID, first_event

if TYPE_CHECKING:
    pass

TOKEN = "dapi-shared-trigger-test"


def _connect(monkeypatch: pytest.MonkeyPatch, url: str, conn_id: str = CONN_ID, **extra: Any) -> None:
    body = {"conn_type": "databricks", "host": url, "password": TOKEN, "extra": json.dumps(extra)}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))


def _trigger(run_id: int, period: float = 1.0) -> DatabricksRunTrigger:
    return DatabricksRunTrigger(
        run_id=run_id, databricks_conn_id=CONN_ID, polling_period_seconds=period, retry_delay=0.01
    )


@pytest.mark.asyncio
async def test_triggers_share_one_connection_and_the_run_list(monkeypatch: pytest.MonkeyPatch) -> None:
    config = EmulatorConfig(simulate=True, tokens=(TOKEN,))
    async with EmulatorServer(config) as server:
        _connect(monkeypatch, server.url)
        run_ids = [server.state.submit({"run_name": f"r{i}", "tasks": [_sim_task(i)]}) for i in range(30)]
        events = await asyncio.gather(*(first_event(_trigger(run_id)) for run_id in run_ids))
        stats = server.state.stats
        assert [e.status for e in events] == ["success" if i % 5 else "failed" for i in range(30)]
        # One shared keep-alive pool: sweeps reuse one connection; only the concurrent fetches of the
        # failed runs' outputs open a few more. Never one per trigger.
        assert stats.connections <= 6
        gets = stats.requests.get("GET /api/2.2/jobs/runs/get", 0)
        lists = stats.requests.get("GET /api/2.2/jobs/runs/list", 0)
        assert gets == 6  # one per failed run, for its task list; successes need no request of their own
        assert 0 < lists < 30  # each sweep of 2 pages answered all 30 triggers
    assert WORKSPACES.active() == []  # the last trigger to finish closed the shared session


@pytest.mark.asyncio
async def test_triggers_differing_only_in_policy_share_session_ceiling_and_poller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = EmulatorConfig(simulate=True, tokens=(TOKEN,))
    async with EmulatorServer(config) as server:
        _connect(monkeypatch, server.url)
        _connect(monkeypatch, server.url, "dbx_slow", timeout_seconds=5)  # same workspace, other timeout
        quick = DatabricksRunTrigger(run_id=1, databricks_conn_id=CONN_ID, retry_limit=1, retry_delay=0.1)
        patient = DatabricksRunTrigger(
            run_id=1, databricks_conn_id="dbx_slow", retry_limit=7, retry_delay=2, api_version="2.1"
        )
        async with await quick._borrow() as one, await patient._borrow() as two:
            assert one.shared is two.shared
            assert WORKSPACES.active() == [one.shared]
            assert one.shared.borrowers == 2
            assert one.client.config.policy != two.client.config.policy
            assert two.client.config.policy.timeout_seconds == 5
            assert two.client.config.retry.max_attempts == 7
            assert one.shared.limiter is not None
        assert WORKSPACES.active() == []


def _sim_task(i: int) -> dict[str, Any]:
    task: dict[str, Any] = {"task_key": "t", "notebook_task": {"notebook_path": "/x"}}
    task["sim_duration_seconds"] = 0.5 + (i % 4) * 0.5
    if i % 5 == 0:
        task.update(sim_result="FAILED", sim_error="ValueError: planned failure")
    return task


class HiddenRuns:
    """A workspace whose runs/list never shows the runs (as when a list page is lost or filtered)."""

    def __init__(self, finish_after: int) -> None:
        self.finish_after = finish_after
        self.gets: dict[int, int] = {}
        self.stamps: list[float] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/2.2/jobs/runs/list", self._list)
        app.router.add_get("/api/2.2/jobs/runs/get", self._get)
        return app

    async def _list(self, request: web.Request) -> web.Response:
        self.stamps.append(time.monotonic())
        return web.json_response({})

    async def _get(self, request: web.Request) -> web.Response:
        self.stamps.append(time.monotonic())
        run_id = int(request.query["run_id"])
        self.gets[run_id] = seen = self.gets.get(run_id, 0) + 1
        state = {"life_cycle_state": "RUNNING"}
        if seen >= self.finish_after:
            state = {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}
        return web.json_response({"run_id": run_id, "state": state, "start_time": 1})


@pytest.mark.asyncio
async def test_a_run_missing_from_the_list_still_reports_its_true_final_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workspace = HiddenRuns(finish_after=2)
    async with TestServer(workspace.app(), host="127.0.0.1") as server:
        _connect(monkeypatch, str(server.make_url("")).rstrip("/"))
        event = await first_event(_trigger(7, period=0.2))
    assert event.status == "success"
    assert event.state is not None
    assert event.state.raw_result_state == "SUCCESS"
    assert workspace.gets == {7: 2}  # the sweeps missed it; the trigger asked runs/get itself


@pytest.mark.asyncio
async def test_the_rate_ceiling_holds_across_triggers(monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = HiddenRuns(finish_after=3)
    async with TestServer(workspace.app(), host="127.0.0.1") as server:
        _connect(monkeypatch, str(server.make_url("")).rstrip("/"), max_requests_per_second=20)
        events = await asyncio.gather(*(first_event(_trigger(run_id, period=0.1)) for run_id in range(1, 21)))
    assert {e.status for e in events} == {"success"}
    stamps = sorted(workspace.stamps)
    assert len(stamps) >= 60  # 20 runs x 3 runs/get, plus the sweeps
    # A token bucket of 20/s with a burst of 20: no window of t seconds sees more than 20 + 20 t.
    for i, start in enumerate(stamps):
        inside = [s for s in stamps[i:] if s - start <= 1.0]
        assert len(inside) <= 20 + 20 * 1.0 + 1, (len(inside), start)
    assert stamps[-1] - stamps[0] >= (len(stamps) - 20) / 20 * 0.9
