"""A Databricks job run or SQL statement as the Airflow UI's Databricks tab shows it: pure values, no I/O.

:func:`build_run` reads a ``runs/get`` answer (asked with ``include_history=true``) into a frozen
:class:`RunModel`. Every task run is an :class:`Attempt` of its own: Databricks adds a task run for a
retry (``attempt_number``) and for each repair (listed in ``repair_history``), so a task that was
retried and repaired has several rows. The failed tasks' reports (the task log's lines, from
:func:`airflow_dbx_async.outcome.task_lines`) come in as text; :func:`masked` passes every text
that came from Databricks through a masking function before the model is rendered.

:func:`build_statement` reads a SQL statement (``get_statement``, ``None`` once Databricks forgot it)
and its query history entry (where and when it ran) into a :class:`StatementModel`; its failure report
(from :func:`airflow_dbx_async.outcome.statement_report_lines`) comes in as text, and
:func:`masked_statement` masks it as :func:`masked` does a run's.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from airflow_dbx_async.client import (
    LifeCycleState,
    QueryInfo,
    ResultState,
    RunState,
    Statement,
    lenient_int,
    sanitize_text,
)

__all__ = (
    "Attempt",
    "FailedReport",
    "Kind",
    "Repair",
    "RunModel",
    "StatementModel",
    "build_run",
    "build_statement",
    "kind_of",
    "masked",
    "masked_statement",
)

_MAX_CLUSTERS = 8
_MAX_PARAMETERS = 100
_MESSAGE_LIMIT = 500
# The run-level parameter slots of runs/get's ``overriding_parameters``.
_PARAMETER_SLOTS = (
    "notebook_params",
    "python_params",
    "jar_params",
    "spark_submit_params",
    "python_named_params",
    "sql_params",
    "dbt_commands",
)


class Kind(enum.Enum):
    """What a task run came to, as one colour of the timeline."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RUNNING = "running"
    WAITING = "waiting"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


_SKIPPED_RESULTS = frozenset(
    {
        ResultState.EXCLUDED,
        ResultState.UPSTREAM_FAILED,
        ResultState.UPSTREAM_CANCELED,
        ResultState.DISABLED,
    }
)
_WAITING = frozenset(
    {LifeCycleState.QUEUED, LifeCycleState.PENDING, LifeCycleState.BLOCKED, LifeCycleState.WAITING_FOR_RETRY}
)


def kind_of(state: RunState) -> Kind:
    """The timeline's kind of a run or task run state."""
    lcs, result = state.life_cycle_state, state.result_state
    if result in (ResultState.SUCCESS, ResultState.SUCCESS_WITH_FAILURES):
        return Kind.SUCCEEDED
    if result in _SKIPPED_RESULTS or lcs is LifeCycleState.SKIPPED:
        return Kind.SKIPPED
    if result is ResultState.CANCELED:
        return Kind.CANCELLED
    if (result is not None and result is not ResultState.UNKNOWN) or lcs is LifeCycleState.INTERNAL_ERROR:
        return Kind.FAILED
    if lcs in (LifeCycleState.RUNNING, LifeCycleState.TERMINATING):
        return Kind.RUNNING
    if lcs in _WAITING:
        return Kind.WAITING
    return Kind.UNKNOWN


@dataclass(frozen=True)
class Attempt:
    """One task run: one row of the timeline.

    :param retry: Databricks' ``attempt_number`` (0 for the first try).
    :param repair: 0 for the original run, ``n`` for a task run of the ``n``-th repair.
    :param start_ms: when it started (epoch milliseconds), 0 before it starts.
    :param end_ms: when it ended, 0 while it goes on.
    :param latest: whether it is its task's latest attempt.
    """

    task_key: str
    run_id: int
    retry: int
    repair: int
    start_ms: int
    end_ms: int
    kind: Kind
    state: str
    message: str
    depends_on: tuple[str, ...]
    run_page_url: str
    latest: bool

    @property
    def which(self) -> str:
        """Which attempt of its task this is: ``""`` for the first, else ``retry N``, ``repair N``."""
        parts = [f"retry {self.retry}"] if self.retry else []
        parts += [f"repair {self.repair}"] if self.repair else []
        return " · ".join(parts)

    @property
    def label(self) -> str:
        """The row's name: the task key, and which retry or repair this attempt is."""
        return " · ".join(p for p in (self.task_key, self.which) if p)


