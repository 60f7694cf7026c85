"""Runs and task runs, and how their state is derived from timestamps.

A task run stores when it entered each phase (PENDING, RUNNING, TERMINATING, end) and its final outcome.
Its state at a given instant is computed from those timestamps, so simulated runs need no timer or task:
their whole timeline is written at submit time and merely read later. Real runs fill in the same fields
as their subprocess progresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = (
    "OUTCOMES",
    "TERMINAL",
    "Outcome",
    "Run",
    "RunPhase",
    "TaskRun",
    "evaluate_run_if",
    "latest_tasks",
    "outcome_is_bad",
    "run_phase",
    "task_phase",
)

TERMINAL = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
FAILED_MESSAGE = "Workload failed, see run output for details"


class Outcome(NamedTuple):
    """How a final result shows in ``state`` and ``status``."""

    life_cycle: str
    result_state: str
    message: str
    code: str
    type: str
    user_cancelled_or_timedout: bool


OUTCOMES: dict[str, Outcome] = {
    "SUCCESS": Outcome("TERMINATED", "SUCCESS", "", "SUCCESS", "SUCCESS", False),
    "FAILED": Outcome("TERMINATED", "FAILED", FAILED_MESSAGE, "RUN_EXECUTION_ERROR", "CLIENT_ERROR", False),
    "TIMEDOUT": Outcome("TERMINATED", "TIMEDOUT", "Run timed out.", "CANCELED", "CLIENT_ERROR", True),
    "CANCELED": Outcome("TERMINATED", "CANCELED", "Run cancelled.", "USER_CANCELED", "CLIENT_ERROR", True),
    "UPSTREAM_FAILED": Outcome(
        "SKIPPED", "UPSTREAM_FAILED", "An upstream task failed.", "SKIPPED", "SUCCESS", False
    ),
    "EXCLUDED": Outcome(
        "SKIPPED", "EXCLUDED", "Skipped: run_if condition not met.", "SKIPPED", "SUCCESS", False
    ),
    "SKIPPED": Outcome("SKIPPED", "EXCLUDED", "Skipped.", "SKIPPED", "SUCCESS", False),
    "INTERNAL_ERROR": Outcome(
        "INTERNAL_ERROR",
        "FAILED",
        "Internal error in the emulated workspace.",
        "INTERNAL_ERROR",
        "INTERNAL_ERROR",
        False,
    ),
    "MAX_CONCURRENT": Outcome(
        "SKIPPED",
        "MAXIMUM_CONCURRENT_RUNS_REACHED",
        "",
        "MAX_CONCURRENT_RUNS_EXCEEDED",
        "CLIENT_ERROR",
        False,
    ),
    "NOT_FOUND": Outcome(
        "INTERNAL_ERROR",
        "FAILED",
        "Resource not found in the workspace.",
        "RESOURCE_NOT_FOUND",
        "CLIENT_ERROR",
        False,
    ),
}
_BAD_RESULTS = frozenset({"FAILED", "TIMEDOUT", "CANCELED", "UPSTREAM_FAILED", "INTERNAL_ERROR", "NOT_FOUND"})


@dataclass(slots=True, eq=False)
class TaskRun:
    """One attempt of one task inside a run."""

    run_id: int
    task_key: str
    spec: dict[str, Any]
    created_ms: int
    attempt_number: int = 0
    ready_ms: int | None = None
    pending_ms: int | None = None
    running_ms: int | None = None
    terminating_ms: int | None = None
    end_ms: int | None = None
    outcome: str = "SUCCESS"
    state_message: str | None = None
    result: str | None = None
    error: str | None = None
    error_trace: str | None = None
    logs: str | None = None
    cells: list[dict[str, Any]] | None = None
    repair_id: int | None = None
    # Why the task cannot start (e.g. its pipeline does not exist): it ends NOT_FOUND when it would start.
    blocked: str | None = None

    @property
    def depends_on(self) -> list[str]:
        """Keys of the upstream tasks."""
        return [str(d.get("task_key")) for d in self.spec.get("depends_on") or () if isinstance(d, dict)]

    def finish(self, at_ms: int, outcome: str, message: str | None = None) -> None:
        """End the task run at ``at_ms``; phases that had not begun by then never happen."""
        if self.pending_ms is not None and self.pending_ms > at_ms:
            self.pending_ms = None
        if self.running_ms is not None and self.running_ms > at_ms:
            self.running_ms = None
        if self.terminating_ms is not None and self.terminating_ms > at_ms:
            self.terminating_ms = None
        self.end_ms = at_ms
        self.outcome = outcome
        self.state_message = message


@dataclass(slots=True, eq=False)
class Run:
    """A job run or one-time (submit) run."""

    run_id: int
    job_id: int
    run_name: str
    run_type: str
    created_ms: int
    tasks: list[TaskRun] = field(default_factory=list)
    idempotency_token: str | None = None
    timeout_seconds: int = 0
    overriding_parameters: dict[str, Any] = field(default_factory=dict)
    job_parameters: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    repair_history: list[dict[str, Any]] = field(default_factory=list)
    cancel_requested: bool = False
    simulated: bool = True
    queue_reason: str | None = None
    queued_until_ms: int | None = None
    skip_message: str | None = None
    concurrency_limit: int = 0

    def queued(self, now: int) -> bool:
        """Whether the run still waits in the job's queue at ``now``."""
        return self.queue_reason is not None and (self.queued_until_ms is None or now < self.queued_until_ms)


class RunPhase(NamedTuple):
    """The derived state of a run or task run at one instant."""

    life_cycle: str
    outcome: Outcome | None
    message: str


