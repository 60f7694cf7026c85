"""The trigger event payload, the failed tasks' details and the failure report (pure functions)."""

from __future__ import annotations

import json

import pytest

from airflow_dbx_async.client import Run, RunOutput, RunState, judge
from airflow_dbx_async.outcome._events import RunEvent
from airflow_dbx_async.outcome._failure_details import FailedTask, TaskDetails, reported_tasks
from airflow_dbx_async.outcome._failure_report import report_lines, short_message, trigger_line
from airflow_dbx_async.outcome._verdict import Action, StopReason, decide

_FAILED = RunState.from_api(
    {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "x"}
)


def task(i: int = 0, message: str = "Workload failed, see run output for details") -> FailedTask:
    state = RunState.from_api(
        {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": message}
    )
    return FailedTask(f"task_{i}", 10 + i, f"http://dbx/run/{10 + i}", state)


def details(i: int = 0, **output: object) -> TaskDetails:
    fields: dict[str, object] = {
        "error": f"ValueError: bad input {i}",
        "error_trace": "Traceback (most recent call last):\n  File 'nb', line 3\nValueError: bad input",
    }
    fields.update(output)
    return TaskDetails(task(i), RunOutput(run_id=10 + i, **fields))  # type: ignore[arg-type]


def event(*tasks: FailedTask, **overrides: object) -> RunEvent:
    fields: dict[str, object] = {
        "status": "failed",
        "run_id": 123,
        "run_page_url": "http://dbx/?o=1#job/1/run/123",
        "state": RunState.from_api(
            {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "Workload failed"}
        ),
        "reason": "TERMINATED/FAILED: Workload failed",
        "failed_tasks": tasks,
        "failed_total": len(tasks),
    }
    fields.update(overrides)
    return RunEvent(**fields)  # type: ignore[arg-type]


def test_run_state_travels_as_a_value() -> None:
    unknown = RunState.from_api(
        {"life_cycle_state": "NEW_STATE", "result_state": "ODD", "state_message": "m"}
    )
    for state in (_FAILED, unknown, RunState.from_api({})):
        payload = state.to_payload()
        assert json.loads(json.dumps(payload)) == payload
        assert RunState.from_payload(payload) == state


def test_payload_round_trip_is_json_primitives() -> None:
    original = event(task(0), task(1))
    payload = original.to_payload()
    assert json.loads(json.dumps(payload)) == payload
    assert RunEvent.from_payload(payload) == original


@pytest.mark.parametrize("bad", [None, [], "x", {"status": "weird"}, {}])
def test_from_payload_rejects_foreign_payloads(bad: object) -> None:
    with pytest.raises(ValueError, match="trigger event"):
        RunEvent.from_payload(bad)


def test_from_payload_tolerates_missing_keys() -> None:
    decoded = RunEvent.from_payload({"status": "failed", "run_id": "77", "failed_tasks": [{"task_key": "a"}]})
    assert decoded.run_id == 77
    assert decoded.failed_tasks[0].task_key == "a"
    assert decoded.state is None
    assert decoded.failed_total == 1
    # No final state: the verdict fails the task (an earlier release's deadline event), never judges.
    assert decoded.stopped is StopReason.DEADLINE
    assert decide(decoded.stopped, decoded.state).action is Action.FAIL


@pytest.mark.parametrize(
    ("payload", "stopped"),
    [
        (
            {"status": "success", "run_state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"}},
            "final",
        ),
        (
            {"status": "failed", "run_state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED"}},
            "final",
        ),
        ({"status": "failed", "run_state": {"life_cycle_state": "RUNNING"}}, "deadline"),
        ({"status": "failed", "run_state": {}}, "deadline"),
        ({"status": "error", "reason": "no answer"}, "gave_up"),
        ({"status": "failed", "stopped": "killed"}, "killed"),
        ({"status": "error", "stopped": "a-reason-of-a-later-release"}, "gave_up"),
    ],
)
def test_an_earlier_release_s_event_says_why_watching_stopped(
    payload: dict[str, object], stopped: str
) -> None:
    decoded = RunEvent.from_payload({"run_id": 5, **payload})
    assert decoded.stopped is StopReason(stopped)
    assert (decoded.repairs, decoded.earlier_failures) == (0, ())


def test_the_repair_history_round_trips() -> None:
    original = event(task(0), stopped=StopReason.FINAL, repairs=1, earlier_failures=("first: ***",))
    payload = json.loads(json.dumps(original.to_payload()))
    assert (payload["stopped"], payload["repairs"], payload["earlier_failures"]) == (
        "final",
        1,
        ["first: ***"],
    )
    assert RunEvent.from_payload(payload) == original