@dataclass(frozen=True)
class Repair:
    """One repair of the run, as ``repair_history`` lists it (``number`` counts from 1)."""

    number: int
    repair_id: int
    start_ms: int


@dataclass(frozen=True)
class FailedReport:
    """The failure report of one failed task run: the lines the task log shows for it."""

    task_key: str
    run_id: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class RunModel:
    """A job run: its state, its task runs, parameters and clusters, and the failed tasks' reports.

    :param now_ms: when the run was read (a running bar ends there).
    :param failed_total: how many tasks failed in all; ``reports`` holds at most the first few.
    :param focus_key: this Airflow task's ``task_key`` in the run, highlighted (empty: none).
    :param repair_url: the repair page of this task's workflow group (empty: no repair).
    :param names: ``(task_key, name)`` pairs: the Airflow task that runs a task key, when known.
    """

    run_id: int
    run_name: str
    job_id: int
    run_page_url: str
    kind: Kind
    state: str
    start_ms: int
    end_ms: int
    now_ms: int
    attempts: tuple[Attempt, ...]
    repairs: tuple[Repair, ...] = ()
    parameters: tuple[tuple[str, str], ...] = ()
    clusters: tuple[str, ...] = ()
    reports: tuple[FailedReport, ...] = ()
    failed_total: int = 0
    focus_key: str = ""
    repair_url: str = ""
    names: tuple[tuple[str, str], ...] = ()

    @cached_property
    def _names(self) -> dict[str, str]:
        return dict(self.names)

    def name_of(self, task_key: str) -> str:
        """What to call a task: the Airflow task that runs it when known, else its key."""
        return self._names.get(task_key, task_key)

    @property
    def final(self) -> bool:
        """Whether the run has ended (it will not change any more)."""
        return self.kind not in (Kind.RUNNING, Kind.WAITING, Kind.UNKNOWN)

    @property
    def duration_ms(self) -> int:
        """From the start to the end, or to ``now_ms`` while the run goes on; 0 before it starts."""
        if not self.start_ms:
            return 0
        return max(0, (self.end_ms or self.now_ms) - self.start_ms)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _repair_numbers(raw: Mapping[str, Any]) -> tuple[tuple[Repair, ...], dict[int, int]]:
    """The repairs of ``repair_history`` and the repair number of each task run they list."""
    repairs: list[Repair] = []
    numbers: dict[int, int] = {}
    for entry in raw.get("repair_history") or ():
        if not isinstance(entry, Mapping) or entry.get("type") == "ORIGINAL":
            continue
        repair = Repair(len(repairs) + 1, lenient_int(entry.get("id")), lenient_int(entry.get("start_time")))
        repairs.append(repair)
        for run_id in entry.get("task_run_ids") or ():
            numbers[lenient_int(run_id)] = repair.number
    return tuple(repairs), numbers


def _depends_on(task: Mapping[str, Any]) -> tuple[str, ...]:
    found = (d.get("task_key") for d in task.get("depends_on") or () if isinstance(d, Mapping))
    return tuple(key for key in found if isinstance(key, str) and key)