def task_phase(task: TaskRun, now: int) -> RunPhase:
    """State of a task run at ``now`` (epoch ms)."""
    if task.end_ms is not None and now >= task.end_ms:
        out = OUTCOMES.get(task.outcome, OUTCOMES["FAILED"])
        msg = out.message if task.state_message is None else task.state_message
        return RunPhase(out.life_cycle, out, msg)
    if task.terminating_ms is not None and now >= task.terminating_ms:
        return RunPhase("TERMINATING", None, "")
    if task.running_ms is not None and now >= task.running_ms:
        return RunPhase("RUNNING", None, "In run")
    if task.pending_ms is not None and now >= task.pending_ms:
        return RunPhase("PENDING", None, "Waiting for cluster")
    if task.attempt_number > 0:
        return RunPhase("WAITING_FOR_RETRY", None, "Waiting for retry")
    if task.depends_on and (task.ready_ms is None or now < task.ready_ms):
        return RunPhase("BLOCKED", None, "Waiting for upstream tasks")
    return RunPhase("QUEUED", None, "Queued: waiting for a free execution slot")


def latest_tasks(run: Run) -> list[TaskRun]:
    """The newest attempt of each task key, in first-seen order."""
    latest: dict[str, TaskRun] = {}
    for task in run.tasks:
        latest[task.task_key] = task
    return list(latest.values())


def _leaf_keys(tasks: list[TaskRun]) -> set[str]:
    upstream = {key for t in tasks for key in t.depends_on}
    return {t.task_key for t in tasks} - upstream


def run_phase(run: Run, now: int) -> RunPhase:
    """State of a whole run at ``now``, derived from its latest task attempts."""
    if run.skip_message is not None:
        return RunPhase("SKIPPED", OUTCOMES["MAX_CONCURRENT"], run.skip_message)
    if run.queued(now) and not run.cancel_requested:
        return RunPhase("QUEUED", None, str(run.queue_reason))
    tasks = latest_tasks(run)
    phases = [(t, task_phase(t, now)) for t in tasks]
    active = [p.life_cycle for _, p in phases if p.life_cycle not in TERMINAL]
    if active:
        if all(a == "TERMINATING" for a in active):
            return RunPhase("TERMINATING", None, "")
        if len(active) < len(phases) or "RUNNING" in active:
            return RunPhase("RUNNING", None, "In run")
        if "TERMINATING" in active:
            return RunPhase("RUNNING", None, "In run")
        if "WAITING_FOR_RETRY" in active:
            return RunPhase("RUNNING", None, "In run")
        if all(a in ("QUEUED", "BLOCKED") for a in active):
            return RunPhase("QUEUED", None, "Queued: waiting for a free execution slot")
        return RunPhase("PENDING", None, "Waiting for cluster")
    return _final_phase(run, phases)


def _final_phase(run: Run, phases: list[tuple[TaskRun, RunPhase]]) -> RunPhase:
    outcomes = {t.task_key: t.outcome for t, _ in phases}
    if run.cancel_requested or "CANCELED" in outcomes.values():
        return RunPhase("TERMINATED", OUTCOMES["CANCELED"], OUTCOMES["CANCELED"].message)
    if "TIMEDOUT" in outcomes.values():
        return RunPhase("TERMINATED", OUTCOMES["TIMEDOUT"], OUTCOMES["TIMEDOUT"].message)
    for task, phase in phases:
        if phase.life_cycle == "INTERNAL_ERROR":
            out = OUTCOMES[task.outcome]
            return RunPhase(
                "INTERNAL_ERROR", out, f"Task {task.task_key} failed with message: {phase.message}"
            )
    failed = [t for t, _ in phases if t.outcome in _BAD_RESULTS]
    if failed:
        leaves = _leaf_keys([t for t, _ in phases])
        if all(outcomes[k] == "SUCCESS" for k in leaves):
            out = Outcome(
                "TERMINATED", "SUCCESS_WITH_FAILURES", "", "SUCCESS_WITH_FAILURES", "SUCCESS", False
            )
            return RunPhase("TERMINATED", out, "")
        first = next((t for t in failed if t.outcome != "UPSTREAM_FAILED"), failed[0])
        msg = f"Task {first.task_key} failed with message: {FAILED_MESSAGE}."
        return RunPhase("TERMINATED", OUTCOMES["FAILED"], msg)
    if phases and all(p.life_cycle == "SKIPPED" for _, p in phases):
        return RunPhase("SKIPPED", OUTCOMES["SKIPPED"], OUTCOMES["SKIPPED"].message)
    return RunPhase("TERMINATED", OUTCOMES["SUCCESS"], "")


def outcome_is_bad(outcome: str) -> bool:
    """Whether an outcome counts as a failure for ``run_if`` evaluation."""
    return outcome in _BAD_RESULTS


def evaluate_run_if(run_if: str | None, upstream: list[str]) -> str | None:
    """Decide whether a task runs given its upstream outcomes: None to run, else the skip outcome."""
    if not upstream:
        return None
    bad = [outcome_is_bad(o) for o in upstream]
    rule = run_if or "ALL_SUCCESS"
    if rule == "ALL_SUCCESS":
        return "UPSTREAM_FAILED" if any(bad) else None
    checks = {
        "ALL_DONE": True,
        "NONE_FAILED": not any(o in ("FAILED", "INTERNAL_ERROR", "UPSTREAM_FAILED") for o in upstream),
        "AT_LEAST_ONE_SUCCESS": "SUCCESS" in upstream,
        "ALL_FAILED": all(bad),
        "AT_LEAST_ONE_FAILED": any(bad),
    }
    return None if checks.get(rule, not any(bad)) else "EXCLUDED"