def test_the_event_is_judged_through_the_verdict() -> None:
    success = RunState.from_api({"life_cycle_state": "TERMINATED", "result_state": "SUCCESS_WITH_FAILURES"})
    succeeded = event(status="success", state=success)
    verdict = decide(succeeded.stopped, succeeded.state)
    assert verdict.action is Action.SUCCEED
    assert verdict.reason == judge(success).reason
    running = RunState.from_api({"life_cycle_state": "RUNNING"})
    going = event(reason="deadline passed", state=running)
    assert decide(going.stopped, going.state).action is Action.FAIL
    assert decide(StopReason.DEADLINE, running).action is Action.FAIL


def test_listed_without_tasks_is_not_the_same_as_no_tasks() -> None:
    listed = Run.from_api({"run_id": 1, "state": {"life_cycle_state": "TERMINATED"}})
    assert listed.tasks is None
    got = Run.from_api(
        {"run_id": 1, "run_name": "legacy", "state": {"life_cycle_state": "TERMINATED"}, "tasks": []}
    )
    assert got.tasks == ()
    (whole,), total = reported_tasks(got)  # a run without tasks reports itself
    assert (whole.task_key, whole.run_id, total) == ("legacy", 1, 1)


def test_report_lists_each_task_with_header_and_details() -> None:
    long_logs = "noise\n" * 2000 + "the real error at the end\n"
    shown = details(
        0, notebook_result="head of result" + "x" * 5000, logs=long_logs, error_trace="\x1b[31mboom\x1b[0m"
    )
    lines = report_lines(event(task(0)), [shown])
    text = "\n".join(lines)
    assert lines[0] == "Databricks run 123 failed: TERMINATED/FAILED: Workload failed"
    assert "Run page: http://dbx/?o=1#job/1/run/123" in text
    assert "1 failed task:" in text
    assert "[1/1] task 'task_0' (task run 10): Workload failed, see run output for details" in text
    assert "run page: http://dbx/run/10" in text
    assert "ValueError: bad input 0" in text
    assert "boom" in text
    assert "\x1b" not in text
    assert "head of result" in text
    assert "the real error at the end" in text
    assert text.count("[truncated") == 2
    assert all("\n" not in line for line in lines)


def test_report_names_tasks_whose_output_could_not_be_fetched() -> None:
    missing = TaskDetails(task(0)).with_problem("the task output", RuntimeError("gone"))
    text = "\n".join(report_lines(event(task(0), task(1)), [missing]))
    assert "(could not fetch the task output: gone)" in text
    assert "[2/2] task 'task_1' (task run 11)" in text  # no details at all: still named
    assert "  error: (none)" in text


def test_report_says_how_many_failed_when_it_shows_fewer() -> None:
    lines = report_lines(event(*(task(i) for i in range(20)), failed_total=150))
    assert "150 failed tasks; the first 20 follow (the run page lists them all):" in lines
    assert any(line.startswith("[20/150] task 'task_19'") for line in lines)


def test_short_message_is_one_line_with_task_errors_and_url() -> None:
    tasks = [task(i) for i in range(4)]
    shown = [details(0, error="ValueError: bad input\nmore lines"), details(1), details(2), details(3)]
    message = short_message(event(*tasks, failed_total=9), shown)
    assert message == (
        "Databricks run 123 failed (TERMINATED/FAILED): task task_0: ValueError: bad input; "
        "task task_1: ValueError: bad input 1; task task_2: ValueError: bad input 2; +6 more. "
        "See http://dbx/?o=1#job/1/run/123"
    )


def test_short_message_for_errors_and_runs_without_output() -> None:
    assert short_message(event(status="error", reason="AuthError: 403\ntrace", run_page_url="")) == (
        "Could not watch Databricks run 123: AuthError: 403"
    )
    assert ": task task_0: TERMINATED/FAILED." in short_message(event(task(0, message="")))
    assert trigger_line(event(task(0, message="boom"))).endswith(
        "task task_0: boom. See http://dbx/?o=1#job/1/run/123; "
        "the failure report follows when the task resumes"
    )


def test_operator_errors_pickle_and_keep_their_message() -> None:
    import pickle

    from airflow_dbx_async.operators import DatabricksConfigError, DatabricksRunFailedError

    failed = pickle.loads(pickle.dumps(DatabricksRunFailedError("Databricks run 1 failed: x")))
    assert str(failed) == "Databricks run 1 failed: x"
    config = pickle.loads(pickle.dumps(DatabricksConfigError("job_id", "is required")))
    assert (config.field, str(config)) == ("job_id", "job_id: is required")
