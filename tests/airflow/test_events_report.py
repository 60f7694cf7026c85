"""The trigger event payload and the failure report (pure functions)."""

from __future__ import annotations

import json

import pytest

from airflow_dbx_async._events import FailedTask, RunEvent
from airflow_dbx_async._failure_report import (
    MAX_REPORTED_TASKS,
    bound_for_event,
    report_lines,
    short_message,
    strip_ansi,
    truncate_head,
    truncate_tail,
)


def task(i: int = 0, **overrides: object) -> FailedTask:
    fields: dict[str, object] = {
        "task_key": f"task_{i}",
        "run_id": 10 + i,
        "run_page_url": f"http://dbx/run/{10 + i}",
        "state_message": "Workload failed, see run output for details",
        "error": f"ValueError: bad input {i}",
        "error_trace": "Traceback (most recent call last):\n  File 'nb', line 3\nValueError: bad input",
        "notebook_result": None,
        "logs": "",
    }
    fields.update(overrides)
    return FailedTask(**fields)  # type: ignore[arg-type]


def event(*tasks: FailedTask, **overrides: object) -> RunEvent:
    fields: dict[str, object] = {
        "status": "failed",
        "run_id": 123,
        "run_page_url": "http://dbx/?o=1#job/1/run/123",
        "run_state": {
            "life_cycle_state": "TERMINATED",
            "result_state": "FAILED",
            "state_message": "Workload failed",
        },
        "reason": "TERMINATED/FAILED: Workload failed",
        "failed_tasks": tasks,
    }
    fields.update(overrides)
    return RunEvent(**fields)  # type: ignore[arg-type]


def test_payload_round_trip_is_json_primitives() -> None:
    original = event(task(0, notebook_result="r", logs="x", logs_truncated=True), task(1))
    payload = original.to_payload()
    assert json.loads(json.dumps(payload)) == payload
    assert RunEvent.from_payload(payload) == original


@pytest.mark.parametrize("bad", [None, [], "x", {"status": "weird"}, {}])
def test_from_payload_rejects_foreign_payloads(bad: object) -> None:
    with pytest.raises(ValueError, match="trigger event"):
        RunEvent.from_payload(bad)


def test_from_payload_tolerates_missing_keys() -> None:
    decoded = RunEvent.from_payload(
        {"status": "success", "run_id": "77", "failed_tasks": [{"task_key": "a"}]}
    )
    assert decoded.run_id == 77
    assert decoded.failed_tasks[0].task_key == "a"
    assert decoded.run_state == {}


def test_truncation_keeps_tail_or_head_with_a_visible_marker() -> None:
    text = "".join(str(i % 10) for i in range(100))
    tail = truncate_tail(text, 10)
    assert tail.endswith(text[-10:])
    assert "... [truncated 90 chars] ..." in tail
    head = truncate_head(text, 10)
    assert head.startswith(text[:10])
    assert "... [truncated 90 chars] ..." in head
    assert truncate_tail("short", 10) == "short"


def test_strip_ansi() -> None:
    assert strip_ansi("\x1b[0;31mValueError\x1b[0m: x\x1b[1A") == "ValueError: x"


def test_report_lists_each_task_with_header_and_details() -> None:
    long_logs = "noise\n" * 2000 + "the real error at the end\n"
    lines = report_lines(
        event(
            task(
                0,
                notebook_result="head of result" + "x" * 5000,
                logs=long_logs,
                error_trace="\x1b[31mboom\x1b[0m",
            )
        )
    )
    text = "\n".join(lines)
    assert lines[0] == "Databricks run 123 failed: TERMINATED/FAILED: Workload failed"
    assert "Run page: http://dbx/?o=1#job/1/run/123" in text
    assert "[1/1] task 'task_0' (task run 10): Workload failed, see run output for details" in text
    assert "run page: http://dbx/run/10" in text
    assert "ValueError: bad input 0" in text
    assert "boom" in text
    assert "\x1b" not in text
    assert "head of result" in text
    assert "the real error at the end" in text
    assert text.count("[truncated") == 2
    assert all("\n" not in line for line in lines)


def test_report_caps_the_number_of_tasks() -> None:
    lines = report_lines(event(*(task(i) for i in range(25))))
    text = "\n".join(lines)
    assert "task 'task_19'" in text
    assert "task 'task_20'" not in text
    assert f"... and {25 - MAX_REPORTED_TASKS} more failed tasks" in text


def test_short_message_is_one_line_with_task_errors_and_url() -> None:
    message = short_message(
        event(task(0, error="ValueError: bad input\nmore lines"), task(1), task(2), task(3))
    )
    assert message == (
        "Databricks run 123 failed (TERMINATED/FAILED): task task_0: ValueError: bad input; "
        "task task_1: ValueError: bad input 1; task task_2: ValueError: bad input 2; +1 more. "
        "See http://dbx/?o=1#job/1/run/123"
    )


def test_short_message_for_errors_and_runs_without_tasks() -> None:
    assert short_message(event(status="error", reason="AuthError: 403\ntrace", run_page_url="")) == (
        "Could not watch Databricks run 123: AuthError: 403"
    )
    no_output = short_message(event(task(0, error="", state_message="")))
    assert ": task task_0: failed." in no_output


def test_bound_for_event_limits_every_field() -> None:
    bounded = bound_for_event(
        task(0, logs="y" * 50_000, error_trace="z" * 50_000, notebook_result="r" * 50_000), 100
    )
    assert len(bounded.logs) < 200
    assert len(bounded.error_trace) < 200
    assert len(bounded.notebook_result or "") < 200


def test_operator_errors_pickle_and_keep_their_message() -> None:
    import pickle

    from airflow_dbx_async.operators import DatabricksConfigError, DatabricksRunFailedError

    failed = pickle.loads(pickle.dumps(DatabricksRunFailedError("Databricks run 1 failed: x")))
    assert str(failed) == "Databricks run 1 failed: x"
    config = pickle.loads(pickle.dumps(DatabricksConfigError("job_id", "is required")))
    assert (config.field, str(config)) == ("job_id", "job_id: is required")
