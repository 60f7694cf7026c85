"""The SQL statement operator (official drop-in) and what it shares with the sensor.

``execute`` checks its input before any request, then submits the statement with ``wait_timeout``
``0s`` (the answer comes at once, with the first state) or, on a retry, re-attaches to the statement an
earlier try of the task instance submitted while that can still succeed
(:mod:`airflow_dbx_async.operators._statement_ledger`). A statement that already ended completes at
once; otherwise the task defers to :class:`~airflow_dbx_async.triggers.DatabricksSQLStatementTrigger`,
or runs that trigger in the worker with ``deferrable=False``. Every path ends in one place,
:meth:`DatabricksSQLStatementBaseOperator._resolve`, which asks
:func:`~airflow_dbx_async.outcome.decide_statement` and on failure writes the report of
:func:`~airflow_dbx_async.outcome.statement_report_lines` (masked) and raises one line. The statement
is cancelled on kill, at the deadline (``timeout``, or ``execution_timeout`` when sooner) and when the
deferred task is killed.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator

from airflow_dbx_async._compat import TRIGGER_ON_KILL
from airflow_dbx_async.client import (
    ConfigurationError,
    NotFound,
    StatementOutcome,
    check_number,
    judge_statement,
)
from airflow_dbx_async.client.config import DEFAULT_RETRY_DELAY_SECONDS, DEFAULT_RETRY_LIMIT
from airflow_dbx_async.exceptions import DatabricksConfigError, DatabricksStatementFailedError
from airflow_dbx_async.hooks import DEFAULT_CONN_ID, DatabricksAsyncHook, redact, retry_policy
from airflow_dbx_async.links import XCOM_STATEMENT_ID_KEY
from airflow_dbx_async.operators._cancel import cancel_statement_in_thread
from airflow_dbx_async.operators._idempotency import make_token
from airflow_dbx_async.operators._operator_base import DEFERRAL_GRACE_SECONDS
from airflow_dbx_async.operators._payload import check_knobs
from airflow_dbx_async.operators._statement_ledger import (
    StatementLedger,
    statement_fingerprint,
    statement_ledger,
)
from airflow_dbx_async.operators._task_identity import clear_number, idempotency_key, task_identity
from airflow_dbx_async.operators._task_identity import try_started as _try_started
from airflow_dbx_async.operators._worker_wait import first_payload_in_worker
from airflow_dbx_async.outcome import (
    Action,
    StatementEvent,
    StopReason,
    decide_statement,
    is_official_statement_event,
    read_official_statement_event,
    saw,
    statement_report_lines,
    statement_short_message,
)
from airflow_dbx_async.triggers import DatabricksSQLStatementTrigger

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

    from airflow_dbx_async.client import JobsClient, Statement

__all__ = ("DatabricksSQLStatementBaseOperator", "DatabricksSQLStatementsOperator", "airflow_query_tags")

_UI_COLOR = "#1CB1C2"


def airflow_query_tags(
    context: Mapping[str, Any] | None, user_tags: Mapping[str, Any] | None, include_airflow: bool
) -> dict[str, str] | None:
    """The statement's ``query_tags``, as the official operators build them; ``None`` when there are none.

    The task instance's tags first (``airflow_dag_id``, ``airflow_task_id``, ``airflow_run_id``,
    ``airflow_try_number``, ``airflow_map_index``), then the user's, which win; ``None`` values are
    left out.
    """
    tags: dict[str, Any] = {}
    ti = context.get("ti") if include_airflow and context is not None else None
    if ti is not None:
        for name in ("dag_id", "task_id", "run_id", "try_number", "map_index"):
            value = getattr(ti, name, None)
            tags[f"airflow_{name}"] = None if value is None else str(value)
    tags.update(user_tags or {})
    kept = {str(key): value for key, value in tags.items() if value is not None}
    return kept or None


def _text_field(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise DatabricksConfigError(name, f"must be a non-empty string, got {shown}")
    return value


class DatabricksSQLStatementBaseOperator(BaseOperator):
    """What the SQL statement operator and sensor share; use one of them.

    Subclasses set the attributes of :meth:`_settings` in their ``__init__``.
    """

    template_ext: Sequence[str] = (".json-tpl",)
    ui_color = _UI_COLOR
    ui_fgcolor = "#fff"

    statement: str | None
    statement_id: str | None
    warehouse_id: str

    @classmethod
    def get_serialized_fields(cls) -> frozenset[str]:
        """Airflow's serialized fields of an operator, plus ``warehouse_id``.

        Not templated, so Airflow would not keep it; the Databricks tab shows a task's statement only
        when it ran on the warehouse the serialized DAG names, which the REST API cannot rewrite.
        """
        fields: frozenset[str] = super().get_serialized_fields()  # type: ignore[no-untyped-call]
        return fields | {"warehouse_id"}

    def _settings(
        self,
        *,
        warehouse_id: str,
        catalog: str | None,
        schema: str | None,
        parameters: list[dict[str, Any]] | None,
        databricks_conn_id: str,
        polling_period_seconds: float,
        databricks_retry_limit: int,
        databricks_retry_delay: float,
        databricks_retry_args: dict[Any, Any] | None,
        do_xcom_push: bool,
        wait_for_termination: bool,
        timeout: float,
        deferrable: bool,
        query_tags: dict[str, str | None] | None,
        include_airflow_query_tags: bool,
        durable: bool | None,
    ) -> None:
        """Check the settings that are not templated (one line naming the field) and keep them all."""
        try:
            period = check_knobs(polling_period_seconds=polling_period_seconds)
            check_number("timeout", timeout, minimum=0, inclusive=False)
            retry_policy(databricks_retry_limit, databricks_retry_delay)
        except ConfigurationError as exc:
            raise DatabricksConfigError.of(exc) from None
        self.warehouse_id = warehouse_id
        self.catalog = catalog
        self.schema = schema
        self.parameters = parameters
        self.databricks_conn_id = databricks_conn_id
        if period != polling_period_seconds:
            self.log.warning(
                "polling_period_seconds=%s: polling every %s s instead (the shortest period)",
                polling_period_seconds,
                period,
            )
        self.polling_period_seconds = period
        self.databricks_retry_limit = databricks_retry_limit
        self.databricks_retry_delay = databricks_retry_delay
        self.databricks_retry_args = databricks_retry_args
        self.do_xcom_push = do_xcom_push
        self.wait_for_termination = wait_for_termination
        self.timeout = timeout
        self.deferrable = deferrable
        self.query_tags = query_tags or {}
        self.include_airflow_query_tags = include_airflow_query_tags
        self.durable = True if durable is None else bool(durable)
        self._active = False  # a statement of this task may be going, and is watched by this process
        self._killed = False
        self._secrets_registered = False
        self._dbx_hook: DatabricksAsyncHook | None = None

    # -- what the subclasses decide ------------------------------------------------------------------

    def _submits(self) -> bool:
        """Whether this task submits its statement (the sensor may watch one given by id)."""
        return True

    def _cancels(self) -> bool:
        """Whether the statement is this task's to cancel (at the deadline, on kill, on a lost watch)."""
        return self._submits()

    # -- the connection ------------------------------------------------------------------------------

    def _hook(self) -> DatabricksAsyncHook:
        """The task's hook: it reads the connection once per process (a new one if the settings change)."""
        hook = self._dbx_hook
        wanted = (self.databricks_conn_id, self.databricks_retry_limit, self.databricks_retry_delay)
        if hook is None or (hook.databricks_conn_id, hook.retry_limit, hook.retry_delay) != wanted:
            hook = self._dbx_hook = DatabricksAsyncHook(
                self.databricks_conn_id,
                retry_limit=self.databricks_retry_limit,
                retry_delay=self.databricks_retry_delay,
            )
        return hook

    def _register_secrets(self) -> None:
        """Register the connection's secrets with Airflow's masker in this process, once."""
        if not self._secrets_registered:
            self._hook().register_secrets()
            self._secrets_registered = True

    # -- submitting ----------------------------------------------------------------------------------

    def _body(self, context: Context | None) -> dict[str, Any]:
        """The ``execute_statement`` arguments; bad input raises one line naming the field."""
        if not isinstance(self.databricks_conn_id, str) or not self.databricks_conn_id:
            raise DatabricksConfigError("databricks_conn_id", "must name an Airflow connection")
        body: dict[str, Any] = {
            "statement": _text_field("statement", self.statement),
            "warehouse_id": _text_field("warehouse_id", self.warehouse_id),
            "catalog": self.catalog,
            "schema": self.schema,
            "parameters": self.parameters,
            "wait_timeout": "0s",
        }
        tags = airflow_query_tags(context, self.query_tags, self.include_airflow_query_tags)
        if tags is not None:
            body["query_tags"] = tags
        return body

    def _ledger(self, context: Context | None) -> StatementLedger | None:
        """Where this task instance keeps its statement for a retry; ``None`` when it keeps none."""
        ti = context.get("ti") if context is not None else None
        if ti is None or not (self.durable and self.wait_for_termination and self._submits()):
            return None
        identity = task_identity(
            ti, clear=clear_number(context), key=idempotency_key(self.databricks_conn_id)
        )
        return statement_ledger(context, make_token(identity, 1), self.log)  # type: ignore[arg-type]

    async def _begin(
        self, client: JobsClient, body: dict[str, Any], earlier: str | None
    ) -> tuple[Statement, bool]:
        """Re-attach to ``earlier`` while it can still succeed, else submit; the statement and which."""
        if earlier is not None:
            try:
                found = await client.sql.get_statement(earlier)
            except NotFound:
                found = None
            outcome = judge_statement(found.status).outcome if found is not None else None
            if found is not None and outcome in (StatementOutcome.PENDING, StatementOutcome.UNKNOWN):
                return found, True
            shown = found.status.describe() if found is not None else "no longer known to Databricks"
            self.log.info("The statement of an earlier try, %s, ended (%s); submitting anew", earlier, shown)
        return await client.sql.execute_statement(**body), False

    def _submit(self, context: Context | None) -> Statement:
        """Check the input, then submit the statement (or re-attach to an earlier try's); keep its id."""
        body = self._body(context)
        self._register_secrets()
        ledger = self._ledger(context)
        fingerprint = statement_fingerprint(body)
        earlier = ledger.recall(fingerprint) if ledger is not None else None
        try:
            statement, reattached = self._hook().run_sync(partial(self._begin, body=body, earlier=earlier))
        except DatabricksConfigError:
            raise
        except ConfigurationError as exc:  # the connection, or a field the client checks
            raise DatabricksConfigError.of(exc) from None
        self.statement_id = statement.statement_id
        self._active = True
        if ledger is not None and not reattached:
            ledger.remember(statement.statement_id, fingerprint)
        verb = "Re-attached to the earlier try's" if reattached else "Submitted"
        state = statement.status.raw_state or statement.status.state.value
        self.log.info(
            "%s Databricks SQL statement %s on warehouse %s (%s)",
            verb,
            statement.statement_id,
            self.warehouse_id,
            state,
        )
        return statement

    def _push_statement_id(self, context: Context | None) -> None:
        if self.do_xcom_push and context is not None and context.get("ti") is not None:
            context["ti"].xcom_push(key=XCOM_STATEMENT_ID_KEY, value=self.statement_id)

    # -- waiting -------------------------------------------------------------------------------------

    def _deadline(self, context: Context | None) -> float:
        """Epoch seconds: ``timeout`` from now, or the try's ``execution_timeout`` when that comes first."""
        deadline = time.time() + float(self.timeout)
        ti = context.get("ti") if context is not None else None
        if self.execution_timeout is not None and ti is not None:
            deadline = min(deadline, _try_started(ti) + self.execution_timeout.total_seconds())
        return deadline

    def _follow(self, context: Context | None, statement: Statement | None) -> None:
        """Finish now if the statement ended, else wait: defer, or (``deferrable=False``) here."""
        if not self.wait_for_termination:
            self._active = False
            return
        statement_id = str(self.statement_id)
        history: tuple[tuple[str, float], ...] = ()
        if statement is not None:
            status = statement.status
            history = saw((), status.raw_state or status.state.value, time.time())
            if judge_statement(status).is_final:
                event = StatementEvent.final(
                    statement_id, status, warehouse_id=self.warehouse_id, history=history
                )
                self._resolve(context, event)
                return
        trigger = DatabricksSQLStatementTrigger(
            statement_id=statement_id,
            databricks_conn_id=self.databricks_conn_id,
            warehouse_id=self.warehouse_id or "",
            polling_period_seconds=self.polling_period_seconds,
            retry_limit=self.databricks_retry_limit,
            retry_delay=self.databricks_retry_delay,
            deadline=self._deadline(context),
            cancel_on_kill=self._cancels(),
            history=history,
        )
        if self.deferrable:
            self._defer_to(trigger)
        self._resolve(context, self._wait_here(trigger))

    def _defer_to(self, trigger: DatabricksSQLStatementTrigger) -> NoReturn:
        remaining = max((trigger.deadline or time.time()) - time.time(), 0.0)
        if not TRIGGER_ON_KILL and trigger.cancel_on_kill:
            self.log.warning(
                "This Airflow does not tell triggers that a deferred task was killed (Airflow 3.3 does): "
                "marking this task failed or clearing it will not cancel SQL statement %s",
                trigger.statement_id,
            )
        timeout = timedelta(seconds=remaining + DEFERRAL_GRACE_SECONDS)
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)

    def _wait_here(self, trigger: DatabricksSQLStatementTrigger) -> StatementEvent:
        """Run ``trigger`` in this worker; a task killed meanwhile never acts on what it saw."""
        self._active = True
        payload = first_payload_in_worker(trigger)
        self._active = False
        event = StatementEvent.from_payload(payload)
        if self._killed:
            return replace(event, stopped=StopReason.KILLED, reason="the task was killed")
        return event

    # -- the outcome ---------------------------------------------------------------------------------

    def execute_complete(self, context: Context | None, event: Mapping[str, Any] | None = None) -> None:
        """Resume after the trigger fired (ours, or the official provider's): succeed or raise one line."""
        self._register_secrets()
        try:
            if is_official_statement_event(event):
                decoded = read_official_statement_event(event)  # type: ignore[arg-type]
            else:
                decoded = StatementEvent.from_payload(event)
        except ValueError as exc:
            raise DatabricksStatementFailedError(
                f"Malformed event from the Databricks SQL statement trigger: {exc}"
            ) from None
        if not decoded.warehouse_id and isinstance(self.warehouse_id, str):
            decoded = replace(decoded, warehouse_id=self.warehouse_id)
        self._resolve(context, decoded)

    def _resolve(self, context: Context | None, event: StatementEvent) -> None:
        """Succeed, or write the failure report and raise its one line; drop the retry's entry."""
        self._register_secrets()
        self._active = False
        self.statement_id = event.statement_id or self.statement_id
        if event.stopped is not StopReason.GAVE_UP:  # the statement ended, or this task cancelled it
            ledger = self._ledger(context)
            if ledger is not None:
                ledger.forget()
        verdict = decide_statement(event.stopped, event.state)
        if verdict.action is Action.SUCCEED:
            self.log.info("Databricks SQL statement %s succeeded (%s)", event.statement_id, verdict.reason)
            return
        sql = self.statement if isinstance(self.statement, str) else None
        for line in statement_report_lines(event, sql):
            self.log.error("%s", redact(line))
        message = statement_short_message(event)
        if event.stopped is StopReason.DEADLINE:
            message += f" ({self._limit()})"
        raise DatabricksStatementFailedError(redact(message))

    def _limit(self) -> str:
        """Which setting the deadline came from."""
        limit = f"timeout={float(self.timeout):g} s"
        if self.execution_timeout is not None and self.execution_timeout.total_seconds() < float(
            self.timeout
        ):
            limit = f"execution_timeout={self.execution_timeout.total_seconds():g} s"
        return limit

    # -- cancellation --------------------------------------------------------------------------------

    def on_kill(self) -> None:
        """Cancel the statement this process watches, if it is this task's to cancel."""
        self._killed = True
        if not self.statement_id or not self._active:
            self.log.info(
                "Task killed before a Databricks SQL statement was being watched; nothing to cancel"
            )
            return
        if not self._cancels():
            self.log.info(
                "Task killed; leaving SQL statement %s (not submitted by this task)", self.statement_id
            )
            return
        if cancel_statement_in_thread(self._hook(), self.statement_id, self.log):
            self._active = False


