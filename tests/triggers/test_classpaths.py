"""Every trigger classpath ever stored in an Airflow database still deserialises, and each trigger
serialises the classpath of its own class (a round trip through the triggerer's own loader)."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.jobs import triggerer_job_runner

from airflow_dbx_async.triggers import (
    TASK_RUN_TRIGGER_CLASSPATH,
    TRIGGER_CLASSPATH,
    DatabricksRunTrigger,
    DatabricksTaskRunTrigger,
)

# The kwargs a deferral of release 0.1.0 stored (a first watch: no repair history), and of a repaired run.
STORED_KWARGS: dict[str, Any] = {
    "run_id": 42,
    "databricks_conn_id": "databricks_default",
    "polling_period_seconds": 30,
    "retry_limit": 3,
    "retry_delay": 1.0,
    "run_page_url": "https://adb-1.azuredatabricks.net/?o=1#job/7/run/42",
    "deadline": 1_900_000_000.0,
    "cancel_on_kill": True,
    "api_version": "2.2",
}
REPAIRED_KWARGS = {**STORED_KWARGS, "repairs": 1, "earlier_failures": ["Databricks run 42 failed: ***"]}

# Every classpath a release stored, and the class it names now.
RELEASED = [
    ("airflow_dbx_async.triggers.DatabricksRunTrigger", DatabricksRunTrigger),
    ("airflow_dbx_async.task_triggers.DatabricksTaskRunTrigger", DatabricksTaskRunTrigger),
    ("airflow_dbx_async.triggers.DatabricksTaskRunTrigger", DatabricksTaskRunTrigger),
]


def _load(classpath: str) -> Any:
    """The trigger class as Airflow's triggerer resolves a stored classpath."""
    return vars(triggerer_job_runner)["import_string"](classpath)  # its loader, on every Airflow 3


@pytest.mark.parametrize(("classpath", "cls"), RELEASED)
@pytest.mark.parametrize("kwargs", [STORED_KWARGS, REPAIRED_KWARGS], ids=["first-watch", "repaired"])
def test_every_released_classpath_still_deserialises(
    classpath: str, cls: type[DatabricksRunTrigger], kwargs: dict[str, Any]
) -> None:
    loaded = _load(classpath)
    assert loaded is cls
    trigger = loaded(**kwargs)
    assert isinstance(trigger, cls)
    assert trigger.run_id == 42
    assert trigger.serialize()[1] == kwargs


@pytest.mark.parametrize("cls", [DatabricksRunTrigger, DatabricksTaskRunTrigger])
@pytest.mark.parametrize("kwargs", [STORED_KWARGS, REPAIRED_KWARGS], ids=["first-watch", "repaired"])
def test_the_classpath_is_derived_from_the_class_and_round_trips(
    cls: type[DatabricksRunTrigger], kwargs: dict[str, Any]
) -> None:
    trigger = cls(**kwargs)
    classpath, serialized = trigger.serialize()
    assert classpath == f"{cls.__module__}.{cls.__qualname__}"
    rebuilt = _load(classpath)(**serialized)
    assert type(rebuilt) is cls
    assert rebuilt.serialize() == (classpath, serialized)


def test_the_stored_classpaths_are_public_and_stable() -> None:
    assert DatabricksRunTrigger(run_id=1).serialize()[0] == TRIGGER_CLASSPATH
    assert TRIGGER_CLASSPATH == "airflow_dbx_async.triggers.DatabricksRunTrigger"  # unchanged
    assert DatabricksTaskRunTrigger(run_id=1).serialize()[0] == TASK_RUN_TRIGGER_CLASSPATH
    assert TASK_RUN_TRIGGER_CLASSPATH == "airflow_dbx_async.triggers.DatabricksTaskRunTrigger"


def test_a_subclass_serialises_its_own_classpath() -> None:
    class Custom(DatabricksRunTrigger):
        pass

    assert Custom(run_id=1).serialize()[0] == f"{__name__}.{Custom.__qualname__}"


# The SQL triggers (first released with the SQL statement and warehouse operators), with their kwargs.
SQL_RELEASED = [
    (
        "airflow_dbx_async.triggers.DatabricksSQLStatementTrigger",
        {
            "statement_id": "01ef-2b3c",
            "warehouse_id": "d0e1f2a3b4c5d6e7",
            "cancel_on_kill": True,
            "databricks_conn_id": "databricks_default",
            "polling_period_seconds": 30,
            "retry_limit": 3,
            "retry_delay": 1.0,
            "deadline": 1_900_000_000.0,
            "history": [["PENDING", 1_899_996_400.0]],
        },
    ),
    (
        "airflow_dbx_async.triggers.DatabricksWarehouseTrigger",
        {
            "warehouse_id": "d0e1f2a3b4c5d6e7",
            "target_state": "RUNNING",
            "databricks_conn_id": "databricks_default",
            "polling_period_seconds": 30,
            "retry_limit": 3,
            "retry_delay": 1.0,
            "deadline": 1_900_000_000.0,
            "history": [["STOPPED", 1_899_996_400.0]],
        },
    ),
]


@pytest.mark.parametrize(("classpath", "kwargs"), SQL_RELEASED, ids=["statement", "warehouse"])
def test_the_sql_triggers_classpaths_are_public_and_round_trip(
    classpath: str, kwargs: dict[str, Any]
) -> None:
    loaded = _load(classpath)
    trigger = loaded(**kwargs)
    assert trigger.serialize() == (classpath, kwargs)
    assert classpath == f"{loaded.__module__}.{loaded.__qualname__}"
