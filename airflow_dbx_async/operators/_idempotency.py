"""Idempotency tokens and the one rule deciding whether a task try re-attaches to a run or starts one.

Databricks keeps a submitted token and answers a second submit carrying it with the *existing* run's
id, without comparing the request, so submitting with a token is itself the probe. Each task try
probes slots 1, 2, ... of its task instance and asks :func:`reattach_decision` about the run each
token returns: watch it (this try started it), re-attach (an earlier try's run that can still become
this task's success), move to the next slot (an earlier try's run that can no longer succeed:
stopping, cancelled, failed or finished), or fail (the run is not this task's at all: it does not
match what this task sends). The table of situations is in ``docs/reliability.md``.

A run id that the official operator kept in the task state store (``durable``, Airflow 3.3) is asked
about the same way, before any token: after an import swap, a retried task re-attaches to the run the
official operator's earlier try started while that run can still succeed, and otherwise goes on to
the tokens.

A derived token covers the DAG, the task, the DAG run, the map index, the DAG run's *clear number*
(so clearing a finished task or DAG run starts a new run, while a retry keeps the token) and the
slot. It is an HMAC keyed with a secret only the deployment has (the ``[databricks_async]
idempotency_key`` option, else the connection's credential), so another workspace user cannot
compute it and claim it in advance. A token given by the user is sent as-is, once: a run it returns
that cannot be this try's fails the task naming ``idempotency_token`` and that run.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client import ApiError, ConfigurationError, LifeCycleState, Run

if TYPE_CHECKING:
    from airflow_dbx_async.client import JobsClient

__all__ = (
    "MAX_SLOTS",
    "Decision",
    "Reattach",
    "SubmitResult",
    "TaskIdentity",
    "derive_key",
    "make_token",
    "mismatch",
    "reattach_decision",
    "submit_idempotent",
)

_log = logging.getLogger(__name__)

MAX_SLOTS = 100
# How long a try waits for an earlier try's stopping run to end before starting the next one.
STOPPING_WAIT_SECONDS = 600.0
STOPPING_POLL_SECONDS = 1.0
Submit = Callable[["JobsClient", Mapping[str, Any]], Awaitable[int]]

# States from which a run can still end in success. TERMINATING is left out: a run that an earlier
# try cancelled (at its deadline, on kill, or through cancel_previous_runs) stops through it.
_CAN_STILL_SUCCEED = frozenset(
    {
        LifeCycleState.QUEUED,
        LifeCycleState.PENDING,
        LifeCycleState.RUNNING,
        LifeCycleState.BLOCKED,
        LifeCycleState.WAITING_FOR_RETRY,
        LifeCycleState.UNKNOWN,  # not known to be lost: starting a second run would be worse
    }
)
# The run-now parameter slots, as runs/get reports them under ``overriding_parameters``.
_RUN_NOW_SLOTS = (
    "notebook_params",
    "python_params",
    "jar_params",
    "spark_submit_params",
    "python_named_params",
    "sql_params",
    "dbt_commands",
)
_ALWAYS_ECHOED = frozenset({"notebook_params", "python_params", "jar_params"})
# What identifies a submitted task's work (runs/get echoes these per task).
_TASK_FIELDS = (
    "notebook_task",
    "spark_jar_task",
    "spark_python_task",
    "spark_submit_task",
    "pipeline_task",
    "python_wheel_task",
    "dbt_task",
    "sql_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "existing_cluster_id",
)


def derive_key(secret: str) -> bytes:
    """The HMAC key for derived tokens: a hash of ``secret`` (a configured key or a credential)."""
    return hashlib.sha256(b"airflow-dbx-async idempotency|" + secret.encode()).digest()


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
    #: the DAG run's clear number: a clear (of this task or of the DAG run) starts a new run.
    clear_number: int = 0
    #: the HMAC key (:func:`derive_key`); ``None`` derives unkeyed tokens (no secret available).
    key: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class SubmitResult:
    """The run this try watches, and how it was obtained."""

    run: Run
    token: str
    slot: int
    reattached: bool
    #: the run id came from the task state store (the official operator's ``durable`` key)
    stored: bool = False


class Decision(enum.Enum):
    """What a task try does with the run a token returned."""

    WATCH = "watch"  # this try started it
    REATTACH = "re-attach"  # an earlier try started it and it can still succeed
    NEW_RUN = "new run"  # an earlier try's run that can no longer succeed: use the next slot
    COLLISION = "collision"  # not this task's run: fail naming idempotency_token


@dataclass(frozen=True)
class Reattach:
    """The decision for one run, and why (the reason ends up in a log line or error)."""

    decision: Decision
    why: str
    #: with NEW_RUN for a run that is still stopping: start the next one only once it has ended, so
    #: two runs of this task never overlap (a job with ``max_concurrent_runs=1`` would skip the new one)
    after_end: bool = False


def make_token(identity: TaskIdentity, slot: int) -> str:
    """``airflow-`` plus 48 hex digits of an HMAC-SHA256 (SHA-256 without a key) over the identity."""
    fields = f"{identity.dag_id}|{identity.task_id}|{identity.run_id}|{identity.map_index}|{slot}"
    if identity.clear_number:
        fields += f"|clear={identity.clear_number}"
    if identity.try_number is not None:
        fields += f"|try={identity.try_number}"
    if identity.key is None:
        digest = hashlib.sha256(fields.encode()).hexdigest()
    else:
        digest = hmac.new(identity.key, fields.encode(), hashlib.sha256).hexdigest()
    return "airflow-" + digest[:48]


def _text(value: Any) -> Any:
    """Scalars as Databricks stores parameter values: text, booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _text(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return value


def _differs(sent: Any, got: Any) -> bool:
    """Whether ``got`` contradicts ``sent``: keys the answer leaves out are not held against it."""
    sent, got = _text(sent), _text(got)
    if isinstance(sent, Mapping) and isinstance(got, Mapping):
        return any(k in got and _differs(v, got[k]) for k, v in sent.items())
    return bool(sent != got)


def _run_now_mismatch(run: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    job_id = payload.get("job_id")
    got_job = run.get("job_id")
    if got_job and str(got_job) != str(job_id).strip():
        return f"it runs job {got_job}, not job {job_id}"
    sent_params = _text(payload.get("job_parameters") or {})
    got_params = {
        str(p.get("name")): p.get("value")
        for p in run.get("job_parameters") or ()
        if isinstance(p, Mapping) and "value" in p
    }
    for name, value in sent_params.items():
        if name in got_params and _differs(value, got_params[name]):
            return f"its job parameter {name!r} differs from the one sent"
    overriding = run.get("overriding_parameters")
    if isinstance(overriding, Mapping):
        for slot in _RUN_NOW_SLOTS:
            sent, got = _text(payload.get(slot) or None), _text(overriding.get(slot) or None)
            # A slot the answer leaves out is held against it only where Databricks always echoes it.
            if sent != got and (got is not None or slot in _ALWAYS_ECHOED):
                return f"its {slot} differ from the ones sent"
    return None


def _submit_mismatch(run: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    run_name = payload.get("run_name")
    got_name = run.get("run_name")
    if run_name and got_name and got_name != run_name:
        return f"it is named {got_name!r}, not {run_name!r}"
    sent_tasks = payload.get("tasks")
    got_tasks = run.get("tasks")
    if not isinstance(got_tasks, list) or not got_tasks:
        return None
    if not isinstance(sent_tasks, list):  # a single-task body: compare its task fields with the one task
        sent_tasks = [{k: payload[k] for k in _TASK_FIELDS if k in payload}]
        got_tasks = got_tasks[:1] if len(got_tasks) == 1 else got_tasks
        if len(got_tasks) != 1:
            return "it has other tasks than the one sent"
        sent_tasks[0]["task_key"] = got_tasks[0].get("task_key")
    sent_by_key = {str(t.get("task_key")): t for t in sent_tasks if isinstance(t, Mapping)}
    got_by_key = {str(t.get("task_key")): t for t in got_tasks if isinstance(t, Mapping)}
    if set(sent_by_key) != set(got_by_key):
        return "its task keys differ from the tasks sent"
    for key, sent in sent_by_key.items():
        for name in _TASK_FIELDS:
            if name in sent and name in got_by_key[key] and _differs(sent[name], got_by_key[key][name]):
                return f"its task {key!r} has another {name} than the one sent"
    return None


def mismatch(run: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    """How the ``runs/get`` answer ``run`` differs from the request ``payload``, or ``None``.

    run-now: the job and every parameter sent; runs/submit: the run name, the task keys and each
    task's work (task type fields and cluster).
    """
    if payload.get("job_id") is not None:
        return _run_now_mismatch(run, payload)
    return _submit_mismatch(run, payload)


def reattach_decision(
    run_json: Mapping[str, Any],
    payload: Mapping[str, Any],
    *,
    try_started_ms: int,
    user_token: bool,
    stored: bool = False,
) -> Reattach:
    """The re-attach table of ``docs/reliability.md`` for the run a token returned (or one stored).

    :param run_json: the ``runs/get`` answer for the run the submit returned.
    :param payload: the request this try sent (with its token).
    :param try_started_ms: when this try started, epoch milliseconds.
    :param user_token: the token was set by the user (it cannot move to another slot).
    :param stored: the run id was read from the task state store, where the official operator keeps
        it (``durable``, Airflow 3.3), not returned by a submit. The store belongs to this task
        instance, so a run that does not match what this task sends is an earlier version of the
        task's work: a new run, not a collision. It was started by an earlier try.
    """
    why = mismatch(run_json, payload)
    if why is not None:
        if stored:
            return Reattach(Decision.NEW_RUN, f"the stored run is not this task's work now: {why}")
        return Reattach(Decision.COLLISION, why)
    run = Run.from_api(run_json)
    if not stored and not 0 < run.start_time < try_started_ms:
        return Reattach(Decision.WATCH, "this try started it")
    state = run.state
    lcs = state.life_cycle_state
    if lcs.is_terminal:
        why, stopping = "it started before this task try and has already finished", False
    elif lcs not in _CAN_STILL_SUCCEED or state.user_cancelled_or_timedout:
        why, stopping = f"an earlier try's run that is stopping ({state.describe()})", True
    else:
        return Reattach(Decision.REATTACH, "an earlier try's run that is still going")
    if user_token and not stored:
        return Reattach(Decision.COLLISION, why)
    return Reattach(Decision.NEW_RUN, why, after_end=stopping)


async def _until_ended(client: JobsClient, run_id: int) -> None:
    """Wait (at most :data:`STOPPING_WAIT_SECONDS`) until an earlier try's stopping run has ended."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + STOPPING_WAIT_SECONDS
    while loop.time() < give_up:
        run = Run.from_api(await client.get_run_json(run_id))
        if run.state.life_cycle_state.is_terminal:
            return
        await asyncio.sleep(STOPPING_POLL_SECONDS)
    _log.warning("Databricks run %s is still stopping; starting the next run beside it", run_id)


async def _stored_run(
    client: JobsClient, payload: Mapping[str, Any], run_id: int, try_started_ms: int
) -> SubmitResult | None:
    """The stored run to re-attach to, or ``None`` (after it ended, when it was stopping)."""
    try:
        run_json = await client.get_run_json(run_id)
    except ApiError as exc:  # deleted, or its history expired: the tokens decide
        _log.warning("Databricks run %s from the task state store cannot be read (%s)", run_id, exc)
        return None
    verdict = reattach_decision(
        run_json, payload, try_started_ms=try_started_ms, user_token=False, stored=True
    )
    if verdict.decision is Decision.REATTACH:
        return SubmitResult(run=Run.from_api(run_json), token="", slot=0, reattached=True, stored=True)
    _log.info("Not re-attaching to Databricks run %s from the task state store: %s", run_id, verdict.why)
    if verdict.after_end:
        await _until_ended(client, run_id)
    return None


def _with_token(payload: Mapping[str, Any], token: str) -> dict[str, Any]:
    return {**payload, "idempotency_token": token}


def _collision(token: str, run_id: int, why: str) -> ConfigurationError:
    return ConfigurationError(
        "idempotency_token",
        f"{token!r} already belongs to Databricks run {run_id} ({why}); Databricks returns that run "
        "instead of starting a new one, so give each task instance its own token or leave "
        "idempotency_token unset",
    )


async def submit_idempotent(
    client: JobsClient,
    submit: Submit,
    payload: Mapping[str, Any],
    *,
    identity: TaskIdentity | None,
    try_started_ms: int,
    on_submitted: Callable[[int], None] = lambda run_id: None,
    stored_run_id: int | None = None,
) -> SubmitResult:
    """Submit ``payload`` once per task try and return the run with its first state.

    :param client: the open client.
    :param submit: ``JobsClient.submit_run`` or ``JobsClient.run_now`` (unbound).
    :param payload: the request body; a user-set ``idempotency_token`` in it is used as-is.
    :param identity: the task instance, or ``None`` to submit without a derived token.
    :param try_started_ms: when this task try started, epoch milliseconds.
    :param on_submitted: called with each run id of this task as soon as it is known (for ``on_kill``).
    :param stored_run_id: a run id an earlier try kept in the task state store; re-attached to
        (nothing submitted) while it can still become this task's success.
    """
    if stored_run_id is not None:
        found = await _stored_run(client, payload, stored_run_id, try_started_ms)
        if found is not None:
            on_submitted(found.run.run_id)
            return found
    user_token = payload.get("idempotency_token")
    if not user_token and identity is None:
        run_id = await submit(client, payload)
        on_submitted(run_id)
        return SubmitResult(run=await client.get_run(run_id), token="", slot=0, reattached=False)
    slots = [0] if user_token else range(1, MAX_SLOTS + 1)
    for slot in slots:
        token = str(user_token) if user_token else make_token(identity, slot)  # type: ignore[arg-type]
        body = _with_token(payload, token)
        run_id = await submit(client, body)
        run_json = await client.get_run_json(run_id)
        verdict = reattach_decision(
            run_json, body, try_started_ms=try_started_ms, user_token=bool(user_token)
        )
        if verdict.decision is Decision.COLLISION:
            # Not ours: never report it as this task's run, and never cancel it on kill.
            raise _collision(token, run_id, verdict.why)
        if verdict.decision is Decision.NEW_RUN:
            if verdict.after_end:
                await _until_ended(client, run_id)
            continue
        on_submitted(run_id)
        reattached = verdict.decision is Decision.REATTACH
        return SubmitResult(run=Run.from_api(run_json), token=token, slot=slot, reattached=reattached)
    raise ConfigurationError(
        "idempotency_token",
        f"{MAX_SLOTS} earlier runs already exist for this task instance; "
        "set idempotency_token explicitly to start another",
    )
