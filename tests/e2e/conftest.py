"""One emulator and one real Airflow (four components as child processes) shared by the e2e tests.

The emulator runs notebooks for real from a workspace that merges the demo workspace with the
notebooks of these tests. Every test of this folder is marked ``e2e``; select or skip them with
``-m e2e`` / ``-m "not e2e"``. Set ``AIRFLOW_E2E_KEEP_HOME=1`` to keep the Airflow home (component
output and task logs) after the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_dbx_async.testing import AirflowStack, EmulatorProcess

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DAG_FILES = sorted((ROOT / "example_dags").glob("*.py")) + sorted((HERE / "dags").glob("*.py"))
DAG_IDS = (
    "databricks_dag",
    "databricks_failing_dag",
    "e2e_long_dag",
    "e2e_parallel_dag",
    "e2e_reattach_dag",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.timeout(300))


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    """The emulator in REAL mode (notebooks run as subprocesses)."""
    with EmulatorProcess(workspace=[ROOT / "demo" / "workspace", HERE / "workspace"]) as proc:
        yield proc
    assert proc.process is not None
    assert not proc.process.alive(), "the emulator's process group survived stop()"


@pytest.fixture(scope="session")
def stack(emulator: EmulatorProcess) -> Iterator[AirflowStack]:
    """A real Airflow with every DAG this suite needs, its ``databricks`` connection on the emulator."""
    airflow = AirflowStack(DAG_FILES, connections={"databricks": emulator.connection_json()})
    with airflow:
        airflow.wait_dags(DAG_IDS)
        yield airflow
    leftovers = [proc.name for proc in airflow.processes if proc.alive()]
    assert not leftovers, f"Airflow processes survived stop(): {leftovers}"
