"""``repair_run`` of the run-now operator: re-run all failed tasks of a failed run, once.

It follows the official provider 7.23.0: repair when ``repair_run`` is set and either no
``databricks_repair_reason_new_settings`` are given or one of their reasons occurs in the run's state
message; in that case the job's settings are first updated (``jobs/update``) with the matching new
settings. The repair names ``latest_repair_id`` when the run was repaired before (Databricks refuses
a repair without it) and repeats the run's ``job_parameters``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_dbx_async._payload import coerce_json, normalise

if TYPE_CHECKING:
    from airflow_dbx_async.client import JobsClient, Run

__all__ = ("latest_repair_id", "matching_reason", "repair_failed_run", "should_repair")


def matching_reason(reasons: Iterable[str], state_message: str) -> str | None:
    """The first reason (a ``databricks_repair_reason_new_settings`` key) in the message, or ``None``."""
    return next((reason for reason in reasons if reason in state_message), None)


def should_repair(enabled: bool, reasons: Collection[str], state_message: str) -> bool:
    """Whether a failed run with this state message is repaired."""
    return enabled and (not reasons or matching_reason(reasons, state_message) is not None)


async def latest_repair_id(client: JobsClient, run_id: int) -> int | None:
    """The id of the run's latest repair, or ``None`` when it was never repaired."""
    run = await client.get_run_json(run_id, include_history=True)
    history = run.get("repair_history")
    if not isinstance(history, list) or len(history) <= 1:
        return None
    last = history[-1]
    value = last.get("id") if isinstance(last, Mapping) else None
    return int(value) if value is not None else None


async def repair_failed_run(
    client: JobsClient,
    run_id: int,
    *,
    reasons: Mapping[str, Any],
    state_message: str,
    job_parameters: Mapping[str, Any] | None,
    job_id: int | str | None = None,
) -> tuple[int, Run]:
    """Update the job when a reason matches, then repair all failed tasks.

    :param job_id: the job to update, as the request gave it; ``None``: the run's job.
    :returns: the repair id and the run as it is right after the repair request.
    """
    reason = matching_reason(reasons, state_message)
    if reason is not None:
        target = job_id if job_id is not None else (await client.get_run(run_id)).job_id
        await client.update_job(target, normalise(coerce_json(reasons[reason]), "new_settings"))
    body: dict[str, Any] = {"run_id": run_id, "rerun_all_failed_tasks": True}
    latest = await latest_repair_id(client, run_id)
    if latest is not None:
        body["latest_repair_id"] = latest
    if job_parameters is not None:
        body["job_parameters"] = dict(job_parameters)
    repair_id = await client.repair_run(body)
    return repair_id, await client.get_run(run_id)
