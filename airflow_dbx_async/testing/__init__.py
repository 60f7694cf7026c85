"""Test helpers: the emulator as a process, a throw-away real Airflow, and a pytest fixture.

- :class:`EmulatorProcess` runs ``python -m airflow_dbx_async.emulator`` in its own process group.
- :class:`AirflowStack` runs Airflow's API server, scheduler, DAG processor and triggerer as child
  processes on a fresh ``AIRFLOW_HOME`` (it never imports Airflow itself).
- :mod:`airflow_dbx_async.testing.pytest_plugin` provides the ``databricks_emulator`` fixture.
"""

from __future__ import annotations

from airflow_dbx_async.testing._airflow_api import TERMINAL_TASK_STATES, AirflowApi, flatten_log
from airflow_dbx_async.testing._emulator_proc import (
    EmulatorAdmin,
    EmulatorInfo,
    EmulatorProcess,
    connection_json,
)
from airflow_dbx_async.testing._procs import ManagedProcess, group_alive
from airflow_dbx_async.testing._stack import AirflowStack, free_port

__all__ = (
    "TERMINAL_TASK_STATES",
    "AirflowApi",
    "AirflowStack",
    "EmulatorAdmin",
    "EmulatorInfo",
    "EmulatorProcess",
    "ManagedProcess",
    "connection_json",
    "flatten_log",
    "free_port",
    "group_alive",
)
