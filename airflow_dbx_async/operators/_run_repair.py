"""``repair_run`` of the run-now operator: re-run all failed tasks of a failed run, once.

It follows the official provider 7.23.0: repair when ``repair_run`` is set and either no
``databricks_repair_reason_new_settings`` are given or one of their reasons occurs in the run's state
message; in that case the job's settings are first updated (``jobs/update``) with the matching new
settings. The repair names ``latest_repair_id`` when the run was repaired before (Databricks refuses
a repair without it) and repeats the run's ``job_parameters``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_dbx_async.hooks import latest_repair_id
from airflow_dbx_async.operators._payload import coerce_json, normalise
from airflow_dbx_async.outcome import matching_reason

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_dbx_async.client import JobsClient, Run

__all__ = ("repair_failed_run",)


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
