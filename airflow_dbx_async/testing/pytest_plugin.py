"""A pytest plugin giving tests a local Databricks Jobs API: the ``databricks_emulator`` fixture.

Enabled automatically when the package is installed (``pytest11`` entry point). The emulator
runs once per test session in a background thread; before each test using the fixture its state is
reset and ``AIRFLOW_CONN_DATABRICKS`` / ``AIRFLOW_CONN_DATABRICKS_DEFAULT`` point at it, so operators
with ``databricks_conn_id="databricks"`` (or the default id) talk to it.

Settings (``pytest.ini``, ``[tool.pytest.ini_options]``, or ``-o name=value`` on the command line):

- ``databricks_emulator_workspace``: folder of notebooks and ``jobs.json``, relative to the ini file;
  unset, runs are simulated (each succeeds after about a second). The fixture of that name
  overrides it.
- ``databricks_emulator_port``: port to listen on (default 0: a free port). The fixture of that name
  overrides it.
- ``databricks_airflow_home``: a folder (relative to the ini file) used as ``AIRFLOW_HOME`` for the
  session, set before Airflow is imported, with Airflow's example DAGs off; the
  ``databricks_airflow`` fixture migrates its metadata database once, which ``dag.test()`` needs.
  Without it, an ``AIRFLOW_HOME`` set in the environment is used; with neither, the session gets a
  temporary ``AIRFLOW_HOME`` (removed at its end), so your own Airflow (``~/airflow``) is never
  touched.
- ``databricks_dags_folder``: the DAGs folder (relative to the ini file) ``dag.test()`` looks for
  DAG files in; a DAG tested with ``dag.test()`` must live there.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_dbx_async.testing._emulator_proc import EmulatorAdmin, EmulatorInfo

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = (
    "CONNECTION_ENV_VARS",
    "AirflowTestEnv",
    "DatabricksEmulator",
    "databricks_airflow",
    "databricks_emulator",
    "databricks_emulator_port",
    "databricks_emulator_server",
    "databricks_emulator_simulate",
    "databricks_emulator_workspace",
)

CONNECTION_ENV_VARS = ("AIRFLOW_CONN_DATABRICKS", "AIRFLOW_CONN_DATABRICKS_DEFAULT")
_TEMPORARY_HOME = pytest.StashKey[str]()
_INI = {
    "databricks_emulator_workspace": "emulator workspace folder (notebooks, jobs.json); unset: simulated",
    "databricks_emulator_port": "port the emulator listens on (default 0: a free port)",
    "databricks_airflow_home": "AIRFLOW_HOME for the test session, set before Airflow is imported",
    "databricks_dags_folder": "Airflow DAGs folder for dag.test() (relative to the ini file)",
}


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


@dataclass(frozen=True)
class AirflowTestEnv:
    """The session's Airflow home (its database migrated) and DAGs folder (``None`` when not set)."""

    home: Path | None
    dags_folder: Path | None


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the plugin's ini settings."""
    for name, help_text in _INI.items():
        parser.addini(name, help_text, default="")


def _ini_path(config: pytest.Config, name: str) -> Path | None:
    value = str(config.getini(name) or "").strip()
    if not value:
        return None
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return (base / value).resolve()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Point Airflow at the configured home and DAGs folder before anything imports Airflow."""
    home = _ini_path(early_config, "databricks_airflow_home")
    dags = _ini_path(early_config, "databricks_dags_folder")
    if home is None and "AIRFLOW_HOME" not in os.environ and "airflow" not in sys.modules:
        # Nothing chosen: a throw-away home, never the default ~/airflow of the user's own Airflow.
        temporary = tempfile.mkdtemp(prefix="databricks-airflow-home-")
        early_config.stash[_TEMPORARY_HOME] = temporary
        os.environ["AIRFLOW_HOME"] = temporary
        os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    if home is None and dags is None:
        return
    if home is not None and "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(home):
        raise pytest.UsageError(
            "databricks_airflow_home: Airflow was imported before the setting could apply; "
            f"set AIRFLOW_HOME={home} in the environment instead"
        )
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        os.environ["AIRFLOW_HOME"] = str(home)
        os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    if dags is not None:
        os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's temporary Airflow home, if it made one."""
    temporary = config.stash.get(_TEMPORARY_HOME, None)
    if temporary is not None:
        shutil.rmtree(temporary, ignore_errors=True)


