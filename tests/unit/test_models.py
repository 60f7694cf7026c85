from __future__ import annotations

import itertools

import pytest

from airflow_dbx_async.client import (
    LifeCycleState,
    Outcome,
    ResultState,
    Run,
    RunOutput,
    RunState,
    judge,
)

_RUNNING_STATES = {"QUEUED", "PENDING", "RUNNING", "TERMINATING", "BLOCKED", "WAITING_FOR_RETRY"}
_SUCCESS_RESULTS = {"SUCCESS", "SUCCESS_WITH_FAILURES"}
# Every known value, plus values a future server might send and a missing one.
_LIFE_CYCLES = [m.value for m in LifeCycleState if m is not LifeCycleState.UNKNOWN] + ["NEW_STATE", None]
_RESULTS = [m.value for m in ResultState if m is not ResultState.UNKNOWN] + ["NEW_RESULT", None]


def _expected(lcs: str | None, result: str | None) -> Outcome:
    if lcs is None or lcs == "NEW_STATE":
        return Outcome.UNKNOWN
    if lcs in _RUNNING_STATES:
        return Outcome.RUNNING
    if lcs == "TERMINATED" and result in _SUCCESS_RESULTS:
        return Outcome.SUCCEEDED
    return Outcome.FAILED


@pytest.mark.parametrize(("lcs", "result"), list(itertools.product(_LIFE_CYCLES, _RESULTS)))
def test_judge_table(lcs, result):
    body = {k: v for k, v in {"life_cycle_state": lcs, "result_state": result}.items() if v is not None}
    verdict = judge(RunState.from_api(body))
    assert verdict.outcome is _expected(lcs, result)
    assert verdict.is_final == (verdict.outcome in (Outcome.SUCCEEDED, Outcome.FAILED))
    assert verdict.reason


def test_unknown_states_keep_their_raw_text():
    state = RunState.from_api({"life_cycle_state": "NEW_STATE", "result_state": "NEW_RESULT"})
    assert state.life_cycle_state is LifeCycleState.UNKNOWN
    assert state.result_state is ResultState.UNKNOWN
    assert "NEW_STATE" in judge(state).reason


@pytest.mark.parametrize("body", [None, {}, [], "x", {"state": 5}, {"life_cycle_state": 7}])
def test_malformed_state_never_raises(body):
    assert judge(RunState.from_api(body)).outcome is Outcome.UNKNOWN


def test_failed_reason_includes_state_message():
    state = RunState.from_api(
        {"life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "Workload failed"}
    )
    assert judge(state).reason == "TERMINATED/FAILED: Workload failed"


def test_run_parses_ids_given_as_strings_and_latest_attempts():
    run = Run.from_api(
        {
            "run_id": "969479553499872",
            "job_id": 298120471834650,
            "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED"},
            "tasks": [
                {"run_id": 1, "task_key": "a", "attempt_number": 0, "state": {"result_state": "FAILED"}},
                {"run_id": 2, "task_key": "a", "attempt_number": 1, "state": {"result_state": "SUCCESS"}},
                {"run_id": 3, "task_key": "b", "state": {"life_cycle_state": "INTERNAL_ERROR"}},
            ],
        }
    )
    assert run.run_id == 969479553499872
    assert [t.run_id for t in run.latest_attempts()] == [2, 3]
    assert [t.task_key for t in run.failed_tasks()] == ["b"]


def test_a_repaired_task_is_latest_after_its_retries():
    """A repair's re-run starts again at attempt 0, after the retries of the run before it."""
    failed = {"result_state": "FAILED"}
    run = Run.from_api(
        {
            "run_id": 7,
            "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"},
            "tasks": [
                {"run_id": 1, "task_key": "a", "attempt_number": 0, "start_time": 1000, "state": failed},
                {"run_id": 2, "task_key": "a", "attempt_number": 1, "start_time": 2000, "state": failed},
                {"run_id": 3, "task_key": "a", "attempt_number": 0, "start_time": 3000, "state": {}},
                {"run_id": 4, "task_key": "b", "attempt_number": 0, "start_time": 1000, "state": failed},
                {"run_id": 5, "task_key": "b", "attempt_number": 0, "start_time": 0, "state": {}},
            ],
        }
    )
    assert [t.run_id for t in run.latest_attempts()] == [3, 5]  # b's repair has not started yet
    assert run.failed_tasks() == ()


def test_run_output_parses_notebook_result():
    output = RunOutput.from_api(5, {"notebook_output": {"result": "ok", "truncated": True}, "error": "boom"})
    assert (output.run_id, output.notebook_result, output.notebook_result_truncated) == (5, "ok", True)
    assert output.error == "boom"
    assert RunOutput.from_api(6, {"notebook_output": {}}).notebook_result is None