class DatabricksSQLStatementsOperator(DatabricksSQLStatementBaseOperator):
    """Run a SQL statement on a SQL warehouse (Statement Execution API) and wait in the triggerer.

    A drop-in for the official operator of the same name: the same parameters, defaults, templated
    fields and XCom key (``statement_id``). A retried try re-attaches to the statement of an earlier try
    while it is still pending or running, instead of running the SQL twice.

    :param statement: the SQL, with ``:name`` markers for ``parameters``.
    :param warehouse_id: the SQL warehouse to run it on.
    :param catalog: the default catalog, as ``USE CATALOG``.
    :param schema: the default schema, as ``USE SCHEMA``.
    :param parameters: ``{"name", "value", "type"}`` entries for the statement's markers.
    :param databricks_conn_id: the Airflow connection id (templated).
    :param polling_period_seconds: the longest pause between two polls of the statement; ``0`` polls
        every :data:`~airflow_dbx_async.operators._payload.MIN_POLLING_PERIOD_SECONDS` seconds.
    :param databricks_retry_limit: attempts per request, the first included (>= 1).
    :param databricks_retry_delay: first backoff delay in seconds.
    :param databricks_retry_args: accepted for compatibility; the client's own backoff is used.
    :param do_xcom_push: push ``statement_id`` to XCom.
    :param wait_for_termination: wait for the statement to end; ``False`` returns right after submitting.
    :param timeout: seconds to wait before the statement is cancelled and the task fails (3600).
    :param deferrable: wait in the triggerer (default); ``False`` waits in the worker with the same code.
    :param query_tags: tags attached to the statement (templated); ``None`` values are left out.
    :param include_airflow_query_tags: add the task instance's ``airflow_*`` tags (the user's win).
    :param durable: ``True`` (default, also for ``None``): a retry re-attaches to the statement of an
        earlier try that is still going. ``False``: every try submits.
    """

    template_fields: Sequence[str] = ("databricks_conn_id", "query_tags")

    def __init__(
        self,
        statement: str,
        warehouse_id: str,
        *,
        catalog: str | None = None,
        schema: str | None = None,
        parameters: list[dict[str, Any]] | None = None,
        databricks_conn_id: str = DEFAULT_CONN_ID,
        polling_period_seconds: int = 30,
        databricks_retry_limit: int = DEFAULT_RETRY_LIMIT,
        databricks_retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS,
        databricks_retry_args: dict[Any, Any] | None = None,
        do_xcom_push: bool = True,
        wait_for_termination: bool = True,
        timeout: float = 3600,
        deferrable: bool = True,
        query_tags: dict[str, str | None] | None = None,
        include_airflow_query_tags: bool = True,
        durable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.statement = statement
        self.statement_id = None
        self._settings(
            warehouse_id=warehouse_id,
            catalog=catalog,
            schema=schema,
            parameters=parameters,
            databricks_conn_id=databricks_conn_id,
            polling_period_seconds=polling_period_seconds,
            databricks_retry_limit=databricks_retry_limit,
            databricks_retry_delay=databricks_retry_delay,
            databricks_retry_args=databricks_retry_args,
            do_xcom_push=do_xcom_push,
            wait_for_termination=wait_for_termination,
            timeout=timeout,
            deferrable=deferrable,
            query_tags=query_tags,
            include_airflow_query_tags=include_airflow_query_tags,
            durable=durable,
        )

    def execute(self, context: Context) -> None:
        """Submit (or re-attach), push ``statement_id``, then finish, return, defer or wait here."""
        statement = self._submit(context)
        self._push_statement_id(context)
        self._follow(context, statement)
