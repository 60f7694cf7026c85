"""OAuth machine-to-machine through the hook and the trigger, against the emulator's token endpoint."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from airflow_dbx_async.client import JobsClient, OAuthM2MAuth, clear_token_cache
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.hooks import DatabricksAsyncHook
from airflow_dbx_async.triggers import DatabricksRunTrigger
from tests.helpers import CONN_ID, first_event

if TYPE_CHECKING:
    pass

TOKEN_PATH = "POST /oidc/v1/token"
TASK = {"task_key": "t", "notebook_task": {"notebook_path": "/x"}, "sim_duration_seconds": 0.3}


def _connect(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    body = {
        "conn_type": "databricks",
        "host": url,
        "login": "emulator-sp",
        "password": "emulator-secret",
        "extra": json.dumps({"service_principal_oauth": True}),
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(body))
    clear_token_cache()


@pytest.mark.asyncio
async def test_one_cached_token_serves_the_whole_watch_and_a_revoked_token_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with EmulatorServer(EmulatorConfig(simulate=True)) as server:
        _connect(monkeypatch, server.url)
        config = await DatabricksAsyncHook(CONN_ID).aget_config()
        assert isinstance(getattr(config.auth, "inner", None), OAuthM2MAuth)  # its tokens get masked
        run_id = server.state.submit({"run_name": "oauth", "tasks": [TASK]})
        trigger = DatabricksRunTrigger(run_id=run_id, databricks_conn_id=CONN_ID, polling_period_seconds=0.2)
        assert (await first_event(trigger)).status == "success"
        async with JobsClient(config) as client:  # more requests, whatever the trigger's own count
            for _ in range(2):
                await client.get_run(run_id)
        requests = server.state.stats.requests
        assert requests[TOKEN_PATH] == 1  # the trigger's polls and the later requests reused the token
        assert sum(n for path, n in requests.items() if "/api/" in path) >= 3

        server.state.oauth_tokens.clear()  # the workspace revokes every token it issued
        async with JobsClient(config) as client:
            assert (await client.get_run(run_id)).run_id == run_id  # 401, one new token, one retry
        assert requests[TOKEN_PATH] == 2


@pytest.mark.asyncio
async def test_a_token_near_expiry_is_refreshed_before_use(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tokens living 30 s are always inside the 60 s refresh margin: each request fetches a fresh one.
    async with EmulatorServer(EmulatorConfig(simulate=True, oauth_token_ttl_seconds=30)) as server:
        _connect(monkeypatch, server.url)
        config = await DatabricksAsyncHook(CONN_ID).aget_config()
        run_id = server.state.submit({"run_name": "oauth", "tasks": [TASK]})
        async with JobsClient(config) as client:
            for _ in range(3):
                await client.get_run(run_id)
        requests = server.state.stats.requests
        assert requests[TOKEN_PATH] == 3
        assert requests.get("GET /api/2.2/jobs/runs/get", 0) == 3
