"""Typed application keys shared by the emulator's handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from airflow_dbx_async.emulator._faults import FaultInjector
from airflow_dbx_async.emulator.state import EmulatorState

if TYPE_CHECKING:
    from weakref import WeakSet

__all__ = ("CONNECTIONS", "FAULTS", "STATE")

STATE = web.AppKey("state", EmulatorState)
FAULTS = web.AppKey("faults", FaultInjector)
CONNECTIONS: web.AppKey[WeakSet[object]] = web.AppKey("connections")
