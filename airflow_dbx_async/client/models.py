"""Frozen value objects for Databricks runs, parsed once at the client boundary, and the run judge.

Parsing never raises on unexpected values: an unknown life-cycle or result state becomes the explicit
``UNKNOWN`` member (the original text is kept), so a new state on the server side can never crash a
trigger. A :class:`RunState` travels as a value: :meth:`RunState.to_payload` gives it back in the shape
Databricks sent, and :meth:`RunState.from_payload` reads it again, so the trigger's event carries the
state itself. :func:`judge` is the single place that decides whether a run is still going, succeeded
or failed; the trigger, the operator's fast path and ``execute_complete`` all call it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from airflow_dbx_async.client._numbers import lenient_int

__all__ = (
    "Judgement",
    "LifeCycleState",
    "Outcome",
    "ResultState",
    "Run",
    "RunOutput",
    "RunState",
    "RunsPage",
    "TaskRun",
    "judge",
)


class _ApiEnum(enum.Enum):
    """An enum of API strings that reads anything it does not know as its ``UNKNOWN`` member."""

    @classmethod
    def parse(cls, value: object) -> Self:
        """Return the member for ``value``, or ``UNKNOWN`` for anything unrecognised."""
        try:
            return cls(value)
        except ValueError:
            return cls("UNKNOWN")


class LifeCycleState(_ApiEnum):
    """The legacy ``state.life_cycle_state`` of a run or task run."""

    QUEUED = "QUEUED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    SKIPPED = "SKIPPED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    BLOCKED = "BLOCKED"
    WAITING_FOR_RETRY = "WAITING_FOR_RETRY"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """True for the states after which the run can no longer change."""
        return self in _TERMINAL


_TERMINAL = frozenset({LifeCycleState.TERMINATED, LifeCycleState.SKIPPED, LifeCycleState.INTERNAL_ERROR})


class ResultState(enum.Enum):
    """The legacy ``state.result_state``, present only once a run is terminal."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMEDOUT = "TIMEDOUT"
    CANCELED = "CANCELED"
    MAXIMUM_CONCURRENT_RUNS_REACHED = "MAXIMUM_CONCURRENT_RUNS_REACHED"
    EXCLUDED = "EXCLUDED"
    SUCCESS_WITH_FAILURES = "SUCCESS_WITH_FAILURES"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    UPSTREAM_CANCELED = "UPSTREAM_CANCELED"
    DISABLED = "DISABLED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: object) -> ResultState | None:
        """Return the member for ``value``; ``None`` when absent, ``UNKNOWN`` when unrecognised."""
        if value is None or value == "":
            return None
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class RunState:
    """The state of a run or task run.

    :param life_cycle_state: where the run is in its life cycle.
    :param result_state: the outcome, once terminal.
    :param state_message: Databricks' human-readable message.
    :param user_cancelled_or_timedout: set when a user or a timeout stopped the run.
    :param raw_life_cycle_state: the text received, kept when it was not recognised.
    :param raw_result_state: likewise for the result state.
    """

    life_cycle_state: LifeCycleState
    result_state: ResultState | None = None
    state_message: str = ""
    user_cancelled_or_timedout: bool = False
    raw_life_cycle_state: str = ""
    raw_result_state: str = ""

    @classmethod
    def from_api(cls, data: object) -> RunState:
        """Parse a ``state`` object; a missing or malformed one gives ``UNKNOWN``."""
        body = _mapping(data)
        raw_lcs = _str(body.get("life_cycle_state"))
        raw_rs = _str(body.get("result_state"))
        return cls(
            life_cycle_state=LifeCycleState.parse(raw_lcs),
            result_state=ResultState.parse(raw_rs or None),
            state_message=_str(body.get("state_message")),
            user_cancelled_or_timedout=body.get("user_cancelled_or_timedout") is True,
            raw_life_cycle_state=raw_lcs,
            raw_result_state=raw_rs,
        )

    @classmethod
    def from_payload(cls, data: object) -> RunState:
        """Read a state written by :meth:`to_payload` (the API's shape, so this is :meth:`from_api`)."""
        return cls.from_api(data)

    def to_payload(self) -> dict[str, Any]:
        """The state as primitives, in the shape Databricks sends it (unknown states keep their text)."""
        result = self.raw_result_state or (self.result_state.value if self.result_state else None)
        known = "" if self.life_cycle_state is LifeCycleState.UNKNOWN else self.life_cycle_state.value
        return {
            "life_cycle_state": self.raw_life_cycle_state or known,
            "result_state": result,
            "state_message": self.state_message,
            "user_cancelled_or_timedout": self.user_cancelled_or_timedout,
        }

    def describe(self) -> str:
        """One short line such as ``TERMINATED/FAILED: Workload failed``."""
        text = self.raw_life_cycle_state or self.life_cycle_state.value
        if self.result_state is not None:
            text += f"/{self.raw_result_state or self.result_state.value}"
        if self.state_message:
            text += f": {self.state_message}"
        return text


@dataclass(frozen=True)
class TaskRun:
    """One task run (one attempt of one task) inside a job run."""

    run_id: int
    task_key: str
    state: RunState
    attempt_number: int = 0
    start_time: int = 0
    end_time: int = 0
    run_page_url: str = ""

    @classmethod
    def from_api(cls, data: object) -> TaskRun:
        """Parse one entry of a run's ``tasks`` array."""
        body = _mapping(data)
        return cls(
            run_id=lenient_int(body.get("run_id")),
            task_key=_str(body.get("task_key")),
            state=RunState.from_api(body.get("state")),
            attempt_number=lenient_int(body.get("attempt_number")),
            start_time=lenient_int(body.get("start_time")),
            end_time=lenient_int(body.get("end_time")),
            run_page_url=_str(body.get("run_page_url")),
        )


