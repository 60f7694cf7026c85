"""The one verdict on a watched run: succeed, fail, or repair the run and watch it again.

The trigger reports what it saw: the run's final state, or why it stopped watching (the task's
deadline passed, it gave up, the task was killed). :func:`decide` turns that, the operator's repair
policy and the repairs already made into what the task does. The operator's fast path,
``execute_complete``, ``deferrable=False`` and the workflow tasks all ask it, so a run cancelled at
the deadline is never repaired and no run is repaired more often than allowed, whatever the mode.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from airflow_dbx_async.client import Outcome, StatementOutcome, judge, judge_statement

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

    from airflow_dbx_async.client import RunState, StatementStatus

__all__ = (
    "NO_REPAIR",
    "Action",
    "RepairPolicy",
    "StopReason",
    "Verdict",
    "decide",
    "decide_statement",
    "matching_reason",
    "should_repair",
)


class StopReason(enum.Enum):
    """Why the trigger stopped watching a run."""

    #: the run ended; the event carries its final state
    FINAL = "final"
    #: the task's ``execution_timeout`` passed first (the run was cancelled unless ``cancel_on_kill`` is off)
    DEADLINE = "deadline"
    #: the run could not be watched: errors for too long, a run that vanished, a bad connection
    GAVE_UP = "gave_up"
    #: the task was killed while the run was watched
    KILLED = "killed"


class Action(enum.Enum):
    """What the task does with a watched run."""

    SUCCEED = "succeed"
    FAIL = "fail"
    REPAIR = "repair"


@dataclass(frozen=True)
class RepairPolicy:
    """When a failed run is repaired.

    :param enabled: the operator's ``repair_run``.
    :param reasons: state-message fragments of which one must occur; empty: any failure.
    :param allowed: the most repairs of one run (the official operator makes one).
    """

    enabled: bool = False
    reasons: tuple[str, ...] = ()
    allowed: int = 1


NO_REPAIR = RepairPolicy()


@dataclass(frozen=True)
class Verdict:
    """What the task does, with one short line saying why."""

    action: Action
    reason: str


_STOPPED = {
    StopReason.DEADLINE: "the task's execution_timeout passed before the run ended",
    StopReason.GAVE_UP: "the run could not be watched to its end",
    StopReason.KILLED: "the task was killed",
}


def matching_reason(reasons: Iterable[str], state_message: str) -> str | None:
    """The first reason (a ``databricks_repair_reason_new_settings`` key) in the message, or ``None``."""
    return next((reason for reason in reasons if reason in state_message), None)


def should_repair(enabled: bool, reasons: Collection[str], state_message: str) -> bool:
    """Whether a failed run with this state message is repaired."""
    return enabled and (not reasons or matching_reason(reasons, state_message) is not None)


def decide(
    stopped: StopReason,
    state: RunState | None,
    *,
    policy: RepairPolicy = NO_REPAIR,
    repairs_done: int = 0,
    deadline_passed: bool = False,
) -> Verdict:
    """Succeed, fail or repair, given why watching stopped and the run's last state.

    Only a run that ended is judged (by :func:`~airflow_dbx_async.client.judge`); one that was still
    going when watching stopped fails, and is never repaired: it was cancelled, or is left running.
    A failed run is repaired while the policy allows it, fewer than ``policy.allowed`` repairs were
    made, and the task's deadline has not passed (a run that failed just before it is not repaired
    after it: the repair would be cancelled at once).
    """
    if stopped is not StopReason.FINAL:
        return Verdict(Action.FAIL, _STOPPED[stopped])
    if state is None:
        return Verdict(Action.FAIL, "the run ended with no final state")
    judgement = judge(state)
    if judgement.outcome is Outcome.SUCCEEDED:
        return Verdict(Action.SUCCEED, judgement.reason)
    if not judgement.is_final:
        return Verdict(Action.FAIL, f"the run's last state is not final ({judgement.reason})")
    if not policy.enabled:
        return Verdict(Action.FAIL, "repair_run is off")
    if repairs_done >= policy.allowed:
        return Verdict(Action.FAIL, f"the run was already repaired {repairs_done} of {policy.allowed} times")
    if not should_repair(policy.enabled, policy.reasons, state.state_message):
        return Verdict(Action.FAIL, "no repair reason occurs in the state message")
    if deadline_passed:
        return Verdict(Action.FAIL, "the task's execution_timeout passed before the run could be repaired")
    return Verdict(Action.REPAIR, judgement.reason)


_STATEMENT_STOPPED = {
    StopReason.DEADLINE: "the deadline passed before the statement ended",
    StopReason.GAVE_UP: "the statement could not be watched to its end",
    StopReason.KILLED: "the task was killed",
}
# CLOSED: the statement succeeded and its result was closed since (the task fetches no result).
_STATEMENT_SUCCESS = (StatementOutcome.SUCCEEDED, StatementOutcome.CLOSED)


def decide_statement(stopped: StopReason, status: StatementStatus | None) -> Verdict:
    """Succeed or fail, given why watching a SQL statement stopped and its last status.

    Only a statement that ended is judged, by :func:`~airflow_dbx_async.client.judge_statement`:
    ``SUCCEEDED`` and ``CLOSED`` succeed, ``FAILED`` and ``CANCELED`` fail; one still pending when
    watching stopped fails (it was cancelled, or is left running). The statement operator and sensor
    ask it on every path: the fast path, ``execute_complete`` and ``deferrable=False``.
    """
    if stopped is not StopReason.FINAL:
        return Verdict(Action.FAIL, _STATEMENT_STOPPED[stopped])
    if status is None:
        return Verdict(Action.FAIL, "the statement ended with no final state")
    judgement = judge_statement(status)
    if judgement.outcome in _STATEMENT_SUCCESS:
        return Verdict(Action.SUCCEED, judgement.reason)
    if not judgement.is_final:
        return Verdict(Action.FAIL, f"the statement's last state is not final ({judgement.reason})")
    return Verdict(Action.FAIL, judgement.reason)
