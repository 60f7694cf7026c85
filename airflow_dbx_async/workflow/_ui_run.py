"""The Databricks tab of a task instance: find the task's Databricks run, read it (cached), render it.

Runs inside Airflow's API server (see :mod:`airflow_dbx_async.workflow.plugin`, which authorizes the
caller first). Nothing that selects what is read comes from the request but the task instance itself:
its run and connection are derived server-side, as the repair derives them
(:mod:`airflow_dbx_async.workflow._ui_repair`), and checked against Databricks before anything is shown.
Each :data:`LOCATORS` entry recognises one kind of task:

- a SQL statement operator or sensor: the statement id from its ``statement_id`` XCom, the connection
  from its rendered ``databricks_conn_id``; the query history must show the statement ran on the
  warehouse the serialized DAG names (``warehouse_id``, serialized by the operator for this check);
  the Statement Execution API does not say which warehouse ran a statement;
- a task of a workflow group (or its launch task): the group's job run, found and checked as the
  repair does it (connection and job name from the DAG and the launch task's rendered fields, the run
  id from its XCom; ``runs/get`` and ``jobs/get`` must show a run of the group's job);
- a task that ran a run of its own (submit-run, run-now, notebook or task operator alone): the run id
  from its ``run_id`` XCom, the connection from its rendered ``databricks_conn_id``; the run must be of
  the job the task names (``job_id``, or ``job_name`` as ``jobs/get`` names it), or, for a one-time
  run, carry the name the task gives its runs.

Only a ``databricks`` connection is used. What Databricks answers is cached per run or statement for
:data:`CACHE_SECONDS` (one read however many viewers), then masked with Airflow's masker, which knows
the connection's secrets once it was read.

Another kind of Databricks work is an extension here, as the SQL statement is: a locator added to
:data:`LOCATORS` that recognises its tasks and returns a :class:`TabTarget` of its own, whose
``page()`` reads (through a :class:`RunCache` of its own) and renders what the tab shows. The
plugin's route, its authorization and its error pages stay as they are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from airflow_dbx_async.client import (
    ConfigurationError,
    JobsClient,
    NotFound,
    QueryInfo,
    Run,
    Statement,
    judge_statement,
    lenient_int,
)
from airflow_dbx_async.hooks import redact
from airflow_dbx_async.links import (
    XCOM_RUN_ID_KEY,
    XCOM_STATEMENT_ID_KEY,
    repair_page_url,
    repair_plugin_enabled,
)
from airflow_dbx_async.operators import default_task_key
from airflow_dbx_async.outcome import (
    StatementEvent,
    fetch_details,
    marked_sql_lines,
    reported_tasks,
    sql_position,
    statement_report_lines,
    task_lines,
    task_types,
)
from airflow_dbx_async.workflow._run_model import (
    FailedReport,
    Kind,
    RunModel,
    StatementModel,
    build_run,
    build_statement,
    kind_of,
    masked,
    masked_statement,
)
from airflow_dbx_async.workflow._run_view import render, render_statement
from airflow_dbx_async.workflow._ui_repair import (
    GENERIC_FAILURE,
    RepairError,
    check_run_of_group,
    connection_config,
    dag_of_run,
    find_group_run,
    rendered_fields,
    xcom_value,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = (
    "CACHE_SECONDS",
    "LOCATORS",
    "RUN_CACHE",
    "STATEMENT_CACHE",
    "VIEW_FAILURE",
    "JobRunTarget",
    "RunCache",
    "StatementTarget",
    "TabTarget",
    "TaskRef",
    "group_run",
    "locate",
    "own_run",
    "show",
    "statement_of_task",
)

CACHE_SECONDS = 15.0
"""How long one answer of Databricks about a run is shown to every viewer before it is read again."""
VIEW_FAILURE = "Could not show what this task ran on Databricks; see the API server log"
"""What the browser gets when the run or statement cannot be read or is refused (the reason is logged)."""
_CACHE_ENTRIES = 256
_OWN_RUN_LINK_KEY = "_link_DatabricksJobRunLink"  # the XCom of a run-of-its-own's extra link
# The SQL statement operator and sensor, by task type: this package's and the official provider's.
_STATEMENT_TASK_TYPES = frozenset({"DatabricksSQLStatementsOperator", "DatabricksSQLStatementsSensor"})

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

Check = Callable[[JobsClient, Run], Awaitable[None]]


@dataclass(frozen=True)
class TaskRef:
    """The task instance whose tab is shown (the request's path and ``map_index``)."""

    dag_id: str
    dag_run_id: str
    task_id: str
    map_index: int = -1

    def __str__(self) -> str:
        index = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}/{self.dag_run_id}/{self.task_id}{index}"


