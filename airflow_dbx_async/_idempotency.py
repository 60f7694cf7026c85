"""Deterministic idempotency tokens, so a retried or restarted task never starts a duplicate run.

Databricks keeps a submitted token and answers a second submit carrying it with the *existing*
run's id, so submitting with a token is itself the probe. Each task try probes slots 1, 2, ... of its
task instance: a slot whose run is still active is re-attached (a worker died after submitting); a
slot whose run has finished and *started* before this try started belongs to an earlier try, so the
next slot is used. Start times are compared, not end times: a run of an earlier try that finished
just before the probe still counts as that try's. A token given by the user is sent as-is, once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client import ConfigurationError

if TYPE_CHECKING:
    from airflow_dbx_async.client import JobsClient, Run

__all__ = ("MAX_SLOTS", "SubmitResult", "TaskIdentity", "make_token", "submit_idempotent")

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
    if user_token or identity is None:
        run_id = await submit(client, payload)
        on_submitted(run_id)
        run = await client.get_run(run_id)
        return SubmitResult(run=run, token=str(user_token or ""), slot=0, reattached=False)
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
