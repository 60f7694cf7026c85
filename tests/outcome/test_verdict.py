"""The one verdict on a watched run, as a table: why watching stopped x final state x repair budget."""

from __future__ import annotations

import pytest

from airflow_dbx_async.client import RunState
from airflow_dbx_async.outcome._verdict import Action, RepairPolicy, StopReason, decide

FINAL, DEADLINE, GAVE_UP, KILLED = (
    StopReason.FINAL,
    StopReason.DEADLINE,
    StopReason.GAVE_UP,
    StopReason.KILLED,
)
SUCCEED, FAIL, REPAIR = Action.SUCCEED, Action.FAIL, Action.REPAIR

# What each (stop reason, last state's result) gets when repair_run is on and no repair was made yet.
# Only a run that ended is judged; a watch that stopped early never repairs, whatever state it saw.
TABLE = [
    (FINAL, "SUCCESS", SUCCEED),
    (FINAL, "SUCCESS_WITH_FAILURES", SUCCEED),
    (FINAL, "FAILED", REPAIR),
    (FINAL, "TIMEDOUT", REPAIR),
    (FINAL, "CANCELED", REPAIR),  # as the official operator: any final failure is repaired
    (FINAL, "SOMETHING_NEW", REPAIR),  # an unknown result of a terminated run is a failure
    (DEADLINE, "SUCCESS", FAIL),
    (DEADLINE, "SUCCESS_WITH_FAILURES", FAIL),
    (DEADLINE, "FAILED", FAIL),
    (DEADLINE, "TIMEDOUT", FAIL),
    (DEADLINE, "CANCELED", FAIL),
    (DEADLINE, "SOMETHING_NEW", FAIL),
    (GAVE_UP, "SUCCESS", FAIL),
    (GAVE_UP, "SUCCESS_WITH_FAILURES", FAIL),
    (GAVE_UP, "FAILED", FAIL),
    (GAVE_UP, "TIMEDOUT", FAIL),
    (GAVE_UP, "CANCELED", FAIL),
    (GAVE_UP, "SOMETHING_NEW", FAIL),
    (KILLED, "SUCCESS", FAIL),
    (KILLED, "SUCCESS_WITH_FAILURES", FAIL),
    (KILLED, "FAILED", FAIL),
    (KILLED, "TIMEDOUT", FAIL),
    (KILLED, "CANCELED", FAIL),
    (KILLED, "SOMETHING_NEW", FAIL),
]
# (repair_run, repairs done): only the first row may repair; the others turn every REPAIR into FAIL.
BUDGETS = [(True, 0), (True, 1), (False, 0), (False, 1)]


def _terminated(result: str, message: str = "Workload failed") -> RunState:
    return RunState.from_api(
        {"life_cycle_state": "TERMINATED", "result_state": result, "state_message": message}
    )


# The task's deadline already passed when the task resumes with a run that ended: it still succeeds or
# fails on that run, but a failed run is not repaired (the repaired run would be cancelled at once).
@pytest.mark.parametrize("deadline_passed", [False, True], ids=["in_time", "past_deadline"])
@pytest.mark.parametrize(("repair_run", "done"), BUDGETS)
@pytest.mark.parametrize(("stopped", "result", "expected"), TABLE)
def test_the_verdict_table(
    stopped: StopReason, result: str, expected: Action, repair_run: bool, done: int, deadline_passed: bool
) -> None:
    policy = RepairPolicy(enabled=repair_run, allowed=1)
    verdict = decide(
        stopped, _terminated(result), policy=policy, repairs_done=done, deadline_passed=deadline_passed
    )
    if expected is REPAIR and not (repair_run and done < policy.allowed and not deadline_passed):
        expected = FAIL
    assert verdict.action is expected
    assert verdict.reason


@pytest.mark.parametrize("stopped", [DEADLINE, GAVE_UP, KILLED])
def test_a_watch_that_stopped_early_never_repairs_a_run_still_going(stopped: StopReason) -> None:
    running = RunState.from_api({"life_cycle_state": "RUNNING"})
    verdict = decide(stopped, running, policy=RepairPolicy(enabled=True, allowed=5))
    assert verdict.action is FAIL
    assert decide(stopped, None, policy=RepairPolicy(enabled=True)).action is FAIL


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, FAIL),  # a final event must carry its state
        (RunState.from_api({"life_cycle_state": "RUNNING"}), FAIL),  # not final: never acted on
        (RunState.from_api({"life_cycle_state": "NEW_STATE"}), FAIL),  # unknown life cycle
        (RunState.from_api({"life_cycle_state": "INTERNAL_ERROR"}), REPAIR),
        (RunState.from_api({"life_cycle_state": "SKIPPED"}), REPAIR),
    ],
)
def test_a_final_event_without_a_final_failure_is_never_repaired(
    state: RunState | None, expected: Action
) -> None:
    assert decide(FINAL, state, policy=RepairPolicy(enabled=True)).action is expected


@pytest.mark.parametrize(
    ("allowed", "done", "expected"),
    [(0, 0, FAIL), (1, 0, REPAIR), (1, 1, FAIL), (2, 1, REPAIR), (2, 2, FAIL)],
)
def test_repairs_stop_at_the_allowed_count(allowed: int, done: int, expected: Action) -> None:
    policy = RepairPolicy(enabled=True, allowed=allowed)
    assert decide(FINAL, _terminated("FAILED"), policy=policy, repairs_done=done).action is expected


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [((), REPAIR), (("Workload failed",), REPAIR), (("other", "Workload"), REPAIR), (("quota",), FAIL)],
)
def test_a_configured_reason_must_occur_in_the_state_message(
    reasons: tuple[str, ...], expected: Action
) -> None:
    policy = RepairPolicy(enabled=True, reasons=reasons)
    assert decide(FINAL, _terminated("FAILED", "Workload failed: boom"), policy=policy).action is expected


def test_no_repair_by_default() -> None:
    assert decide(FINAL, _terminated("FAILED")).action is FAIL
    assert decide(FINAL, _terminated("SUCCESS")).action is SUCCEED