@dataclass(frozen=True)
class Run:
    """A job run or submitted run, as ``runs/get`` and ``runs/list`` describe it.

    ``tasks`` is ``None`` when the answer had no task list at all (``runs/list`` without
    ``expand_tasks``): the tasks are unknown, not absent; ``runs/get`` tells them.
    """

    run_id: int
    state: RunState
    job_id: int = 0
    run_name: str = ""
    run_page_url: str = ""
    start_time: int = 0
    end_time: int = 0
    tasks: tuple[TaskRun, ...] | None = None

    @classmethod
    def from_api(cls, data: object) -> Run:
        """Parse a run object; never raises."""
        body = _mapping(data)
        raw_tasks = body.get("tasks")
        tasks = tuple(TaskRun.from_api(t) for t in raw_tasks) if isinstance(raw_tasks, list) else None
        return cls(
            run_id=lenient_int(body.get("run_id")),
            state=RunState.from_api(body.get("state")),
            job_id=lenient_int(body.get("job_id")),
            run_name=_str(body.get("run_name")),
            run_page_url=_str(body.get("run_page_url")),
            start_time=lenient_int(body.get("start_time")),
            end_time=lenient_int(body.get("end_time")),
            tasks=tasks,
        )

    def latest_attempts(self) -> tuple[TaskRun, ...]:
        """The latest attempt of each task, in first-seen order (retries and repairs add task entries).

        Latest is the one started last: a repair's re-run counts its ``attempt_number`` from 0 again,
        after its task's retries. An attempt not started yet (``start_time`` 0) is the newest there is.
        """
        latest: dict[str, TaskRun] = {}
        for task in self.tasks or ():
            seen = latest.get(task.task_key)
            if seen is None or _recency(task) >= _recency(seen):
                latest[task.task_key] = task
        return tuple(latest.values())

    def failed_tasks(self) -> tuple[TaskRun, ...]:
        """Latest attempts that ended badly: failed, timed out, cancelled or internal error."""
        return tuple(t for t in self.latest_attempts() if _task_failed(t.state))


def _recency(task: TaskRun) -> tuple[float, int]:
    return (task.start_time or math.inf, task.attempt_number)


def _task_failed(state: RunState) -> bool:
    if state.life_cycle_state is LifeCycleState.INTERNAL_ERROR:
        return True
    return state.result_state in (ResultState.FAILED, ResultState.TIMEDOUT, ResultState.CANCELED)


@dataclass(frozen=True)
class RunsPage:
    """One page of ``runs/list``."""

    runs: tuple[Run, ...]
    next_page_token: str = ""


@dataclass(frozen=True)
class RunOutput:
    """What ``runs/get-output`` returns for one task run."""

    run_id: int
    error: str = ""
    error_trace: str = ""
    notebook_result: str | None = None
    notebook_result_truncated: bool = False
    logs: str = ""
    logs_truncated: bool = False

    @classmethod
    def from_api(cls, run_id: int, data: object) -> RunOutput:
        """Parse a get-output body; missing keys become empty values."""
        body = _mapping(data)
        notebook = _mapping(body.get("notebook_output"))
        result = notebook.get("result")
        return cls(
            run_id=run_id,
            error=_str(body.get("error")),
            error_trace=_str(body.get("error_trace")),
            notebook_result=result if isinstance(result, str) else None,
            notebook_result_truncated=notebook.get("truncated") is True,
            logs=_str(body.get("logs")),
            logs_truncated=body.get("logs_truncated") is True,
        )


class Outcome(enum.Enum):
    """The verdict on a run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Judgement:
    """The verdict on a run, with one short line saying why."""

    outcome: Outcome
    reason: str

    @property
    def is_final(self) -> bool:
        """True when the run will not change any more."""
        return self.outcome in (Outcome.SUCCEEDED, Outcome.FAILED)


_SUCCESS_RESULTS = frozenset({ResultState.SUCCESS, ResultState.SUCCESS_WITH_FAILURES})


def judge(state: RunState) -> Judgement:
    """Decide whether a run is still going, succeeded or failed.

    ``SUCCESS_WITH_FAILURES`` counts as success: Databricks reports the job run itself as successful
    (only non-leaf tasks failed). Any other terminal result, ``SKIPPED`` and ``INTERNAL_ERROR`` are
    failures. A life-cycle state this version does not know is ``UNKNOWN``: callers keep polling and
    say so, rather than guessing.
    """
    lcs = state.life_cycle_state
    if lcs is LifeCycleState.UNKNOWN:
        shown = state.raw_life_cycle_state or "<missing>"
        return Judgement(Outcome.UNKNOWN, f"unrecognised life_cycle_state {shown!r}")
    if not lcs.is_terminal:
        return Judgement(Outcome.RUNNING, state.describe())
    if lcs is LifeCycleState.TERMINATED and state.result_state in _SUCCESS_RESULTS:
        return Judgement(Outcome.SUCCEEDED, state.describe())
    return Judgement(Outcome.FAILED, state.describe())
