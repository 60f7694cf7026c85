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
from tests.e2e.helpers import MAX_EVENT_BYTES, extra_token_connection, trigger_event_sizes

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DAG_FILES = sorted((ROOT / "example_dags").glob("*.py")) + sorted((HERE / "dags").glob("*.py"))
DAG_IDS = (
    "databricks_dag",
    "databricks_failing_dag",
    "databricks_sql_dag",
    "e2e_long_dag",
    "e2e_notebook_output_dag",
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
    connections = {
        "databricks": emulator.connection_json(),
        "databricks_extra_token": extra_token_connection(emulator),
    }
    airflow = AirflowStack(DAG_FILES, connections=connections)
    with airflow:
        airflow.wait_dags(DAG_IDS)
        yield airflow
        # Airflow stores every trigger event and logs it whole in the task log: keep them small.
        sizes = trigger_event_sizes(airflow.home)
        assert sizes, "no trigger fired an event"
        largest = max(sizes)
        assert largest[0] < MAX_EVENT_BYTES, f"largest trigger event: {largest[0]} bytes in {largest[1]}"
    leftovers = [proc.name for proc in airflow.processes if proc.alive()]
    assert not leftovers, f"Airflow processes survived stop(): {leftovers}"
