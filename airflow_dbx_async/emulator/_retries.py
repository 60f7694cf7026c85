"""Task retries of job runs: ``max_retries``, ``min_retry_interval_millis``, ``retry_on_timeout``.

Reference (https://docs.databricks.com/api/workspace/jobs/create, ``tasks[].max_retries``, and
https://docs.databricks.com/api/workspace/jobs/submit, whose ``SubmitTask`` has the same three fields):
a run is unsuccessful when it ends ``FAILED`` or ``INTERNAL_ERROR``; ``-1`` retries indefinitely, ``0``
never; a timed-out task is retried only with ``retry_on_timeout``. Each retry is a new task run in the
parent's ``tasks[]`` with the same ``task_key`` and ``attempt_number`` + 1; between attempts it is
``WAITING_FOR_RETRY``. Tasks of job runs and of one-time (submit) runs are retried alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_dbx_async.emulator._model import Run, TaskRun

__all__ = ("MAX_SIMULATED_ATTEMPTS", "NewAttempt", "retry_delay_ms", "retry_wanted")

# A simulated task that always fails with max_retries -1 would be retried for ever; stop somewhere.
MAX_SIMULATED_ATTEMPTS = 100
_UNSUCCESSFUL = frozenset({"FAILED", "INTERNAL_ERROR", "NOT_FOUND"})

NewAttempt = Callable[[Run, TaskRun, int], TaskRun]
"""Creates the next attempt of a task run of a run, visible from the given epoch ms."""


def _int(spec: Mapping[str, Any], name: str) -> int:
    try:
        return int(str(spec.get(name) or 0).strip())
    except ValueError:
        return 0


def retry_wanted(task: TaskRun) -> bool:
    """Whether the finished attempt ``task`` is followed by another one."""
    limit = _int(task.spec, "max_retries")
    retry_timeout = task.spec.get("retry_on_timeout") in (True, "true")
    unsuccessful = task.outcome in _UNSUCCESSFUL or (task.outcome == "TIMEDOUT" and retry_timeout)
    if not unsuccessful or limit == 0:
        return False
    if limit < 0:
        return task.attempt_number + 1 < MAX_SIMULATED_ATTEMPTS
    return task.attempt_number < limit


def retry_delay_ms(task: TaskRun) -> int:
    """``min_retry_interval_millis`` of the task (0: retried at once)."""
    return max(0, _int(task.spec, "min_retry_interval_millis"))
