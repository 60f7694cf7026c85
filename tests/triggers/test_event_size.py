"""The trigger's event stays under 8 KB whatever the run: Airflow stores it and logs it whole."""

from __future__ import annotations

import json

import pytest

from airflow_dbx_async.client import Run
from airflow_dbx_async.outcome._events import MAX_EVENT_BYTES, RunEvent

URL = "https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456#job/123456789012345/run/"


def _run(tasks: int, key: int, message: int, run_message: int) -> Run:
    failed = {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "m" * message}
    return Run.from_api(
        {
            "run_id": 1,
            "run_page_url": URL + "1",
            "state": {
                "life_cycle_state": "TERMINATED",
                "result_state": "FAILED",
                "state_message": "x" * run_message,
            },
            "tasks": [
                {
                    "task_key": f"{i}-" + "k" * key,
                    "run_id": 10**15 + i,
                    "run_page_url": URL + str(i),
                    "state": failed,
                }
                for i in range(tasks)
            ],
        }
    )


@pytest.mark.parametrize(
    ("tasks", "key", "message", "run_message"),
    [(1, 10, 40, 80), (20, 10, 40, 80), (500, 97, 5_000, 100_000), (3, 97, 100_000, 0)],
)
def test_a_final_event_stays_under_8_kb(tasks: int, key: int, message: int, run_message: int) -> None:
    event = RunEvent.final(_run(tasks, key, message, run_message))
    size = len(json.dumps(event.to_payload()))
    assert size <= MAX_EVENT_BYTES < 8 * 1024
    assert event.failed_total == tasks
    assert event.failed_tasks  # the first failed tasks are always named
    assert RunEvent.from_payload(json.loads(json.dumps(event.to_payload()))) == event


def test_a_typical_failure_keeps_every_reported_task() -> None:
    event = RunEvent.final(_run(20, 10, 40, 80))  # short keys and messages, workspace-length URLs
    assert len(event.failed_tasks) == 20
