"""SQL Warehouses API 2.0 over real HTTP: the state machine and auto-stop, driven by an injected clock.

References: https://docs.databricks.com/api/workspace/warehouses/get, .../warehouses/list,
.../warehouses/create, .../warehouses/edit, .../warehouses/delete, .../warehouses/start,
.../warehouses/stop. No sleeping: the clock is moved and the state is read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from airflow_dbx_async.emulator import DEFAULT_TOKEN, EmulatorConfig, EmulatorState, create_app
from airflow_dbx_async.emulator._warehouse_store import DEFAULT_WAREHOUSE_ID

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.asyncio
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
BASE = "/api/2.0/sql/warehouses"
T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, client: TestClient[Any, Any], clock: Clock) -> None:
        self.client = client
        self.clock = clock

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        resp = await self.client.request(method, path, json=body, headers=AUTH)
        return resp.status, await resp.json()

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = await self.call(method, path, body)
        assert status == 200, answer
        return answer

    async def state_at(self, seconds: float, warehouse_id: str = DEFAULT_WAREHOUSE_ID) -> str:
        self.clock.now = T0 + seconds
        state: str = (await self.ok("GET", f"{BASE}/{warehouse_id}"))["state"]
        return state


@pytest_asyncio.fixture
async def wh() -> AsyncIterator[Harness]:
    clock, config = Clock(), EmulatorConfig(simulate=True, warehouse_transition_seconds=10)
    app = create_app(config, state=EmulatorState(config, clock=clock))
    async with TestClient(TestServer(app)) as client:
        yield Harness(client, clock)


async def test_default_warehouse_is_running_and_listed(wh: Harness) -> None:
    listed = await wh.ok("GET", BASE)
    (only,) = listed["warehouses"]
    assert only["id"] == DEFAULT_WAREHOUSE_ID
    assert only["state"] == "RUNNING"
    assert only["health"] == {"status": "HEALTHY"}
    assert (only["num_clusters"], only["min_num_clusters"], only["auto_stop_mins"]) == (1, 1, 120)
    assert only["odbc_params"]["path"] == f"/sql/1.0/warehouses/{DEFAULT_WAREHOUSE_ID}"
    assert f"httpPath=/sql/1.0/warehouses/{DEFAULT_WAREHOUSE_ID}" in only["jdbc_url"]


async def test_stop_and_start_pass_through_their_transitions(wh: Harness) -> None:
    assert await wh.ok("POST", f"{BASE}/{DEFAULT_WAREHOUSE_ID}/stop") == {}
    seen = [await wh.state_at(t) for t in (0, 9.9, 10)]
    assert seen == ["STOPPING", "STOPPING", "STOPPED"]
    stopped = await wh.ok("GET", f"{BASE}/{DEFAULT_WAREHOUSE_ID}")
    assert (stopped["num_clusters"], "health" in stopped) == (0, False)
    await wh.ok("POST", f"{BASE}/{DEFAULT_WAREHOUSE_ID}/stop")  # idempotent
    assert await wh.state_at(10) == "STOPPED"
    await wh.ok("POST", f"{BASE}/{DEFAULT_WAREHOUSE_ID}/start")
    assert [await wh.state_at(t) for t in (10, 19.9, 20)] == ["STARTING", "STARTING", "RUNNING"]
    await wh.ok("POST", f"{BASE}/{DEFAULT_WAREHOUSE_ID}/start")  # idempotent
    assert await wh.state_at(20) == "RUNNING"


async def test_start_while_stopping_waits_for_the_stop_then_starts(wh: Harness) -> None:
    await wh.ok("POST", f"{BASE}/{DEFAULT_WAREHOUSE_ID}/stop")
    wh.clock.now = T0 + 4
    await wh.ok("POST", f"{BASE}/{DEFAULT_WAREHOUSE_ID}/start")
    assert [await wh.state_at(t) for t in (4, 9.9, 10, 19.9, 20)] == [
        "STOPPING",
        "STOPPING",
        "STARTING",
        "STARTING",
        "RUNNING",
    ]
    # A stop while a start waits for the stop cancels that start.
    await wh.ok("POST", f"{BASE}/{DEFAULT_WAREHOUSE_ID}/stop")
    wh.clock.now = T0 + 25
    await wh.ok("POST", f"{BASE}/{DEFAULT_WAREHOUSE_ID}/start")
    await wh.ok("POST", f"{BASE}/{DEFAULT_WAREHOUSE_ID}/stop")
    assert [await wh.state_at(t) for t in (25, 30, 45)] == ["STOPPING", "STOPPED", "STOPPED"]


async def test_auto_stop_after_idle_minutes_and_statements_keep_it_awake(wh: Harness) -> None:
    created = await wh.ok("POST", BASE, {"name": "etl", "auto_stop_mins": 10, "cluster_size": "Small"})
    warehouse_id = created["id"]
    assert await wh.state_at(0, warehouse_id) == "STARTING"
    assert await wh.state_at(10, warehouse_id) == "RUNNING"
    # Idle from t=10 s: still running at t=10 s + 9 min, then a statement resets the idle clock.
    assert await wh.state_at(10 + 540, warehouse_id) == "RUNNING"
    body = {"statement": "SELECT 1", "warehouse_id": warehouse_id}
    answer = await wh.ok("POST", "/api/2.0/sql/statements", body)
    assert answer["status"]["state"] == "SUCCEEDED"
    assert await wh.state_at(10 + 540 + 599, warehouse_id) == "RUNNING"
    assert await wh.state_at(10 + 540 + 600, warehouse_id) == "STOPPING"
    assert await wh.state_at(10 + 540 + 610, warehouse_id) == "STOPPED"
    never = await wh.ok("POST", BASE, {"name": "always", "auto_stop_mins": 0})
    assert await wh.state_at(10 * 24 * 3600, never["id"]) == "RUNNING"


async def test_create_edit_delete(wh: Harness) -> None:
    created = await wh.ok("POST", BASE, {"name": "bi", "min_num_clusters": 2, "max_num_clusters": 3})
    warehouse_id = created["id"]
    assert list(created) == ["id"]
    assert await wh.ok("POST", f"{BASE}/{warehouse_id}/edit", {"auto_stop_mins": 30, "name": "bi2"}) == {}
    shown = await wh.ok("GET", f"{BASE}/{warehouse_id}")
    assert (shown["name"], shown["auto_stop_mins"], shown["max_num_clusters"]) == ("bi2", 30, 3)
    assert await wh.ok("DELETE", f"{BASE}/{warehouse_id}") == {}
    assert await wh.state_at(0, warehouse_id) == "DELETING"
    assert await wh.state_at(10, warehouse_id) == "DELETED"
    assert [w["id"] for w in (await wh.ok("GET", BASE))["warehouses"]] == [DEFAULT_WAREHOUSE_ID]
    status, error = await wh.call("POST", f"{BASE}/{warehouse_id}/start")
    assert (status, error["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    body = {"statement": "SELECT 1", "warehouse_id": warehouse_id}
    status, error = await wh.call("POST", "/api/2.0/sql/statements", body)
    assert (status, error["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ({"name": "x", "auto_stop_mins": 5}, "INVALID_PARAMETER_VALUE", "auto_stop_mins"),
        ({"name": "x", "cluster_size": "Huge"}, "INVALID_PARAMETER_VALUE", "cluster_size"),
        ({"name": "x", "min_num_clusters": 0}, "INVALID_PARAMETER_VALUE", "min_num_clusters"),
        ({"name": "x", "min_num_clusters": 2, "max_num_clusters": 1}, "INVALID_PARAMETER_VALUE", "max_num"),
        ({"name": "x", "max_num_clusters": 41}, "INVALID_PARAMETER_VALUE", "max_num_clusters"),
        ({"name": "x", "warehouse_type": "HUGE"}, "INVALID_PARAMETER_VALUE", "warehouse_type"),
        ({"name": "x", "auto_stop_mins": "soon"}, "MALFORMED_REQUEST", "auto_stop_mins"),
        ({"name": "x" * 100}, "INVALID_PARAMETER_VALUE", "name"),
        ({"cluster_size": "Small"}, "INVALID_PARAMETER_VALUE", "name"),
        ({"name": 5}, "MALFORMED_REQUEST", "name"),
    ],
)
async def test_bad_settings_are_400_naming_the_field(
    wh: Harness, body: dict[str, Any], code: str, named: str
) -> None:
    status, error = await wh.call("POST", BASE, body)
    assert (status, error["error_code"]) == (400, code), error
    assert named in error["message"]


async def test_unknown_warehouse_is_404(wh: Harness) -> None:
    for method, path in (("GET", "nope"), ("POST", "nope/start"), ("POST", "nope/stop"), ("DELETE", "nope")):
        status, error = await wh.call(method, f"{BASE}/{path}")
        assert (status, error["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


async def test_warehouses_json_declares_warehouses(tmp_path: Path) -> None:
    spec = {
        "warehouses": [{"id": "0123456789abcdef", "name": "cold", "state": "STOPPED", "auto_stop_mins": 15}]
    }
    (tmp_path / "warehouses.json").write_text(json.dumps(spec), encoding="utf-8")
    config = EmulatorConfig(simulate=True, workspace=tmp_path, warehouses=("feedfacecafebeef",))
    async with TestClient(TestServer(create_app(config))) as client:
        resp = await client.get(BASE, headers=AUTH)
        shown = {w["id"]: (w["name"], w["state"]) for w in (await resp.json())["warehouses"]}
    assert shown == {
        DEFAULT_WAREHOUSE_ID: ("Emulator Warehouse", "RUNNING"),
        "feedfacecafebeef": ("Warehouse feedfacecafebeef", "RUNNING"),
        "0123456789abcdef": ("cold", "STOPPED"),
    }
