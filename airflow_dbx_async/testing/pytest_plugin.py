"""A pytest plugin giving tests a local Databricks Jobs API: the ``databricks_emulator`` fixture.

Enabled automatically when the package is installed (``pytest11`` entry point). The emulator
runs once per test session in a background thread; before each test using the fixture its state is
reset and ``AIRFLOW_CONN_DATABRICKS`` / ``AIRFLOW_CONN_DATABRICKS_DEFAULT`` point at it, so operators
with ``databricks_conn_id="databricks"`` (or the default id) talk to it. Override the
``databricks_emulator_workspace`` fixture to run your own notebooks; without a workspace the
emulator runs in simulated mode (every run succeeds after about a second).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.testing._emulator_proc import EmulatorAdmin, EmulatorInfo, EmulatorProcess

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

__all__ = (
    "DatabricksEmulator",
    "databricks_emulator",
    "databricks_emulator_server",
    "databricks_emulator_simulate",
    "databricks_emulator_workspace",
)

CONNECTION_ENV_VARS = ("AIRFLOW_CONN_DATABRICKS", "AIRFLOW_CONN_DATABRICKS_DEFAULT")


class DatabricksEmulator(EmulatorAdmin):
    """A running emulator: ``url``, ``token``, ``ca_file``, ``stats()``, ``runs()``, ``reset()``.

    :param info: where it listens.
    :param stop: stops it (called once, at the end of the test session).
    """

    def __init__(self, info: EmulatorInfo, stop: Callable[[], None]) -> None:
        self._info = info
        self._stop = stop

    def __repr__(self) -> str:
        return f"<DatabricksEmulator {self._info.url}>"

    @property
    def info(self) -> EmulatorInfo:
        """Address and token of the emulator."""
        return self._info

    def stop(self) -> None:
        """Stop the emulator."""
        self._stop()


def _start_in_thread(workspace: Path | None, simulate: bool) -> DatabricksEmulator | None:
    """Start the emulator in this process (background thread) when its Python API is available."""
    try:
        emulator: Any = importlib.import_module("airflow_dbx_async.emulator")
    except ImportError:
        return None
    server_cls = getattr(emulator, "EmulatorServer", None)
    config_cls = getattr(emulator, "EmulatorConfig", None)
    if server_cls is None or config_cls is None or not hasattr(server_cls, "start_in_thread"):
        return None
    options: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "simulate": simulate}
    if workspace is not None:
        options["workspace"] = workspace
    handle = server_cls(config_cls(**options)).start_in_thread()
    info = EmulatorInfo(url=str(handle.url).rstrip("/"), token=str(handle.token), ca_file=handle.ca_file)
    return DatabricksEmulator(info, handle.stop)


def _start_subprocess(workspace: Path | None, simulate: bool) -> DatabricksEmulator:
    proc = EmulatorProcess(workspace=workspace, simulate=simulate)
    info = proc.start()
    return DatabricksEmulator(info, proc.stop)


@pytest.fixture(scope="session")
def databricks_emulator_workspace() -> Path | None:
    """Workspace folder of notebooks and ``jobs.json`` (override it); ``None`` runs in simulated mode."""
    return None


@pytest.fixture(scope="session")
def databricks_emulator_simulate(databricks_emulator_workspace: Path | None) -> bool:
    """Whether runs are simulated rather than notebooks executed (override it to force either)."""
    return databricks_emulator_workspace is None


@pytest.fixture(scope="session")
def databricks_emulator_server(
    databricks_emulator_workspace: Path | None, databricks_emulator_simulate: bool
) -> Iterator[DatabricksEmulator]:
    """One emulator for the whole session (state is not reset between tests; see ``databricks_emulator``)."""
    server = _start_in_thread(databricks_emulator_workspace, databricks_emulator_simulate)
    if server is None:
        server = _start_subprocess(databricks_emulator_workspace, databricks_emulator_simulate)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def databricks_emulator(
    databricks_emulator_server: DatabricksEmulator, monkeypatch: pytest.MonkeyPatch
) -> DatabricksEmulator:
    """The session's emulator, reset, with the ``databricks`` and ``databricks_default`` connections set."""
    databricks_emulator_server.reset()
    conn = databricks_emulator_server.connection_json()
    for name in CONNECTION_ENV_VARS:
        monkeypatch.setenv(name, conn)
    return databricks_emulator_server