class TabTarget(Protocol):
    """What a locator found for a task instance: something on Databricks that the tab can show."""

    @property
    def where(self) -> str:
        """The task instance, for the API server's log."""

    async def page(self, *, nonce: str, theme: str) -> str:
        """The tab's page (``RepairError`` when it cannot be shown)."""


@dataclass(frozen=True)
class JobRunTarget:
    """A job run a tab may show once ``check`` passes.

    :param key: what the cached answer depends on: the connection, the run and what the check expects.
    :param check: raises ``RepairError`` unless Databricks shows the run is the task's.
    :param focus_key: the task's ``task_key`` in the run, highlighted (empty: the whole run is the task's).
    :param repair_url: the repair page of the task's workflow group (empty: none).
    :param names: ``(task_key, task_id)`` pairs: which Airflow task runs each task of the run.
    """

    conn_id: str
    run_id: int
    key: Hashable
    check: Check
    where: str
    focus_key: str = ""
    repair_url: str = ""
    names: tuple[tuple[str, str], ...] = ()

    async def page(self, *, nonce: str, theme: str) -> str:
        """The run's page (read through :data:`RUN_CACHE`)."""
        return await show(self, nonce=nonce, theme=theme)


Locator = Callable[["Session", TaskRef, Any], "TabTarget | None"]
"""Recognises one kind of task in the serialized DAG (``None``: not this kind) and finds its run."""


def _refuse(ref: TaskRef, run_id: int, why: str, status: int = 403) -> RepairError:
    _log.warning("Refused to show Databricks run %s for %s: %s", run_id, ref, why)
    return RepairError(status, GENERIC_FAILURE)


def group_run(session: Session, ref: TaskRef, dag: Any) -> JobRunTarget | None:
    """A task of a workflow group (or its launch task): the group's job run, checked as a repair's."""
    try:
        group = find_group_run(session, dag, ref.dag_run_id, ref.task_id)
    except RepairError as exc:
        if exc.status == 404:  # not in a group
            return None
        raise

    async def check(client: JobsClient, run: Run) -> None:
        await check_run_of_group(client, group, run)

    repair = repair_page_url(ref.dag_id, ref.dag_run_id, ref.task_id) if repair_plugin_enabled() else ""
    metadata = group.metadata
    return JobRunTarget(
        conn_id=group.conn_id,
        run_id=metadata.run_id,
        key=("group", group.conn_id, metadata.run_id, metadata.job_id, group.job_name),
        check=check,
        where=str(ref),
        focus_key=group.task_keys.get(ref.task_id, ""),
        repair_url=repair,
        names=tuple((key, task_id) for task_id, key in group.task_keys.items()),
    )


def _runs_its_own(task: Any) -> bool:
    """Whether the serialized task links to a run of its own (the operators' "See Databricks Job Run")."""
    links = getattr(task, "operator_extra_link_dict", None) or {}
    return any(getattr(link, "xcom_key", None) == _OWN_RUN_LINK_KEY for link in links.values())


def _payload(rendered: dict[str, Any]) -> dict[str, Any]:
    """The rendered ``json`` (a mapping, or JSON text), else nothing."""
    value = rendered.get("json")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _expected(ref: TaskRef, rendered: dict[str, Any]) -> tuple[int, str, frozenset[str]]:
    """What the task's run must be: of job ``job_id``, of the job named ``job_name``, or named so."""
    body = _payload(rendered)

    def field(name: str) -> Any:
        value = rendered.get(name)
        return value if value not in (None, "") else body.get(name)

    job_id = lenient_int(field("job_id"))
    job_name = field("job_name")
    names = {field("run_name"), ref.task_id, default_task_key(ref.dag_id, ref.task_id)}
    return job_id, job_name if isinstance(job_name, str) else "", frozenset(n for n in names if n)


def _setting(task: Any, rendered: dict[str, Any], name: str) -> str:
    """A field of the task: rendered for this run, else as the serialized DAG holds it; ``""`` if none."""
    value = rendered.get(name, getattr(task, name, None))
    return value if isinstance(value, str) and "{{" not in value else ""


