"""The SQL statement sensor: the official sensor's parameters, over the SQL statement operator's code.

Given ``statement``, it submits (or re-attaches, on a retry) and waits like
:class:`~airflow_dbx_async.operators.DatabricksSQLStatementsOperator`; given ``statement_id``, it
watches that statement, which is not its own: it never cancels it. ``deferrable=False`` waits in the
worker with the same trigger code (the official sensor then returns right after submitting).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_dbx_async.client import StatementOutcome, judge_statement
from airflow_dbx_async.client.config import DEFAULT_RETRY_DELAY_SECONDS, DEFAULT_RETRY_LIMIT
from airflow_dbx_async.exceptions import DatabricksConfigError, DatabricksStatementFailedError
from airflow_dbx_async.hooks import DEFAULT_CONN_ID, redact
from airflow_dbx_async.operators import DatabricksSQLStatementBaseOperator
from airflow_dbx_async.outcome import StatementEvent, statement_short_message

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

    from airflow_dbx_async.client import JobsClient, Statement

__all__ = ("DatabricksSQLStatementsSensor",)


class DatabricksSQLStatementsSensor(DatabricksSQLStatementBaseOperator, BaseSensorOperator):
    """Wait for a SQL statement: one it submits (``statement``) or one given by id (``statement_id``).

    A drop-in for the official sensor of the same name: the same parameters, defaults, templated
    fields and XCom key (``statement_id``). Waiting happens in the triggerer; ``deferrable=False``
    waits in the worker with the same code. A statement it submitted is cancelled on kill and at the
    deadline; one given by id is left alone.

    :param warehouse_id: the SQL warehouse (required, also with ``statement_id``).
    :param statement: the SQL to submit (templated); give this or ``statement_id``.
    :param statement_id: a statement to watch (templated); give this or ``statement``.
    :param catalog: the default catalog of a submitted statement.
    :param schema: the default schema of a submitted statement.
    :param parameters: ``{"name", "value", "type"}`` entries for the statement's markers.
    :param databricks_conn_id: the Airflow connection id (templated).
    :param polling_period_seconds: the longest pause between two polls of the statement (``0``: the
        shortest period, as for the operator).
    :param databricks_retry_limit: attempts per request, the first included (>= 1).
    :param databricks_retry_delay: first backoff delay in seconds.
    :param databricks_retry_args: accepted for compatibility; the client's own backoff is used.
    :param do_xcom_push: push ``statement_id`` to XCom.
    :param wait_for_termination: wait for the statement to end; ``False`` returns at once.
    :param timeout: seconds to wait before giving up (a statement of its own is then cancelled).
    :param deferrable: wait in the triggerer (default); ``False`` waits in the worker.
    :param query_tags: tags attached to a submitted statement (templated).
    :param include_airflow_query_tags: add the task instance's ``airflow_*`` tags (the user's win).
    :param durable: ``True`` (default): a retry re-attaches to the statement an earlier try submitted
        while it is still going. ``False``: every try submits.
    """

    template_fields: Sequence[str] = ("databricks_conn_id", "statement", "statement_id", "query_tags")

    def __init__(
        self,
        warehouse_id: str,
        *,
        statement: str | None = None,
        statement_id: str | None = None,
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
        # Before rendering: a template that renders to None must not hide that both were given.
        if statement is not None and statement_id is not None:
            raise DatabricksConfigError("statement_id", "provide exactly one of statement or statement_id")
        if not warehouse_id:
            raise DatabricksConfigError("warehouse_id", "must be provided")
        super().__init__(**kwargs)
        self.statement = statement
        self.statement_id = statement_id
        self._given: bool | None = None  # whether this try watches a statement it did not submit
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

    def _submits(self) -> bool:
        """Whether it submits: no ``statement_id`` was given (read before it holds the submitted one)."""
        if self._given is None:
            self._given = bool(self.statement_id)
        return not self._given

    def execute(self, context: Context) -> None:
        """Submit (or re-attach) or look at the given statement, push ``statement_id``, then wait."""
        if not self.statement and not self.statement_id:
            raise DatabricksConfigError("statement", "give one of statement or statement_id (both are empty)")
        statement: Statement | None
        if self._submits():
            statement = self._submit(context)
        else:
            statement = self._look()
        self._push_statement_id(context)
        if not self.wait_for_termination:
            self._active = False
            self.log.info("Not waiting for SQL statement %s (wait_for_termination=False)", self.statement_id)
            return
        self._follow(context, statement)

    def _look(self) -> Statement:
        """The given statement's state, read once before waiting (a statement that ended finishes at once)."""
        self._register_secrets()
        statement_id = str(self.statement_id)

        async def get(client: JobsClient) -> Statement:
            return await client.sql.get_statement(statement_id)

        statement = self._hook().run_sync(get)
        self._active = True
        return statement

    def execute_complete(self, context: Context | None, event: Mapping[str, Any] | None = None) -> None:
        """Resume after the trigger fired: succeed or raise one line."""
        self._submits()  # decided from the rendered statement_id, before the event's id replaces it
        super().execute_complete(context, event)

    def poke(self, context: Context) -> bool:
        """One look at the statement (the official sensor's poke): ``False`` while pending, else decide."""
        if not self.statement_id:
            raise DatabricksConfigError("statement_id", "no statement to look at")
        self._register_secrets()
        statement_id = str(self.statement_id)

        async def get(client: JobsClient) -> Statement:
            return await client.sql.get_statement(statement_id)

        status = self._hook().run_sync(get).status
        outcome = judge_statement(status).outcome
        if outcome in (StatementOutcome.PENDING, StatementOutcome.UNKNOWN):
            self.log.info("SQL statement %s is %s", statement_id, status.describe())
            return False
        event = StatementEvent.final(statement_id, status, warehouse_id=self.warehouse_id or "")
        if event.status == "success":
            return True
        raise DatabricksStatementFailedError(redact(statement_short_message(event)))
