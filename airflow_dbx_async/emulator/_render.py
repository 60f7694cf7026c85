"""JSON renderings of runs, task runs and run outputs, shaped like Databricks answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_dbx_async.emulator._model import TERMINAL, Run, RunPhase, TaskRun, run_phase, task_phase

__all__ = (
    "OUTPUT_LIMIT",
    "LOG_TASK_TYPES",
    "Renderer",
    "head",
    "page_url",
    "state_json",
    "status_json",
    "tail",
)

CREATOR = "emulator@example.com"
_STATUS_STATE = {"SKIPPED": "TERMINATED", "INTERNAL_ERROR": "TERMINATED", "WAITING_FOR_RETRY": "WAITING"}
# get-output: ``logs`` exist only for these task types ("not supported for notebook_task, pipeline_task
# or spark_submit_task"), are the last 5 MB; ``notebook_output.result`` is the first 5 MB.
# https://docs.databricks.com/api/workspace/jobs/getrunoutput
LOG_TASK_TYPES = ("spark_jar_task", "spark_python_task", "python_wheel_task")
OUTPUT_LIMIT = 5 * 1024 * 1024


def head(text: str, limit: int = OUTPUT_LIMIT) -> tuple[str, bool]:
    """The first ``limit`` bytes of ``text`` (UTF-8) and whether it was cut."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text, False
    return raw[:limit].decode("utf-8", errors="ignore"), True


def tail(text: str, limit: int = OUTPUT_LIMIT) -> tuple[str, bool]:
    """The last ``limit`` bytes of ``text`` (UTF-8) and whether it was cut."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text, False
    return raw[-limit:].decode("utf-8", errors="ignore"), True


def page_url(base_url: str, workspace_id: int, job_id: int, run_id: int) -> str:
    """A run page address in the ``?o=<workspace>#job/<job>/run/<run>`` form Databricks returns."""
    return f"{base_url}/?o={workspace_id}#job/{job_id}/run/{run_id}"


def state_json(phase: RunPhase) -> dict[str, Any]:
    """The legacy ``state`` object."""
    out = phase.outcome
    state: dict[str, Any] = {
        "life_cycle_state": phase.life_cycle,
        "state_message": phase.message,
        "user_cancelled_or_timedout": bool(out and out.user_cancelled_or_timedout),
    }
    if out is not None:
        state["result_state"] = out.result_state
    if phase.life_cycle == "QUEUED":
        state["queue_reason"] = phase.message
    return state


def status_json(phase: RunPhase) -> dict[str, Any]:
    """The newer ``status`` object."""
    status: dict[str, Any] = {"state": _STATUS_STATE.get(phase.life_cycle, phase.life_cycle)}
    out = phase.outcome
    if out is not None:
        status["termination_details"] = {"code": out.code, "type": out.type, "message": phase.message}
    if phase.life_cycle == "QUEUED":
        code = (
            "MAX_CONCURRENT_RUNS_REACHED"
            if "concurrent runs" in phase.message
            else "ACTIVE_RUNS_LIMIT_REACHED"
        )
        status["queue_details"] = {"code": code, "message": phase.message}
    return status


def _durations(task: TaskRun, now: int) -> tuple[int, int, int]:
    if task.end_ms is None or now < task.end_ms or task.pending_ms is None:
        return 0, 0, 0
    running = task.running_ms if task.running_ms is not None else task.end_ms
    terminating = task.terminating_ms if task.terminating_ms is not None else task.end_ms
    return running - task.pending_ms, terminating - running, task.end_ms - terminating