def own_run(session: Session, ref: TaskRef, dag: Any) -> JobRunTarget | None:
    """A task that ran a run of its own: its ``run_id`` XCom, checked against what the task runs."""
    task = dag.task_dict[ref.task_id]
    if not _runs_its_own(task):
        return None
    args = (session, ref.dag_id, ref.dag_run_id, ref.task_id)
    run_id = lenient_int(xcom_value(*args, XCOM_RUN_ID_KEY, ref.map_index))
    if run_id <= 0:
        raise RepairError(409, "This task has not started a Databricks run (yet)")
    rendered = rendered_fields(*args, ref.map_index)
    conn_id = _setting(task, rendered, "databricks_conn_id")
    if not conn_id:
        raise RepairError(409, "This task has not rendered its databricks_conn_id")
    job_id, job_name, names = _expected(ref, rendered)

    async def check(client: JobsClient, run: Run) -> None:
        if run.run_id != run_id:
            raise _refuse(ref, run_id, f"Databricks answered with run {run.run_id}")
        if job_id or job_name:
            if job_id and run.job_id != job_id:
                raise _refuse(ref, run_id, f"it belongs to job {run.job_id}, not to job {job_id}")
            if job_name:
                name = ((await client.get_job(run.job_id)).get("settings") or {}).get("name")
                if name != job_name:
                    raise _refuse(ref, run_id, f"its job is named {name!r}, not {job_name!r}")
        elif run.run_name not in names:
            raise _refuse(ref, run_id, f"it is named {run.run_name!r}, not as the task names its runs")

    return JobRunTarget(
        conn_id=conn_id,
        run_id=run_id,
        key=("own", conn_id, run_id, job_id, job_name, names),
        check=check,
        where=str(ref),
    )


@dataclass(frozen=True)
class StatementTarget:
    """A SQL statement a tab may show once the query history shows it ran on ``warehouse_id``.

    :param statement_id: the task's ``statement_id`` XCom.
    :param warehouse_id: the warehouse the task names (serialized DAG or rendered field).
    """

    conn_id: str
    statement_id: str
    warehouse_id: str
    where: str

    async def page(self, *, nonce: str, theme: str) -> str:
        """The statement's page (read through :data:`STATEMENT_CACHE`)."""
        key = ("statement", self.conn_id, self.statement_id, self.warehouse_id)
        model = await STATEMENT_CACHE.get(key, lambda: _read_statement(self))
        return render_statement(model, nonce=nonce, theme=theme, refresh_seconds=int(CACHE_SECONDS))


def statement_of_task(session: Session, ref: TaskRef, dag: Any) -> StatementTarget | None:
    """A SQL statement operator or sensor: its ``statement_id`` XCom, on the warehouse the task names."""
    task = dag.task_dict[ref.task_id]
    if getattr(task, "task_type", None) not in _STATEMENT_TASK_TYPES:
        return None
    args = (session, ref.dag_id, ref.dag_run_id, ref.task_id)
    statement_id = xcom_value(*args, XCOM_STATEMENT_ID_KEY, ref.map_index)
    if not isinstance(statement_id, str) or not statement_id:
        raise RepairError(409, "This task has not started a SQL statement (yet)")
    rendered = rendered_fields(*args, ref.map_index)
    conn_id = _setting(task, rendered, "databricks_conn_id")
    if not conn_id:
        raise RepairError(409, "This task has not rendered its databricks_conn_id")
    warehouse_id = _setting(task, rendered, "warehouse_id")
    if not warehouse_id:
        raise RepairError(409, "The DAG of this run does not record the task's SQL warehouse")
    return StatementTarget(conn_id, statement_id, warehouse_id, str(ref))


LOCATORS: tuple[Locator, ...] = (statement_of_task, group_run, own_run)
"""Tried in order; the first that recognises the task wins."""


def locate(session: Session, ref: TaskRef) -> TabTarget:
    """The run the tab of ``ref`` shows; ``RepairError`` 404 when the task runs nothing on Databricks."""
    dag = dag_of_run(session, ref.dag_id, ref.dag_run_id, ref.task_id)
    for locator in LOCATORS:
        target = locator(session, ref, dag)
        if target is not None:
            return target
    raise RepairError(404, "This task runs nothing on Databricks that this tab can show")


class RunCache(Generic[_T]):
    """Each run's answer for ``seconds``: concurrent viewers share one read; failures are kept as long."""

    def __init__(self, seconds: float, entries: int = _CACHE_ENTRIES) -> None:
        self.seconds = seconds
        self.entries = entries
        self.clock: Callable[[], float] = time.monotonic
        self._done: dict[Hashable, tuple[float, _T | BaseException]] = {}
        self._pending: dict[Hashable, asyncio.Future[_T]] = {}

    def clear(self) -> None:
        """Forget every answer (the next view reads Databricks again)."""
        self._done.clear()

    def _keep(self, key: Hashable, value: _T | BaseException) -> None:
        now = self.clock()
        self._done = {k: v for k, v in self._done.items() if v[0] > now}
        while len(self._done) >= self.entries:
            self._done.pop(next(iter(self._done)))
        self._done[key] = (now + self.seconds, value)

    async def get(self, key: Hashable, load: Callable[[], Awaitable[_T]]) -> _T:
        """The cached answer of ``key``, else ``load()``'s (once, however many callers wait)."""
        hit = self._done.get(key)
        if hit is not None and hit[0] > self.clock():
            if isinstance(hit[1], BaseException):
                raise hit[1]
            return hit[1]
        loop = asyncio.get_running_loop()
        pending = self._pending.get(key)
        if pending is not None and pending.get_loop() is loop:
            return await asyncio.shield(pending)
        future: asyncio.Future[_T] = loop.create_future()
        self._pending[key] = future
        try:
            model = await load()
        except Exception as exc:
            self._keep(key, exc)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it; none may be waiting
            raise
        except BaseException:  # the reading request went away: its waiters are not left hanging
            future.cancel()
            raise
        finally:
            if self._pending.get(key) is future:
                del self._pending[key]
        self._keep(key, model)
        future.set_result(model)
        return model


