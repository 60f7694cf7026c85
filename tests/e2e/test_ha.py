"""Two triggerers on PostgreSQL: SIGKILL the one holding the deferred tasks; the other finishes them.

The metadata database is a fresh PostgreSQL database created for this test and dropped after it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg2
import pytest

from airflow_dbx_async.testing import AirflowStack
from tests.e2e.helpers import StateRecorder, derived_token
from tests.helpers import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_dbx_async.testing import EmulatorProcess

HERE = Path(__file__).resolve().parent
DAG_ID, TASK_IDS = "e2e_ha_dag", ("ha_1", "ha_2", "ha_3", "ha_4")
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def _admin(sql: str) -> None:
    conn = psycopg2.connect(**PG)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture
def metadata_db() -> Iterator[str]:
    """A fresh PostgreSQL database for Airflow's metadata; dropped afterwards."""
    name = f"airflow_ha_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _assigned_triggers(url: str) -> int:
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def test_second_triggerer_takes_over_after_sigkill(emulator: EmulatorProcess, metadata_db: str) -> None:
    stack = AirflowStack(
        [HERE / "dags_ha" / "e2e_ha_dag.py"],
        connections={"databricks": emulator.connection_json()},
        sql_alchemy_conn=metadata_db,
        # A dead triggerer's triggers move to a healthy one after this many seconds without heartbeat.
        env={"AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10"},
    )
    with stack:
        stack.wait_dags([DAG_ID])
        run_id = stack.api.trigger_dag(DAG_ID)
        recorder = StateRecorder(stack, DAG_ID, run_id, TASK_IDS)
        recorder.wait_all({"deferred"}, timeout=180)
        wait_for("the first triggerer to hold every trigger", lambda: _assigned_triggers(metadata_db) == 4)

        first = stack.triggerers[-1]
        stack.start_triggerer()
        first.kill()
        wait_for("the killed triggerer's process group to be gone", lambda: not first.alive(), timeout=15)
        assert set(recorder.poll().values()) == {"deferred"}, recorder.seen

        final = recorder.wait_all({"success", "failed"}, timeout=240)
        assert set(final.values()) == {"success"}, (recorder.seen, stack.describe_failure())
    submits = emulator.stats()["submits_by_token"]
    for task_id in TASK_IDS:
        runs = [r for r in emulator.runs() if r.get("run_name") == f"e2e-ha-{task_id}-{run_id}"]
        assert len(runs) == 1, runs
        assert runs[0]["result_state"] == "SUCCESS"
        token = derived_token(emulator, DAG_ID, task_id, run_id)
        assert submits.get(token) == 1, (task_id, submits)
    assert not [proc.name for proc in stack.processes if proc.alive()]