def _attempt(task: Mapping[str, Any], repair: int) -> Attempt:
    state = RunState.from_api(task.get("state"))
    return Attempt(
        task_key=_text(task.get("task_key")),
        run_id=lenient_int(task.get("run_id")),
        retry=lenient_int(task.get("attempt_number")),
        repair=repair,
        start_ms=lenient_int(task.get("start_time")),
        end_ms=lenient_int(task.get("end_time")),
        kind=kind_of(state),
        state=RunState(state.life_cycle_state, state.result_state).describe(),
        message=sanitize_text(state.state_message)[:_MESSAGE_LIMIT],
        depends_on=_depends_on(task),
        run_page_url=_text(task.get("run_page_url")),
        latest=False,
    )


def _attempts(raw: Mapping[str, Any], numbers: Mapping[int, int]) -> tuple[Attempt, ...]:
    """Every task run, grouped by task (first-seen order), each task's attempts in order."""
    tasks = [t for t in raw.get("tasks") or () if isinstance(t, Mapping)]
    if not tasks:  # a legacy single-task run: the run is its only task run
        name = _text(raw.get("run_name")) or str(lenient_int(raw.get("run_id")))
        tasks = [{**raw, "task_key": name}]
    by_key: dict[str, list[Attempt]] = {}
    for task in tasks:
        attempt = _attempt(task, numbers.get(lenient_int(task.get("run_id")), 0))
        by_key.setdefault(attempt.task_key, []).append(attempt)
    ordered: list[Attempt] = []
    for attempts in by_key.values():
        attempts.sort(key=lambda a: (a.repair, a.retry, a.start_ms or a.run_id))
        ordered += [*attempts[:-1], replace(attempts[-1], latest=True)]
    return tuple(ordered)