RUN_CACHE: RunCache[RunModel] = RunCache(CACHE_SECONDS)
"""The API server's one cache of run models."""
STATEMENT_CACHE: RunCache[StatementModel] = RunCache(CACHE_SECONDS)
"""The API server's one cache of SQL statement models."""


async def _reports(client: JobsClient, raw: dict[str, Any], run: Run) -> tuple[list[FailedReport], int]:
    """The failed tasks' reports, as the task log writes them (at most the first few), and how many failed."""
    if not run.tasks and kind_of(run.state) is not Kind.FAILED:
        return [], 0  # a single-task run reports itself, once it failed
    failed, total = reported_tasks(run, task_types(raw))
    details = await fetch_details(client, failed)
    return [FailedReport(d.task.task_key, d.task.run_id, tuple(task_lines(d))) for d in details], total


async def _read(target: JobRunTarget) -> RunModel:
    """Read the run through the client, check it is the task's, and build its masked model."""

    def refuse(why: str) -> RepairError:
        _log.warning("Refused to show Databricks run %s for %s: %s", target.run_id, target.where, why)
        return RepairError(502, GENERIC_FAILURE)

    config = await connection_config(target.conn_id, refuse)  # registers its secrets with the masker
    async with JobsClient(config) as client:
        raw = await client.get_run_json(target.run_id, include_history=True)
        run = Run.from_api(raw)
        await target.check(client, run)
        reports, total = await _reports(client, raw, run)
    now_ms = int(time.time() * 1000)
    return masked(build_run(raw, now_ms=now_ms, reports=reports, failed_total=total), redact)


async def show(target: JobRunTarget, *, nonce: str = "", theme: str = "auto") -> str:
    """The tab's page for ``target`` (read through :data:`RUN_CACHE`)."""
    model = await RUN_CACHE.get(target.key, lambda: _read(target))
    model = replace(model, focus_key=target.focus_key, repair_url=target.repair_url, names=target.names)
    return render(model, nonce=nonce, theme=theme, refresh_seconds=int(CACHE_SECONDS))


def _statement_lines(
    statement: Statement | None, query: QueryInfo, warehouse_id: str
) -> tuple[list[str], list[str]]:
    """The failure report as the task log writes it, once the statement failed; else its SQL's lines."""
    sql = query.query_text if query.query_text.strip() else None
    if statement is not None and judge_statement(statement.status).is_final:
        event = StatementEvent.final(statement.statement_id, statement.status, warehouse_id=warehouse_id)
        if event.status == "failed":
            return statement_report_lines(event, sql), []
    if sql is None:
        return [], []
    message = statement.status.error_message if statement is not None else query.error_message
    return [], marked_sql_lines(sql, sql_position(message))


async def _read_statement(target: StatementTarget) -> StatementModel:
    """Check in the query history that the statement ran on the task's warehouse, then read it."""

    def refuse(why: str, status: int = 502) -> RepairError:
        _log.warning(
            "Refused to show Databricks SQL statement %r for %s: %s", target.statement_id, target.where, why
        )
        return RepairError(status, GENERIC_FAILURE)

    config = await connection_config(target.conn_id, refuse)  # registers its secrets with the masker
    async with JobsClient(config) as client:
        try:
            query = await client.sql.get_query(target.statement_id)
        except ConfigurationError:
            raise refuse("its statement_id XCom is not a statement id", 403) from None
        if query is None:
            raise RepairError(409, "Databricks' query history does not list this task's SQL statement (yet)")
        if query.warehouse_id != target.warehouse_id:
            raise refuse(f"it ran on warehouse {query.warehouse_id!r}, not on {target.warehouse_id!r}", 403)
        try:
            statement: Statement | None = await client.sql.get_statement(target.statement_id)
        except NotFound:  # Databricks forgets a statement 12 hours after it ended; its history stays
            statement = None
    report, sql = _statement_lines(statement, query, target.warehouse_id)
    now_ms = int(time.time() * 1000)
    return masked_statement(build_statement(statement, query, now_ms=now_ms, report=report, sql=sql), redact)
