"""The watch loop the SQL triggers share, and the trigger that watches a SQL statement; one event each.

They work like :class:`~airflow_dbx_async.triggers.DatabricksRunTrigger`: kwargs of primitives (a
connection id, never a secret), the workspace's shared session and request gate borrowed per watch
(``borrowed.client.sql``), a poll every configured period from the start, as each poll is a request
of its own (:func:`~airflow_dbx_async.triggers.steady_delays`), only state changes logged, transient errors
tolerated for a while, and any other error ending the watch with one ``error`` event instead of
crashing the triggerer. Each enforces its deadline itself. What the task needs when it resumes travels
in the kwargs and comes back in the event: the warehouse, and the states seen with when they were seen.
:class:`SqlWatch` is that loop; the warehouse trigger (``triggers/_warehouse.py``)
is the other one built on it.

:class:`DatabricksSQLStatementTrigger` polls ``GET /api/2.0/sql/statements/{id}`` (the Statement
Execution API has no list endpoint to share) and judges each answer with
:func:`~airflow_dbx_async.client.judge_statement`. It cancels the statement when the deadline passes,
when the user kills the deferred task (Airflow 3.3 calls ``on_kill``), and when it stops watching on an
error, unless ``cancel_on_kill`` is off.

Both SQL triggers serialise a classpath under ``airflow_dbx_async.triggers``, where they are exported.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import structlog
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_dbx_async.client import (
    HoldPastDeadline,
    NotFound,
    borrow_workspace,
    is_retryable,
    judge_statement,
    through_hold,
)
from airflow_dbx_async.client.config import DEFAULT_RETRY_DELAY_SECONDS, DEFAULT_RETRY_LIMIT
from airflow_dbx_async.hooks import DEFAULT_CONN_ID, DatabricksAsyncHook, redact
from airflow_dbx_async.outcome import (
    StatementEvent,
    StopReason,
    WarehouseEvent,
    saw,
    statement_short_message,
)
from airflow_dbx_async.triggers import _DeadlinePassed, _GaveUp, _until_deadline, hold_event, steady_delays

if TYPE_CHECKING:
    import contextlib
    from collections.abc import AsyncIterator, Callable, Sequence

    from airflow_dbx_async.client import Borrowing, JobsClient, StatementStatus
    from airflow_dbx_async.outcome import EventStatus, History

__all__ = ("PUBLIC_MODULE", "STATEMENT_TRIGGER_CLASSPATH", "DatabricksSQLStatementTrigger", "SqlWatch")

#: where the SQL triggers' classpaths point: the package that exports them
PUBLIC_MODULE = "airflow_dbx_async.triggers"
STATEMENT_TRIGGER_CLASSPATH = f"{PUBLIC_MODULE}.DatabricksSQLStatementTrigger"

E = TypeVar("E", StatementEvent, WarehouseEvent)


def _history(value: Sequence[Sequence[Any]]) -> History:
    return tuple((str(state), float(at)) for state, at in value)


class SqlWatch(BaseTrigger, Generic[E]):
    """What the two SQL triggers share: the borrowed workspace, the deadline, the transient-error window."""

    # Clock seams (tests replace them on an instance): epoch seconds for the deadline, and a
    # monotonic clock for the transient-error window.
    _clock: Callable[[], float] = time.time
    _monotonic: Callable[[], float] = time.monotonic
    # Off for a trigger that a worker runs itself (deferrable=False): see hold_event.
    event_hold: bool = True

    def __init__(
        self,
        *,
        databricks_conn_id: str,
        polling_period_seconds: float,
        retry_limit: int,
        retry_delay: float,
        deadline: float | None,
        history: Sequence[Sequence[Any]],
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.databricks_conn_id = databricks_conn_id
        self.polling_period_seconds = polling_period_seconds
        self.retry_limit = retry_limit
        self.retry_delay = retry_delay
        self.deadline = deadline
        self.history: History = _history(history)

    @property
    def classpath(self) -> str:
        """Where this trigger's class is imported from: its module and name, public and stable."""
        return f"{type(self).__module__}.{type(self).__qualname__}"

    def _common_kwargs(self) -> dict[str, Any]:
        return {
            "databricks_conn_id": self.databricks_conn_id,
            "polling_period_seconds": self.polling_period_seconds,
            "retry_limit": self.retry_limit,
            "retry_delay": self.retry_delay,
            "deadline": self.deadline,
            "history": [[state, at] for state, at in self.history],
        }

    async def _borrow(self) -> Borrowing:
        """The shared workspace of this trigger's connection, with a client using its own policy."""
        hook = DatabricksAsyncHook(
            self.databricks_conn_id, retry_limit=self.retry_limit, retry_delay=self.retry_delay
        )
        return borrow_workspace(await hook.aget_config())

    @property
    def transient_window_seconds(self) -> float:
        """How long consecutive transient errors are tolerated before giving up."""
        return max(300.0, 10 * float(self.polling_period_seconds))

    def time_left(self) -> float:
        """Seconds until the deadline (negative once it passed); infinite without one."""
        return float("inf") if self.deadline is None else self.deadline - self._clock()

    def _until_deadline(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Bound one check by the deadline (the run trigger's rule, shared)."""
        return _until_deadline(self.deadline is not None, self.time_left)

    def _tolerate(self, exc: Exception, failing_since: float | None) -> float:
        """Return when transient errors began, or re-raise when ``exc`` should end the watch."""
        if not is_retryable(exc):
            raise exc
        now = self._monotonic()
        since = now if failing_since is None else failing_since
        if now - since > self.transient_window_seconds:
            raise _GaveUp(self.transient_window_seconds, exc) from exc
        self.log.warning("Transient error while polling %s: %s", self.what, exc)
        return since

    def _saw(self, state: str, *, final: bool = False) -> None:
        """Add ``state`` to the history; log it when it changed, unless it is the last one.

        A final state needs no line of its own: the triggerer logs the event that carries it, and the
        task logs the outcome when it resumes.
        """
        before = self.history
        self.history = saw(before, state, self._clock())
        if self.history is not before and not final:
            self.log.info("%s is %s", self.what, state)

    async def _checks(self, client: JobsClient) -> E:
        """Poll :meth:`_check` every period until it returns an event, the deadline passes or errors last."""
        delays = steady_delays(float(self.polling_period_seconds))
        failing_since: float | None = None
        while True:
            if self.time_left() <= 0:
                return await self._deadline_passed(client)
            try:
                async with self._until_deadline():
                    await asyncio.sleep(next(delays))
                    event = await self._check(client)
                failing_since = None
            except (_DeadlinePassed, HoldPastDeadline):
                return await self._deadline_passed(client)
            except Exception as exc:
                failing_since = self._tolerate(exc, failing_since)
                continue
            if event is not None:
                return event

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch until the end and yield exactly one event."""
        started = self._monotonic()
        try:
            async with await self._borrow() as borrowed:
                try:
                    event = await self._checks(borrowed.client)
                except Exception as exc:  # the task will fail: stop what it started rather than orphan it
                    cleanup = await self._after_error(borrowed.client, exc)
                    event = self._error(cleanup + _why(exc, borrowed.client))
        except Exception as exc:  # no client (e.g. the connection is bad): nothing to clean up with
            event = self._error(f"{type(exc).__name__}: {exc}")
        if event.status != "success":
            # One line here; the full report goes to the task log from the worker, where Airflow's
            # secret masker knows the task's secrets.
            self.log.error("%s", redact(self._one_line(event)))
        if self.event_hold:
            await hold_event(started, self._monotonic, self.time_left)
        yield TriggerEvent(event.to_payload())  # type: ignore[no-untyped-call]

    @property
    @abstractmethod
    def what(self) -> str:
        """What is watched, for log lines (``Databricks SQL statement <id>``)."""

    @abstractmethod
    async def _check(self, client: JobsClient) -> E | None:
        """One poll: the final event, or ``None`` to poll again."""

    @abstractmethod
    async def _deadline_passed(self, client: JobsClient) -> E:
        """The event once the deadline passed."""

    @abstractmethod
    def _error(self, reason: str) -> E:
        """The ``error`` event of a watch that ended on an error."""

    @abstractmethod
    def _one_line(self, event: E) -> str:
        """The line the triggerer logs for an event that is not a success."""

    async def _after_error(self, client: JobsClient, exc: Exception) -> str:
        """Clean up after the watch ended on an error; say what happened (default: nothing to do)."""
        return ""


class DatabricksSQLStatementTrigger(SqlWatch[StatementEvent]):
    """Poll a SQL statement until it ends; yield one :class:`~airflow_dbx_async.outcome.StatementEvent`.

    :param statement_id: the statement to watch.
    :param databricks_conn_id: the Airflow connection id.
    :param warehouse_id: the warehouse it runs on (repeated in the event, for the failure report).
    :param polling_period_seconds: the longest pause between two polls.
    :param retry_limit: attempts per request, the first included.
    :param retry_delay: first backoff delay in seconds.
    :param deadline: epoch seconds after which the statement is given up (and cancelled), or ``None``.
    :param cancel_on_kill: cancel the statement at the deadline, when the task is killed, and when the
        watch ends on an error.
    :param history: ``[state, epoch seconds]`` of the states the task saw before deferring.
    """

    __module__ = PUBLIC_MODULE
    # One logger shared by every instance (the triggerer routes each line to its task's log).
    _log = structlog.get_logger(f"{PUBLIC_MODULE}.DatabricksSQLStatementTrigger")

    def __init__(
        self,
        *,
        statement_id: str,
        databricks_conn_id: str = DEFAULT_CONN_ID,
        warehouse_id: str = "",
        polling_period_seconds: float = 30,
        retry_limit: int = DEFAULT_RETRY_LIMIT,
        retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS,
        deadline: float | None = None,
        cancel_on_kill: bool = True,
        history: Sequence[Sequence[Any]] = (),
    ) -> None:
        super().__init__(
            databricks_conn_id=databricks_conn_id,
            polling_period_seconds=polling_period_seconds,
            retry_limit=retry_limit,
            retry_delay=retry_delay,
            deadline=deadline,
            history=history,
        )
        self.statement_id = str(statement_id)
        self.warehouse_id = warehouse_id
        self.cancel_on_kill = cancel_on_kill
        self._last: StatementStatus | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath (of this trigger's own class) and primitive kwargs to rebuild it in the triggerer."""
        return self.classpath, {
            "statement_id": self.statement_id,
            "warehouse_id": self.warehouse_id,
            "cancel_on_kill": self.cancel_on_kill,
            **self._common_kwargs(),
        }

    @property
    def what(self) -> str:
        """``Databricks SQL statement <id>``."""
        return f"Databricks SQL statement {self.statement_id}"

    async def _check(self, client: JobsClient) -> StatementEvent | None:
        statement = await client.sql.get_statement(self.statement_id)
        status = self._last = statement.status
        final = judge_statement(status).is_final
        self._saw(status.raw_state or status.state.value, final=final)
        if not final:
            return None
        return StatementEvent.final(
            self.statement_id, status, warehouse_id=self.warehouse_id, history=self.history
        )

    def _stopped(self, reason: str, stopped: StopReason) -> StatementEvent:
        status: EventStatus = "error" if stopped is StopReason.GAVE_UP else "failed"
        return StatementEvent(
            status, self.statement_id, self.warehouse_id, self._last, reason, stopped, self.history
        )

    async def _deadline_passed(self, client: JobsClient) -> StatementEvent:
        last = self._last
        state = (last.raw_state or last.state.value) if last is not None else "not yet seen"
        reason = f"the deadline passed while the statement was {state}"
        if self.cancel_on_kill:
            try:
                await self._cancel(client)
                reason += "; the statement was cancelled"
            except Exception as exc:
                reason += f"; cancelling it failed: {exc}"
        else:
            reason += "; the statement was left running"
        return self._stopped(reason, StopReason.DEADLINE)

    def _error(self, reason: str) -> StatementEvent:
        return self._stopped(reason, StopReason.GAVE_UP)

    def _one_line(self, event: StatementEvent) -> str:
        return f"{statement_short_message(event)}; the failure report follows when the task resumes"

    async def _after_error(self, client: JobsClient, exc: Exception) -> str:
        """Cancel the statement after the watch failed (the task fails on the event); say so."""
        if isinstance(exc, NotFound):
            return ""
        if not self.cancel_on_kill:
            return "the statement was left running; "
        try:
            await self._cancel(client)
        except Exception as cancel_exc:
            self.log.error("Could not cancel %s: %s", self.what, cancel_exc)
            return "cancelling the statement failed too; "
        return "the statement was cancelled; "

    async def _cancel(self, client: JobsClient) -> None:
        """Cancel the statement, through a ``Retry-After`` hold of the workspace (one request)."""
        with through_hold():
            await client.sql.cancel_statement(self.statement_id)

    async def on_kill(self) -> None:
        """Cancel the statement when the user marks the deferred task failed or clears it (Airflow 3.3+)."""
        if not self.cancel_on_kill:
            self.log.info("Task killed; leaving %s running", self.what)
            return
        async with await self._borrow() as borrowed:
            await self._cancel(borrowed.client)
        self.log.info("Task killed; cancelled %s", self.what)


def _why(exc: Exception, client: JobsClient) -> str:
    """The error for the task's one line: the workspace first, so that cutting the line keeps it."""
    if isinstance(exc, _GaveUp):
        return (
            f"no answer from {client.config.base_url} for over {exc.seconds:.0f} s (last error: {exc.last})"
        )
    return f"{type(exc).__name__}: {exc}"
