"""The example DAG run with ``dag.test()`` against the ``databricks_emulator`` fixture.

This is the pattern users copy for their own DAGs (see docs/testing.md): ``dag.test()`` runs every
task in this process and runs the triggers inline, while the fixture supplies the Databricks
workspace and the ``databricks`` connection.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_dbx_async.testing.pytest_plugin import DatabricksEmulator

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def databricks_emulator_workspace() -> Path:
    """Real notebooks and job 5 from the demo workspace."""
    return ROOT / "demo" / "workspace"


@pytest.fixture(scope="module")
def example_dag() -> Any:
    """The example DAG, loaded from the configured DAGs folder of a migrated metadata database."""
    from airflow.configuration import conf
    from airflow.utils import db

    # dag.test() imports Airflow's in-process execution API, whose import of starlette's test client
    # warns about a third-party deprecation; import it once here with that warning silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importlib.import_module("airflow.api_fastapi.execution_api.app")
    db.initdb()
    dags_folder = Path(conf.get("core", "dags_folder"))
    dags_folder.mkdir(parents=True, exist_ok=True)
    dag_file = Path(shutil.copy(ROOT / "example_dags" / "databricks_dag.py", dags_folder))
    spec = importlib.util.spec_from_file_location("example_databricks_dag", dag_file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def test_example_dag_runs_against_the_emulator(
    databricks_emulator: DatabricksEmulator, example_dag: Any
) -> None:
    from airflow.utils.state import DagRunState, TaskInstanceState

    dag_run = example_dag.test()

    assert dag_run.state == DagRunState.SUCCESS
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"submit_run": TaskInstanceState.SUCCESS, "run_now": TaskInstanceState.SUCCESS}
    runs = databricks_emulator.runs()
    assert [(run["job_id"] == 5, run["result_state"]) for run in runs] == [
        (False, "SUCCESS"),
        (True, "SUCCESS"),
    ]
    assert databricks_emulator.stats()["submits"] == 2