def _start(workspace: Path | None, simulate: bool, port: int) -> DatabricksEmulator:
    """Start the emulator in this process, on its own event loop in a background thread."""
    from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer

    config = EmulatorConfig(host="127.0.0.1", port=port, simulate=simulate, workspace=workspace)
    handle = EmulatorServer(config).start_in_thread()
    info = EmulatorInfo(url=str(handle.url).rstrip("/"), token=str(handle.token), ca_file=handle.ca_file)
    return DatabricksEmulator(info, handle.stop)


@pytest.fixture(scope="session")
def databricks_emulator_workspace(pytestconfig: pytest.Config) -> Path | None:
    """Workspace folder of notebooks and ``jobs.json`` (the ini setting, or override the fixture).

    ``None`` runs in simulated mode.
    """
    return _ini_path(pytestconfig, "databricks_emulator_workspace")


@pytest.fixture(scope="session")
def databricks_emulator_port(pytestconfig: pytest.Config) -> int:
    """Port the emulator listens on: the ini setting ``databricks_emulator_port``, else a free one."""
    value = str(pytestconfig.getini("databricks_emulator_port") or "0").strip()
    if not value.isdigit() or int(value) > 65535:
        raise pytest.UsageError(f"databricks_emulator_port: must be a port number, got {value!r}")
    return int(value)


@pytest.fixture(scope="session")
def databricks_emulator_simulate(databricks_emulator_workspace: Path | None) -> bool:
    """Whether runs are simulated rather than notebooks executed (override it to force either)."""
    return databricks_emulator_workspace is None


@pytest.fixture(scope="session")
def databricks_emulator_server(
    databricks_emulator_workspace: Path | None,
    databricks_emulator_simulate: bool,
    databricks_emulator_port: int,
) -> Iterator[DatabricksEmulator]:
    """One emulator for the whole session (state is not reset between tests; see ``databricks_emulator``)."""
    workspace = databricks_emulator_workspace
    if workspace is not None and not workspace.is_dir():
        raise pytest.UsageError(f"databricks_emulator_workspace: {workspace} is not a folder")
    server = _start(workspace, databricks_emulator_simulate, databricks_emulator_port)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def databricks_emulator(
    databricks_emulator_server: DatabricksEmulator, monkeypatch: pytest.MonkeyPatch
) -> DatabricksEmulator:
    """The session's emulator, reset, with the ``databricks`` and ``databricks_default`` connections set.

    Triggers fire as soon as their run ends (``[databricks_async] event_hold_seconds`` is 0): ``dag.test()``
    runs them in-process, with no scheduler whose executor events they could overtake.
    """
    databricks_emulator_server.reset()
    conn = databricks_emulator_server.connection_json()
    for name in CONNECTION_ENV_VARS:
        monkeypatch.setenv(name, conn)
    monkeypatch.setenv("AIRFLOW__DATABRICKS_ASYNC__EVENT_HOLD_SECONDS", "0")
    return databricks_emulator_server


@pytest.fixture(scope="session")
def databricks_airflow(pytestconfig: pytest.Config) -> AirflowTestEnv:
    """A migrated Airflow metadata database, for ``dag.test()`` (once per session).

    Uses the ``databricks_airflow_home`` setting, else ``AIRFLOW_HOME`` from the environment, else a
    temporary home made for the session. It refuses to migrate Airflow's default home (``~/airflow``,
    when ``AIRFLOW_HOME`` is unset because Airflow was imported before the plugin could set it).

    It also imports Airflow's in-process execution API once with warnings silenced: ``dag.test()``
    imports it, and that import raises a third-party deprecation warning, which
    ``filterwarnings = error`` would turn into a failure of the first test.
    """
    home = os.environ.get("AIRFLOW_HOME")
    if not home:
        raise pytest.UsageError(
            "databricks_airflow: Airflow was imported before a temporary AIRFLOW_HOME could be set, "
            "and its default home is not migrated for tests; set databricks_airflow_home or AIRFLOW_HOME"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importlib.import_module("airflow.api_fastapi.execution_api.app")
    db = importlib.import_module("airflow.utils.db")
    db.initdb()
    return AirflowTestEnv(
        home=_ini_path(pytestconfig, "databricks_airflow_home") or Path(home),
        dags_folder=_ini_path(pytestconfig, "databricks_dags_folder"),
    )