@dataclass(frozen=True, slots=True)
class Renderer:
    """Renders state for one request (the base URL comes from the request's own origin)."""

    base_url: str
    workspace_id: int
    now: int

    def url(self, job_id: int, run_id: int) -> str:
        """``run_page_url`` of a run."""
        return page_url(self.base_url, self.workspace_id, job_id, run_id)

    def task_entry(self, run: Run, task: TaskRun) -> dict[str, Any]:
        """A task entry of a run's ``tasks[]``."""
        phase = task_phase(task, self.now)
        setup, execution, cleanup = _durations(task, self.now)
        started = task.pending_ms is not None and self.now >= task.pending_ms
        ended = phase.life_cycle in TERMINAL
        entry: dict[str, Any] = dict(task.spec)
        entry.update(
            run_id=task.run_id,
            task_key=task.task_key,
            state=state_json(phase),
            status=status_json(phase),
            start_time=task.pending_ms if started else 0,
            end_time=task.end_ms if ended else 0,
            setup_duration=setup,
            execution_duration=execution,
            cleanup_duration=cleanup,
            run_duration=(task.end_ms or 0) - task.pending_ms if ended and task.pending_ms is not None else 0,
            queue_duration=max(0, (task.pending_ms or 0) - (task.ready_ms or task.created_ms))
            if started
            else 0,
            attempt_number=task.attempt_number,
            run_page_url=self.url(run.job_id, task.run_id),
            run_if=task.spec.get("run_if") or "ALL_SUCCESS",
            timeout_seconds=task.spec.get("timeout_seconds") or 0,
        )
        if "notebook_task" in entry:
            entry["notebook_task"] = {"source": "WORKSPACE", **entry["notebook_task"]}
        if started:
            cluster = task.spec.get("existing_cluster_id") or f"emulator-cluster-{run.run_id}"
            entry["cluster_instance"] = {"cluster_id": cluster, "spark_context_id": str(run.run_id)}
        return entry

    def _header(self, run: Run, phase: RunPhase, run_id: int) -> dict[str, Any]:
        body: dict[str, Any] = dict(run.extra)
        body.update(
            job_id=run.job_id,
            run_id=run_id,
            number_in_job=run_id,
            original_attempt_run_id=run_id,
            creator_user_name=CREATOR,
            run_name=run.run_name,
            run_page_url=self.url(run.job_id, run_id),
            run_type=run.run_type,
            trigger="ONE_TIME",
            state=state_json(phase),
            status=status_json(phase),
            attempt_number=0,
            format="MULTI_TASK",
        )
        return body

    def run(self, run: Run, tasks: list[TaskRun], *, include_history: bool = False) -> dict[str, Any]:
        """The Run object of a job run or submit run (``tasks`` is the page of attempts to show)."""
        phase = run_phase(run, self.now)
        body = self._header(run, phase, run.run_id)
        ended = phase.life_cycle in TERMINAL
        end = max((t.end_ms or 0 for t in run.tasks), default=run.created_ms) if ended else 0
        only = run.tasks[0] if len(run.tasks) == 1 else None
        setup, execution, cleanup = _durations(only, self.now) if only else (0, 0, 0)
        body.update(
            tasks=[self.task_entry(run, t) for t in tasks],
            start_time=run.created_ms,
            end_time=end,
            setup_duration=setup,
            execution_duration=execution,
            cleanup_duration=cleanup,
            run_duration=end - run.created_ms if ended else max(0, self.now - run.created_ms),
            queue_duration=0,
        )
        if run.timeout_seconds:
            body["timeout_seconds"] = run.timeout_seconds
        if run.overriding_parameters:
            body["overriding_parameters"] = run.overriding_parameters
        if run.job_parameters:
            body["job_parameters"] = run.job_parameters
        if include_history:
            body["repair_history"] = self.history(run)
        return body

    def history(self, run: Run) -> list[dict[str, Any]]:
        """``repair_history``: always the ORIGINAL entry first, then one entry per repair."""
        phase = run_phase(run, self.now)
        first_ids = [t.run_id for t in run.tasks if t.repair_id is None]
        original = {
            "type": "ORIGINAL",
            "start_time": run.created_ms,
            "end_time": 0 if phase.life_cycle not in TERMINAL else max((t.end_ms or 0) for t in run.tasks),
            "state": state_json(phase),
            "status": status_json(phase),
            "task_run_ids": first_ids,
        }
        repairs = []
        for entry in run.repair_history:
            ids = set(entry["task_run_ids"])
            part = Run(run.run_id, run.job_id, run.run_name, run.run_type, entry["start_time"])
            part.tasks = [t for t in run.tasks if t.run_id in ids]
            rp = run_phase(part, self.now)
            done = rp.life_cycle in TERMINAL
            end = max((t.end_ms or 0) for t in part.tasks) if done and part.tasks else 0
            repairs.append({**entry, "end_time": end, "state": state_json(rp), "status": status_json(rp)})
        return [original, *repairs]

    def task_run(self, run: Run, task: TaskRun) -> dict[str, Any]:
        """runs/get on a task run id: the task run in Run shape, pointing at its parent."""
        phase = task_phase(task, self.now)
        body = self._header(run, phase, task.run_id)
        entry = self.task_entry(run, task)
        for key in ("start_time", "end_time", "setup_duration", "execution_duration", "cleanup_duration"):
            body[key] = entry[key]
        # "If this run is a retry of a prior run attempt, ... the run_id of the original attempt".
        first = next(
            (
                t
                for t in run.tasks
                if (t.task_key, t.repair_id, t.attempt_number) == (task.task_key, task.repair_id, 0)
            ),
            task,
        )
        body.update(
            run_duration=entry["run_duration"],
            original_attempt_run_id=first.run_id,
            attempt_number=task.attempt_number,
            task_key=task.task_key,
            job_run_id=run.run_id,
            parent_run_id=run.run_id,
            tasks=[entry],
        )
        if "cluster_instance" in entry:
            body["cluster_instance"] = entry["cluster_instance"]
        return body

    def output(self, run: Run, task: TaskRun) -> dict[str, Any]:
        """runs/get-output of a task run: exit value of notebooks, logs of Python/JAR/wheel tasks."""
        body: dict[str, Any] = {"metadata": self.task_run(run, task)}
        terminal = task_phase(task, self.now).life_cycle in TERMINAL
        if "notebook_task" in task.spec:
            body["notebook_output"] = {}
            if terminal and task.result is not None:
                result, cut = head(task.result)
                body["notebook_output"] = {"result": result, "truncated": cut}
        if terminal and task.logs is not None and any(kind in task.spec for kind in LOG_TASK_TYPES):
            body["logs"], body["logs_truncated"] = tail(task.logs)
        if terminal and task.error is not None:
            body["error"] = task.error
            if task.error_trace is not None:
                body["error_trace"] = task.error_trace
        return body
