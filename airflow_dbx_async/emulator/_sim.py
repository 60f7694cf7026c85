"""Simulated execution: a run's whole timeline is computed once, when it is submitted.

Nothing runs afterwards: :func:`airflow_dbx_async.emulator._model.task_phase` reads the timestamps
written here, so ten thousand active simulated runs cost memory, not CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_dbx_async.emulator._model import OUTCOMES, Run, TaskRun, evaluate_run_if
from airflow_dbx_async.emulator._retries import NewAttempt, retry_delay_ms, retry_wanted

__all__ = ("schedule_simulated", "sim_settings", "topological")


def _lookup(spec: Mapping[str, Any], name: str) -> Any:
    """A ``sim_*`` setting from the task dict, else from its notebook parameters."""
    if spec.get(name) is not None:
        return spec[name]
    notebook = spec.get("notebook_task")
    if isinstance(notebook, Mapping):
        params = notebook.get("base_parameters")
        if isinstance(params, Mapping) and params.get(name) is not None:
            return params[name]
    return None


def sim_settings(
    spec: Mapping[str, Any], duration: float, result: str, attempt: int = 0
) -> tuple[int, str, str | None]:
    """``(duration_ms, outcome, error)`` of a simulated task attempt, with the given defaults.

    ``sim_failing_attempts: N`` makes the first N attempts fail (with ``sim_error``) and later ones
    end with ``sim_result`` (default success), to exercise retries.
    """
    raw_duration = _lookup(spec, "sim_duration_seconds")
    seconds = duration if raw_duration is None else float(raw_duration)
    error = _lookup(spec, "sim_error")
    raw_result = _lookup(spec, "sim_result")
    failing = int(_lookup(spec, "sim_failing_attempts") or 0)
    if failing:
        if attempt < failing:
            return max(0, int(seconds * 1000)), "FAILED", str(error or f"Exception: attempt {attempt} failed")
        error = None
        outcome = str(raw_result).upper() if raw_result is not None else result
    else:
        outcome = str(raw_result).upper() if raw_result is not None else ("FAILED" if error else result)
    if outcome not in OUTCOMES:
        outcome = "FAILED"
    return max(0, int(seconds * 1000)), outcome, None if error is None else str(error)


def topological(tasks: list[TaskRun]) -> list[TaskRun]:
    """Tasks ordered so that upstream tasks come first (dependencies outside the list are ignored)."""
    by_key = {t.task_key: t for t in tasks}
    ordered: list[TaskRun] = []
    seen: set[str] = set()

    def visit(task: TaskRun, trail: frozenset[str]) -> None:
        if task.task_key in seen or task.task_key in trail:
            return
        for key in task.depends_on:
            if key in by_key:
                visit(by_key[key], trail | {task.task_key})
        seen.add(task.task_key)
        ordered.append(task)

    for task in tasks:
        visit(task, frozenset())
    return ordered


def _simulated_cell(task: TaskRun) -> dict[str, Any]:
    """The one command a simulated notebook shows in runs/export (``sim_print`` is what it printed)."""
    printed = _lookup(task.spec, "sim_print")
    cell: dict[str, Any] = {
        "position": 1,
        "command": f"# Simulated notebook of task {task.task_key}",
        "state": "error" if task.error else "finished",
        "results": [] if printed is None else [{"type": "ansi", "data": str(printed)}],
    }
    if task.error:
        cell.update(error=task.error, error_trace=task.error_trace)
    return cell


def _fill_output(task: TaskRun, error: str | None) -> None:
    if task.outcome in ("SUCCESS", "EXCLUDED", "SKIPPED", "UPSTREAM_FAILED"):
        task.logs = f"Simulated task {task.task_key} finished.\n"
        output = _lookup(task.spec, "sim_output")
        task.result = None if output is None else str(output)
    else:
        text = error or f"Exception: simulated {task.outcome.lower()} of task {task.task_key}"
        if ": " not in text:
            text = f"Exception: {text}"
        task.error = text
        task.error_trace = (
            "Traceback (most recent call last):\n"
            f'  File "<simulated task {task.task_key}>", line 1, in <module>\n'
            f"{text}\n"
        )
        task.logs = f"Simulated task {task.task_key} started.\n{text}\n"
    if "notebook_task" in task.spec and task.outcome not in ("EXCLUDED", "SKIPPED", "UPSTREAM_FAILED"):
        task.cells = [_simulated_cell(task)]


def _play(task: TaskRun, ready: int, defaults: tuple[float, str]) -> None:
    """Write one attempt's timeline from ``ready`` on."""
    if task.blocked is not None:
        task.pending_ms = ready
        task.finish(ready, "NOT_FOUND", task.blocked)
        task.error = task.blocked
        return
    duration, outcome, error = sim_settings(task.spec, *defaults, attempt=task.attempt_number)
    setup = cleanup = duration // 10
    task.pending_ms = ready
    task.running_ms = ready + setup
    task.terminating_ms = ready + duration - cleanup
    task.finish(ready + duration, outcome)
    timeout = int(float(task.spec.get("timeout_seconds") or 0) * 1000)
    if timeout and duration > timeout:
        task.finish(ready + timeout, "TIMEDOUT")
    _fill_output(task, error)


def _attempts(
    run: Run, task: TaskRun, ready: int, defaults: tuple[float, str], retry: NewAttempt | None
) -> TaskRun:
    """Play the task and its retries; the last attempt."""
    _play(task, ready, defaults)
    while retry is not None and retry_wanted(task):
        ended = task.end_ms or ready
        task = retry(run, task, ended)
        task.ready_ms = ended
        _play(task, ended + retry_delay_ms(task), defaults)
    return task


def schedule_simulated(
    run: Run,
    tasks: list[TaskRun],
    start_ms: int,
    defaults: tuple[float, str],
    prior: Mapping[str, tuple[str, int]],
    retry: NewAttempt | None = None,
) -> None:
    """Write the timeline of ``tasks`` (new attempts of ``run``) starting at ``start_ms``.

    ``prior`` maps task keys that are not re-run to their ``(outcome, end_ms)``; ``retry`` creates
    retry attempts.
    """
    done: dict[str, tuple[str, int]] = dict(prior)
    played: list[TaskRun] = []
    for task in topological(tasks):
        upstream = [done[key] for key in task.depends_on if key in done]
        ready = max([start_ms, *(end for _, end in upstream)])
        task.ready_ms = ready
        skip = evaluate_run_if(task.spec.get("run_if"), [outcome for outcome, _ in upstream])
        if skip is not None:
            task.finish(ready, skip)
            _fill_output(task, None)
            done[task.task_key] = (skip, ready)
            played.append(task)
            continue
        last = _attempts(run, task, ready, defaults, retry)
        played += [task] if last is task else [task, last]
        done[task.task_key] = (last.outcome, last.end_ms or ready)
    if run.timeout_seconds:
        deadline = start_ms + run.timeout_seconds * 1000
        for task in played:
            if task.end_ms is not None and task.end_ms > deadline:
                task.finish(deadline, "TIMEDOUT")
                _fill_output(task, None)
