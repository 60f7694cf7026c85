"""runs/repair: which tasks a repair re-runs, and the checks before it starts.

Reference: https://docs.databricks.com/api/workspace/jobs/repairrun. The run must not be in progress;
``latest_repair_id`` is required from the second repair on and must name the latest repair;
``rerun_tasks`` or ``rerun_all_failed_tasks`` (not both); ``rerun_dependent_tasks`` adds the tasks
downstream of those chosen. Re-runs use the parameters of the repair request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_dbx_async.emulator._jobs import apply_run_parameters, check_parameter_slots
from airflow_dbx_async.emulator._model import latest_tasks
from airflow_dbx_async.emulator._params import get_int, invalid

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_dbx_async.emulator._model import Run, TaskRun

__all__ = ("plan_repair",)


def plan_repair(
    run: Run,
    task: TaskRun | None,
    body: Mapping[str, Any],
    *,
    active: bool,
    job_tasks: list[dict[str, Any]] | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The task keys to re-run and their specs, or a 400.

    Tasks re-run with the job's current settings (``job_tasks``; the run's own spec for one-time runs
    or tasks no longer in the job), the run's parameters and then the repair request's.
    """
    if task is not None:
        raise invalid(f"Run {task.run_id} is a task run; repair the job run instead.")
    if active:
        raise invalid(f"Run {run.run_id} is still active and cannot be repaired.")
    latest_repair = run.repair_history[-1]["id"] if run.repair_history else None
    given = get_int(body, "latest_repair_id", default=-1)
    if latest_repair is not None and given == -1:
        raise invalid(
            f"latest_repair_id must be provided: run {run.run_id} has been repaired before "
            f"(its latest repair is {latest_repair})."
        )
    if latest_repair is not None and given != latest_repair:
        raise invalid(
            f"latest_repair_id must be {latest_repair}, the id of the latest repair of run {run.run_id}."
        )
    check_parameter_slots(body)
    keys = _rerun_keys(run, body)
    latest = {t.task_key: t for t in latest_tasks(run)}
    current = {str(t.get("task_key")): t for t in job_tasks or ()}
    specs = [current.get(k, latest[k].spec) for k in keys]
    values = {p["name"]: p["value"] for p in run.job_parameters if "name" in p and "value" in p}
    specs = apply_run_parameters(specs, {**run.overriding_parameters, "job_parameters": values})
    return keys, apply_run_parameters(specs, body)


def _rerun_keys(run: Run, body: Mapping[str, Any]) -> list[str]:
    latest = latest_tasks(run)
    rerun = [str(k) for k in body.get("rerun_tasks") or ()]
    rerun_failed = body.get("rerun_all_failed_tasks") in (True, "true")
    if rerun and rerun_failed:
        raise invalid("Only one of rerun_tasks and rerun_all_failed_tasks can be set.")
    if rerun_failed:
        rerun = [t.task_key for t in latest if t.outcome != "SUCCESS"]
    unknown = set(rerun) - {t.task_key for t in latest}
    if unknown:
        raise invalid(f"Tasks {sorted(unknown)} do not exist in run {run.run_id}.")
    if not rerun:
        raise invalid("Either rerun_tasks or rerun_all_failed_tasks must be set.")
    if body.get("rerun_dependent_tasks") in (True, "true"):
        changed = True
        while changed:
            extra = [t.task_key for t in latest if t.task_key not in rerun and set(t.depends_on) & set(rerun)]
            rerun.extend(extra)
            changed = bool(extra)
    return [t.task_key for t in latest if t.task_key in rerun]
