"""SQL warehouses and their state machine: STOPPED, STARTING, RUNNING, STOPPING, STOPPED (and DELETED).

A warehouse keeps a short timeline of ``(from_ms, state)`` entries, so its state is read from the clock like a
simulated run's: a start writes STARTING now and RUNNING ``warehouse_transition_seconds`` later. Starting a
STOPPING warehouse waits for the stop to end, then starts. ``auto_stop_mins`` (0 = never, else at least 10)
stops a warehouse that had no running statement for that long; it is applied lazily, whenever the warehouse
is read. Warehouses are declared in ``EmulatorConfig.warehouses`` or ``<workspace>/warehouses.json``, and one
default warehouse (``DEFAULT_WAREHOUSE_ID``, RUNNING) always exists. Reference:
https://docs.databricks.com/api/workspace/warehouses (get, list, create, edit, delete, start, stop).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.emulator._params import ApiFailure, invalid

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = (
    "DEFAULT_WAREHOUSE_ID",
    "Warehouse",
    "add_warehouse",
    "get_warehouse",
    "load_warehouses",
    "start_warehouse",
    "stop_warehouse",
    "warehouse_state",
)

DEFAULT_WAREHOUSE_ID = "d0e1f2a3b4c5d6e7"
_DEFAULTS: dict[str, Any] = {
    "cluster_size": "2X-Small",
    "min_num_clusters": 1,
    "auto_stop_mins": 120,
    "enable_photon": True,
    "enable_serverless_compute": False,
    "warehouse_type": "PRO",
    "spot_instance_policy": "COST_OPTIMIZED",
    "creator_name": "emulator@example.com",
}
SETTINGS = (
    "name",
    "cluster_size",
    "min_num_clusters",
    "max_num_clusters",
    "auto_stop_mins",
    "enable_photon",
    "enable_serverless_compute",
    "warehouse_type",
    "spot_instance_policy",
    "creator_name",
    "tags",
    "channel",
    "statement_timeout",
)
_GONE = ("DELETING", "DELETED")


@dataclass(slots=True, eq=False)
class Warehouse:
    """One SQL warehouse: its settings and its state timeline."""

    id: str
    settings: dict[str, Any]
    timeline: list[tuple[int, str]]
    last_active_ms: int
    running_statements: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def load_warehouses(state: EmulatorState) -> None:
    """The default warehouse, ``EmulatorConfig.warehouses`` and ``<workspace>/warehouses.json``."""
    declared: list[Any] = [{"id": DEFAULT_WAREHOUSE_ID, "name": "Emulator Warehouse"}]
    declared += [{"id": w} for w in state.config.warehouses]
    root = state.config.workspace_path
    path = None if root is None else root / "warehouses.json"
    if path is not None and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        declared += data.get("warehouses", []) if isinstance(data, dict) else data
    for spec in declared:
        add_warehouse(state, spec, status=str(spec.get("state", "RUNNING")))


def add_warehouse(state: EmulatorState, spec: Mapping[str, Any], *, status: str = "RUNNING") -> str:
    """Store a warehouse (``spec`` may carry its ``id``) in ``status``; returns its id."""
    warehouse_id = str(spec.get("id") or secrets.token_hex(8))
    settings = {**_DEFAULTS, "name": f"Warehouse {warehouse_id}"}
    settings.update({k: v for k, v in spec.items() if k in SETTINGS and v is not None})
    settings.setdefault("max_num_clusters", settings["min_num_clusters"])
    now = state.now_ms()
    state.warehouses[warehouse_id] = Warehouse(warehouse_id, settings, [(now, status)], now)
    return warehouse_id


def get_warehouse(state: EmulatorState, warehouse_id: str) -> Warehouse:
    """A known warehouse (deleted ones included), or 404 ``RESOURCE_DOES_NOT_EXIST``."""
    found = state.warehouses.get(warehouse_id)
    if found is None:
        raise ApiFailure(404, "RESOURCE_DOES_NOT_EXIST", f"Warehouse {warehouse_id[:64]} does not exist.")
    return found


def _settle(warehouse: Warehouse, now: int, transition: int) -> None:
    """Apply auto-stop, then drop timeline entries that can no longer be observed."""
    at, current = warehouse.timeline[-1]
    minutes = int(warehouse.settings.get("auto_stop_mins") or 0)
    if current == "RUNNING" and at <= now and minutes > 0 and warehouse.running_statements == 0:
        stop_at = max(at, warehouse.last_active_ms) + minutes * 60_000
        if stop_at <= now:
            warehouse.timeline += [(stop_at, "STOPPING"), (stop_at + transition, "STOPPED")]
    past = [i for i, (when, _) in enumerate(warehouse.timeline) if when <= now]
    if past and past[-1] > 0:
        del warehouse.timeline[: past[-1]]


def _transition_ms(state: EmulatorState) -> int:
    return int(state.config.warehouse_transition_seconds * 1000)


def warehouse_state(state: EmulatorState, warehouse: Warehouse) -> str:
    """The warehouse's state now."""
    now = state.now_ms()
    _settle(warehouse, now, _transition_ms(state))
    current = warehouse.timeline[0][1]
    for when, name in warehouse.timeline:
        if when <= now:
            current = name
    return current


def _future(warehouse: Warehouse, now: int) -> list[tuple[int, str]]:
    return [entry for entry in warehouse.timeline if entry[0] > now]


def _refuse_deleted(warehouse: Warehouse, current: str) -> None:
    if current in _GONE:
        raise invalid(f"Warehouse {warehouse.id} is deleted.")


def start_warehouse(state: EmulatorState, warehouse: Warehouse) -> None:
    """Start (idempotent); a STOPPING warehouse first finishes stopping."""
    current, now, transition = warehouse_state(state, warehouse), state.now_ms(), _transition_ms(state)
    _refuse_deleted(warehouse, current)
    future = _future(warehouse, now)
    if current in ("RUNNING", "STARTING") or any(name == "STARTING" for _, name in future):
        return
    begin = future[0][0] if current == "STOPPING" and future else now
    warehouse.timeline = [e for e in warehouse.timeline if e[0] <= begin]
    warehouse.timeline += [(begin, "STARTING"), (begin + transition, "RUNNING")]
    warehouse.last_active_ms = begin + transition


def stop_warehouse(state: EmulatorState, warehouse: Warehouse, *, final: str = "STOPPED") -> None:
    """Stop (idempotent; cancels a start waiting for the stop), or delete with ``final="DELETED"``."""
    current, now, transition = warehouse_state(state, warehouse), state.now_ms(), _transition_ms(state)
    _refuse_deleted(warehouse, current)
    past = [e for e in warehouse.timeline if e[0] <= now]
    if final == "DELETED":
        warehouse.timeline = [*past, (now, "DELETING"), (now + transition, "DELETED")]
    elif current == "STOPPING":
        future = _future(warehouse, now)
        warehouse.timeline = past + future[:1]
    elif current != "STOPPED":
        warehouse.timeline = [*past, (now, "STOPPING"), (now + transition, "STOPPED")]