def _value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _parameters(raw: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    """The run's parameters: job parameters, then the run-now slots; else its one task's own."""
    found: list[tuple[str, str]] = []
    for param in raw.get("job_parameters") or ():
        if isinstance(param, Mapping) and param.get("name"):
            found.append((str(param["name"]), _value(param.get("value", param.get("default", "")))))
    overriding = raw.get("overriding_parameters")
    overriding = overriding if isinstance(overriding, Mapping) else {}
    for slot in _PARAMETER_SLOTS:
        value = overriding.get(slot)
        if isinstance(value, Mapping):
            found += [(str(k), _value(v)) for k, v in value.items()]
        elif value:
            found.append((slot, _value(value)))
    if not found and len(tasks) == 1:
        task = tasks[0]
        for kind, slot in (("notebook_task", "base_parameters"), ("python_wheel_task", "named_parameters")):
            params = (task.get(kind) or {}).get(slot)
            if isinstance(params, Mapping):
                found += [(str(k), _value(v)) for k, v in params.items()]
        for kind in ("spark_python_task", "python_wheel_task", "spark_jar_task", "spark_submit_task"):
            params = (task.get(kind) or {}).get("parameters")
            if params:
                found.append((f"{kind}.parameters", _value(params)))
    return tuple(found[:_MAX_PARAMETERS])


def _cluster_spec(spec: object) -> str:
    if not isinstance(spec, Mapping):
        return ""
    parts = [_text(spec.get("spark_version")), _text(spec.get("node_type_id"))]
    scale = spec.get("autoscale")
    if isinstance(scale, Mapping):
        low, high = lenient_int(scale.get("min_workers")), lenient_int(scale.get("max_workers"))
        parts.append(f"{low}-{high} workers")
    elif "num_workers" in spec:
        workers = lenient_int(spec.get("num_workers"))
        parts.append(f"{workers} worker{'s' if workers != 1 else ''}")
    return ", ".join(p for p in parts if p)


def _task_cluster(task: Mapping[str, Any], job_clusters: Mapping[str, str]) -> str:
    if task.get("existing_cluster_id"):
        text = f"existing cluster {_text(task.get('existing_cluster_id'))}"
    elif task.get("new_cluster"):
        text = f"new cluster ({_cluster_spec(task.get('new_cluster'))})"
    elif task.get("job_cluster_key"):
        key = _text(task.get("job_cluster_key"))
        spec = job_clusters.get(key)
        text = f"job cluster {key} ({spec})" if spec else f"job cluster {key}"
    elif task.get("environment_key"):
        text = f"serverless (environment {_text(task.get('environment_key'))})"
    elif task.get("sql_task") or task.get("dbt_task") or task.get("condition_task"):
        return ""
    else:
        text = "serverless"
    instance = task.get("cluster_instance")
    cluster_id = _text(instance.get("cluster_id")) if isinstance(instance, Mapping) else ""
    return f"{text}, cluster {cluster_id}" if cluster_id else text


def _clusters(raw: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Each distinct compute the run's tasks used, described in a few words."""
    job_clusters = {
        _text(c.get("job_cluster_key")): _cluster_spec(c.get("new_cluster"))
        for c in raw.get("job_clusters") or ()
        if isinstance(c, Mapping)
    }
    seen = dict.fromkeys(_task_cluster(t, job_clusters) for t in (tasks or [raw]))
    found = [text for text in seen if text]
    if len(found) > _MAX_CLUSTERS:
        found = [*found[:_MAX_CLUSTERS], f"and {len(found) - _MAX_CLUSTERS} more"]
    return tuple(found)


def build_run(
    raw: Mapping[str, Any],
    *,
    now_ms: int,
    reports: Sequence[FailedReport] = (),
    failed_total: int = 0,
) -> RunModel:
    """The model of a ``runs/get`` answer (``include_history=true`` for the repairs); never raises.

    :param now_ms: when the answer was read.
    :param reports: the failed tasks' reports, in the order to show them.
    :param failed_total: how many tasks failed in all (``reports`` may hold only the first few).
    """
    state = RunState.from_api(raw.get("state"))
    repairs, numbers = _repair_numbers(raw)
    tasks = [t for t in raw.get("tasks") or () if isinstance(t, Mapping)]
    message = sanitize_text(state.state_message)[:_MESSAGE_LIMIT]
    return RunModel(
        run_id=lenient_int(raw.get("run_id")),
        run_name=_text(raw.get("run_name")),
        job_id=lenient_int(raw.get("job_id")),
        run_page_url=_text(raw.get("run_page_url")),
        kind=kind_of(state),
        state=replace(state, state_message=message).describe(),
        start_ms=lenient_int(raw.get("start_time")),
        end_ms=lenient_int(raw.get("end_time")),
        now_ms=now_ms,
        attempts=_attempts(raw, numbers),
        repairs=repairs,
        parameters=_parameters(raw, tasks),
        clusters=_clusters(raw, tasks),
        reports=tuple(reports),
        failed_total=max(failed_total, len(reports)),
    )


def masked(model: RunModel, mask: Callable[[Any], Any]) -> RunModel:
    """``model`` with every text from Databricks passed through ``mask`` (Airflow's ``redact``).

    Parameters are masked as ``{name: value}``, so a value under a sensitive name (``password``,
    ``token``, ...) is hidden whatever it holds.
    """

    def text(value: str) -> str:
        return str(mask(value))

    def parameter(name: str, value: str) -> tuple[str, str]:
        shown = mask({name: value})
        return name, str(shown.get(name, "***") if isinstance(shown, Mapping) else "***")

    return replace(
        model,
        run_name=text(model.run_name),
        state=text(model.state),
        attempts=tuple(replace(a, message=text(a.message)) for a in model.attempts),
        parameters=tuple(parameter(name, value) for name, value in model.parameters),
        clusters=tuple(text(c) for c in model.clusters),
        reports=tuple(replace(r, lines=tuple(text(line) for line in r.lines)) for r in model.reports),
    )


# What a statement's state (Statement Execution API) or status (query history) came to.
_STATEMENT_KINDS = {
    "PENDING": Kind.WAITING,
    "QUEUED": Kind.WAITING,
    "RUNNING": Kind.RUNNING,
    "STARTED": Kind.RUNNING,
    "COMPILING": Kind.RUNNING,
    "COMPILED": Kind.RUNNING,
    "SUCCEEDED": Kind.SUCCEEDED,
    "CLOSED": Kind.SUCCEEDED,
    "FINISHED": Kind.SUCCEEDED,
    "FAILED": Kind.FAILED,
    "CANCELED": Kind.CANCELLED,
}


@dataclass(frozen=True)
class StatementModel:
    """A SQL statement: its state and error, where and when it ran, and its failure report.

    :param state: its state as Databricks sends it (``FAILED`` ...); the query history's status once
        Databricks forgot the statement.
    :param message: the error message (its first lines).
    :param started_ms: when it was received, as the query history says (0: it does not say).
    :param ended_ms: when it ended, as the query history says (0: not yet, or it does not say).
    :param now_ms: when it was read (a running statement's duration ends there).
    :param forgotten: Databricks no longer keeps the statement (12 hours after it ended); what is shown
        comes from the query history.
    :param report: the failure report, as the task log writes it (the SQL in it, the failing line marked).
    :param sql: the SQL's lines when there is no report (the failing line marked when the message says).
    """

    statement_id: str
    warehouse_id: str
    kind: Kind
    state: str
    error_code: str
    sql_state: str
    message: str
    started_ms: int
    ended_ms: int
    now_ms: int
    forgotten: bool = False
    report: tuple[str, ...] = ()
    sql: tuple[str, ...] = ()

    @property
    def final(self) -> bool:
        """Whether the statement has ended (it will not change any more)."""
        return self.kind not in (Kind.RUNNING, Kind.WAITING, Kind.UNKNOWN)

    @property
    def duration_ms(self) -> int:
        """From its start to its end, or to ``now_ms`` while it goes on; 0 when the start is unknown."""
        if not self.started_ms:
            return 0
        return max(0, (self.ended_ms or self.now_ms) - self.started_ms)


def build_statement(
    statement: Statement | None,
    query: QueryInfo,
    *,
    now_ms: int,
    report: Sequence[str] = (),
    sql: Sequence[str] = (),
) -> StatementModel:
    """The model of a statement and its query history entry; never raises.

    :param statement: what ``get_statement`` answered; ``None`` when Databricks no longer keeps it.
    :param query: its query history entry (which has shown it ran on the task's warehouse).
    :param now_ms: when they were read.
    :param report: the failure report's lines, when it failed.
    :param sql: the SQL's lines, when there is no report.
    """
    if statement is not None:
        status = statement.status
        state, code, message = status.raw_state or status.state.value, status.error_code, status.error_message
        sql_state = status.sql_state or ""
    else:
        state, code, message, sql_state = query.status, "", query.error_message, ""
    return StatementModel(
        statement_id=query.query_id,
        warehouse_id=query.warehouse_id,
        kind=_STATEMENT_KINDS.get(state.upper(), Kind.UNKNOWN),
        state=sanitize_text(state) or "UNKNOWN",
        error_code=sanitize_text(code),
        sql_state=sanitize_text(sql_state),
        message=sanitize_text(message)[:_MESSAGE_LIMIT],
        started_ms=query.query_start_time_ms,
        ended_ms=query.query_end_time_ms,
        now_ms=now_ms,
        forgotten=statement is None,
        report=tuple(report),
        sql=tuple(sql),
    )


def masked_statement(model: StatementModel, mask: Callable[[Any], Any]) -> StatementModel:
    """``model`` with every text from Databricks passed through ``mask`` (Airflow's ``redact``)."""

    def text(value: str) -> str:
        return str(mask(value))

    return replace(
        model,
        state=text(model.state),
        error_code=text(model.error_code),
        sql_state=text(model.sql_state),
        message=text(model.message),
        report=tuple(text(line) for line in model.report),
        sql=tuple(text(line) for line in model.sql),
    )
