"""Deterministic idempotency tokens, so a retried or restarted task never starts a duplicate run.

Databricks keeps a submitted token and answers a second submit carrying it with the *existing*
run's id, so submitting with a token is itself the probe. Each task try probes slots 1, 2, ... of its
task instance: a slot whose run is still active is re-attached (a worker died after submitting); a
slot whose run has finished and *started* before this try started belongs to an earlier try, so the
next slot is used. Start times are compared, not end times: a run of an earlier try that finished
just before the probe still counts as that try's.

A token given by the user is sent as-is, once. Databricks then answers with whatever run already
holds it, whoever started it, without comparing the request. So the run it returns is checked: a run
that does not match what was sent (another run name or job), or that started before this try and
has already finished, belongs to somebody else (another task sharing the token, or an earlier DAG
run reusing a static token), and the task fails naming ``idempotency_token`` and that run. A run of
the same spec that started before this try and is still going is re-attached: that is this task
instance's own run, submitted by a try whose worker was lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client import ConfigurationError

if TYPE_CHECKING:
    from airflow_dbx_async.client import JobsClient, Run

__all__ = ("MAX_SLOTS", "SubmitResult", "TaskIdentity", "collision", "make_token", "submit_idempotent")

MAX_SLOTS = 100
Submit = Callable[["JobsClient", Mapping[str, Any]], Awaitable[int]]


@dataclass(frozen=True)
class TaskIdentity:
    """Which task instance a token belongs to."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    #: set for a non-durable task (``durable=False``): each try then gets tokens of its own, so a
    #: retry starts a fresh run instead of re-attaching to the previous try's run.
    try_number: int | None = None


@dataclass(frozen=True)
class SubmitResult:
    """The run this try watches, and how it was obtained."""

    run: Run
    token: str
    slot: int
    reattached: bool


def make_token(identity: TaskIdentity, slot: int) -> str:
    """``airflow-`` plus the first 48 hex digits of a SHA-256 over the task instance and slot."""
    key = f"{identity.dag_id}|{identity.task_id}|{identity.run_id}|{identity.map_index}|{slot}"
    if identity.try_number is not None:
        key += f"|try={identity.try_number}"
    return "airflow-" + hashlib.sha256(key.encode()).hexdigest()[:48]


def _with_token(payload: Mapping[str, Any], token: str) -> dict[str, Any]:
    return {**payload, "idempotency_token": token}


async def submit_idempotent(
    client: JobsClient,
    submit: Submit,
    payload: Mapping[str, Any],
    *,
    identity: TaskIdentity | None,
    try_started_ms: int,
    on_submitted: Callable[[int], None] = lambda run_id: None,
) -> SubmitResult:
    """Submit ``payload`` once per task try and return the run with its first state.

    :param client: the open client.
    :param submit: ``JobsClient.submit_run`` or ``JobsClient.run_now`` (unbound).
    :param payload: the request body; a user-set ``idempotency_token`` in it is used as-is.
    :param identity: the task instance, or ``None`` to submit without a derived token.
    :param try_started_ms: when this task try started, epoch milliseconds.
    :param on_submitted: called with each run id as soon as Databricks returns it (for ``on_kill``).
    """
    user_token = payload.get("idempotency_token")
    if user_token:
        return await _submit_with_user_token(
            client, submit, payload, str(user_token), try_started_ms, on_submitted
        )
    if identity is None:
        run_id = await submit(client, payload)
        on_submitted(run_id)
        run = await client.get_run(run_id)
        return SubmitResult(run=run, token="", slot=0, reattached=False)
    for slot in range(1, MAX_SLOTS + 1):
        token = make_token(identity, slot)
        run_id = await submit(client, _with_token(payload, token))
        on_submitted(run_id)
        run = await client.get_run(run_id)
        earlier = 0 < run.start_time < try_started_ms
        if not run.state.life_cycle_state.is_terminal:
            return SubmitResult(run=run, token=token, slot=slot, reattached=earlier)
        if not earlier:
            return SubmitResult(run=run, token=token, slot=slot, reattached=False)
    raise ConfigurationError(
        "idempotency_token",
        f"{MAX_SLOTS} earlier runs already exist for this task instance; "
        "set idempotency_token explicitly to start another",
    )


def _mismatch(run: Run, payload: Mapping[str, Any]) -> str | None:
    """How ``run`` differs from the request ``payload``, or ``None`` when it could be its run."""
    job_id = payload.get("job_id")
    if job_id is not None:
        if run.job_id and str(run.job_id) != str(job_id).strip():
            return f"it runs job {run.job_id}, not job {job_id}"
        return None
    run_name = payload.get("run_name")
    if run_name and run.run_name and run.run_name != run_name:
        return f"it is named {run.run_name!r}, not {run_name!r}"
    tasks = payload.get("tasks")
    if isinstance(tasks, list) and run.tasks:
        wanted = {str(task.get("task_key")) for task in tasks if isinstance(task, Mapping)}
        if {task.task_key for task in run.tasks} != wanted:
            return "its task keys differ from the tasks sent"
    return None


def collision(run: Run, payload: Mapping[str, Any], try_started_ms: int) -> str | None:
    """Why the run Databricks returned for a user's token is not this try's run, or ``None``."""
    why = _mismatch(run, payload)
    if why is None and 0 < run.start_time < try_started_ms and run.state.life_cycle_state.is_terminal:
        why = "it started before this task try and has already finished"
    return why


async def _submit_with_user_token(
    client: JobsClient,
    submit: Submit,
    payload: Mapping[str, Any],
    token: str,
    try_started_ms: int,
    on_submitted: Callable[[int], None],
) -> SubmitResult:
    run_id = await submit(client, payload)
    run = await client.get_run(run_id)
    why = collision(run, payload, try_started_ms)
    if why is not None:
        # Not ours: never report it as this task's run, and never cancel it on kill.
        raise ConfigurationError(
            "idempotency_token",
            f"{token!r} already belongs to Databricks run {run.run_id} ({why}); Databricks returns "
            "that run instead of starting a new one, so give each task instance its own token "
            "or leave idempotency_token unset",
        )
    on_submitted(run_id)
    reattached = 0 < run.start_time < try_started_ms
    return SubmitResult(run=run, token=token, slot=0, reattached=reattached)
