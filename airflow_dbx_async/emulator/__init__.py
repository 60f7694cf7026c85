"""A local emulator of the Databricks Jobs API (aiohttp.web and the standard library only).

It is an independent second implementation of the wire contract: it imports neither the client layer
nor Airflow. Use :class:`EmulatorServer` in tests, or ``python -m airflow_dbx_async.emulator`` for demos.
"""

from __future__ import annotations

from airflow_dbx_async.emulator._server import EmulatorHandle, EmulatorServer
from airflow_dbx_async.emulator.app import create_app
from airflow_dbx_async.emulator.config import DEFAULT_TOKEN, EmulatorConfig, FaultConfig
from airflow_dbx_async.emulator.state import EmulatorState

__all__ = (
    "DEFAULT_TOKEN",
    "EmulatorConfig",
    "EmulatorHandle",
    "EmulatorServer",
    "EmulatorState",
    "FaultConfig",
    "create_app",
)
