"""The trigger that watches one Databricks run from Airflow's triggerer and fires exactly one event.

It never submits: a restarted triggerer simply resumes polling the run id in its kwargs. Its kwargs
are primitives (a connection id, never a secret). Polls start quick and back off to the configured
period; only state changes are logged. Each check comes from the workspace's shared ``runs/list``
sweep, or from ``runs/get`` when the sweep did not cover the run. A failed run seen in the list (which
has no tasks) is read once more with ``runs/get`` to name its failed tasks. Transient API errors,
during polls and that re-read alike, keep it polling for a while; anything else ends it with one
``error`` event instead of crashing the triggerer. The event carries the final state and the failed
tasks' identities and kinds, not their outputs (the worker fetches those, see
:func:`airflow_dbx_async.outcome.fetch_details`). It enforces the task's deadline itself (Airflow's
deferral timeout does not call back into it) and cancels the run when the deadline passes or the user
kills the task. The deadline beats everything the watch waits on, a ``Retry-After`` hold of the workspace
included; the cancel itself is sent through such a hold (one request, for a run the task owns). The
event says why watching stopped; what the task does then is decided by
:func:`airflow_dbx_async.outcome.decide`. What the task did before (``repairs``,
``earlier_failures``) travels in the kwargs and comes back in the event.

There is one watch loop. :class:`DatabricksTaskRunTrigger` differs only in how it observes the run
(its :attr:`~DatabricksRunTrigger.observe` strategy): a task run of a workflow group never appears in
``runs/list``, so it asks ``runs/get`` alone. Each trigger serialises the classpath of its own class,
``airflow_dbx_async.triggers.<class name>``; the classpaths of earlier releases
(``airflow_dbx_async.task_triggers.DatabricksTaskRunTrigger``) still import.

The SQL statement and warehouse triggers (:class:`DatabricksSQLStatementTrigger`,
:class:`DatabricksWarehouseTrigger`) live in their own modules and are exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import TYPE_CHECKING, Any

import structlog
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_dbx_async.client import (
    HoldPastDeadline,
    NotFound,
    Outcome,
    Run,
    borrow_workspace,
    deadline_scope,
    is_retryable,
    judge,
    through_hold,
)
from airflow_dbx_async.client.config import (
    DEFAULT_API_VERSION,
    DEFAULT_RETRY_DELAY_SECONDS,
    DEFAULT_RETRY_LIMIT,
)
from airflow_dbx_async.hooks import DEFAULT_CONN_ID, DatabricksAsyncHook, redact
from airflow_dbx_async.outcome import RunEvent, StopReason, task_types, trigger_line

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator, Sequence

    from airflow_dbx_async.client import Borrowing, JobsClient, RunState, RunWatch
    from airflow_dbx_async.outcome import EventStatus

__all__ = (
    "STATEMENT_TRIGGER_CLASSPATH",
    "TASK_RUN_TRIGGER_CLASSPATH",
    "TRIGGER_CLASSPATH",
    "WAREHOUSE_TRIGGER_CLASSPATH",
    "DatabricksRunTrigger",
    "DatabricksSQLStatementTrigger",
    "DatabricksTaskRunTrigger",
    "DatabricksWarehouseTrigger",
    "DEFAULT_EVENT_HOLD_SECONDS",
    "PollCounter",
    "event_hold_seconds",
    "hold_event",
    "observe_run",
    "observe_task_run",
    "poll_counter",
    "poll_delays",
    "steady_delays",
)
_JITTER = random.Random()
# How long a watch waits past its due time for the shared sweep before asking runs/get itself.
_SWEEP_GRACE_SECONDS = 15.0


class PollCounter:
    """Counts run-state checks made by this process's triggers (for metrics and benchmarks)."""

    def __init__(self) -> None:
        self.value = 0


poll_counter = PollCounter()


def steady_delays(period: float, rng: random.Random | None = None) -> Iterator[float]:
    """Pauses between polls of what no list endpoint answers for: ``period`` each, with a little jitter below.

    A SQL statement or warehouse costs one request per check, so there are no quick first checks: the
    first comes one period after deferring, as the official trigger's second does.
    """
    rng = rng or _JITTER
    while True:
        yield period * rng.uniform(0.9, 1.0)


def poll_delays(period: float, rng: random.Random | None = None) -> Iterator[float]:
    """Pauses between polls: 1, 3, 9 ... seconds, capped at ``period``, with a little jitter below.

    Quick first checks catch runs that fail at once; growing by three reaches the configured period
    after a few checks, since every check of a big triggerer is a shared sweep of the run list.
    """
    rng = rng or _JITTER
    step = 1.0
    while True:
        base = min(step, period)
        yield base * rng.uniform(0.9, 1.0)
        step *= 3


class _DeadlinePassed(Exception):
    """The task's deadline came while a check still waited (on a hold, a retry, an answer)."""


class _GaveUp(Exception):
    """Transient errors went on for longer than the trigger tolerates; ``last`` is the latest."""

    def __init__(self, seconds: float, last: Exception) -> None:
        super().__init__(seconds, last)
        self.seconds = seconds
        self.last = last


@contextlib.asynccontextmanager
async def _until_deadline(has_deadline: bool, time_left: Callable[[], float]) -> AsyncIterator[None]:
    """Bound one check by the deadline: requests are held no longer, and nothing waits past it.

    Every trigger of this package bounds its checks this way; ``_DeadlinePassed`` says the deadline
    (not a request's own timeout) ended the check.
    """
    if not has_deadline:
        yield
        return
    with deadline_scope(time_left):
        try:
            async with asyncio.timeout(max(0.0, time_left())) as timer:
                yield
        except TimeoutError:
            if not timer.expired():  # a request's own timeout, not the deadline's
                raise
            raise _DeadlinePassed from None


DEFAULT_EVENT_HOLD_SECONDS = 10.0
"""Default of ``[databricks_async] event_hold_seconds`` (see :func:`hold_event`)."""


def event_hold_seconds() -> float:
    """``[databricks_async] event_hold_seconds``: how long after it started a trigger holds its event."""
    from airflow.configuration import conf

    return max(
        0.0, conf.getfloat("databricks_async", "event_hold_seconds", fallback=DEFAULT_EVENT_HOLD_SECONDS)
    )


async def hold_event(started: float, monotonic: Callable[[], float], time_left: Callable[[], float]) -> None:
    """Wait until the trigger has run ``event_hold_seconds``, and never past the task's deadline.

    Airflow 3.1 to 3.3 fail a resumed task whose trigger fired before the scheduler processed the exit
    of the worker that deferred it: that exit's stale "success" then meets the task queued or running
    again, a "state mismatch" (apache/airflow#67287, #72716). A Databricks run that ends seconds after
    the deferral would meet it on a busy scheduler; runs longer than the hold are not delayed at all.
    A task waiting in its worker (``deferrable=False``) has no such race and never holds.
    """
    remaining = min(event_hold_seconds() - (monotonic() - started), time_left())
    if remaining > 0:
        await asyncio.sleep(remaining)


TRIGGER_CLASSPATH = f"{__name__}.DatabricksRunTrigger"
TASK_RUN_TRIGGER_CLASSPATH = f"{__name__}.DatabricksTaskRunTrigger"


async def observe_run(
    trigger: DatabricksRunTrigger, client: JobsClient, watch: RunWatch, delay: float
) -> Run:
    """A job run's state after ``delay`` seconds: from the shared sweep, else from ``runs/get``."""
    grace = max(_SWEEP_GRACE_SECONDS, float(trigger.polling_period_seconds))
    if trigger.deadline is not None:  # never wait for a sweep past the deadline
        grace = min(grace, max(0.0, trigger.time_left()))
    run = await watch.observe(delay, grace)
    if run is None:  # not covered by a sweep: ask for this run alone
        run = await trigger.read_run(client)
        watch.saw(run)  # its start time bounds the next sweeps
    return run


async def observe_task_run(
    trigger: DatabricksRunTrigger, client: JobsClient, watch: RunWatch, delay: float
) -> Run:
    """A task run's state after ``delay`` seconds, from ``runs/get`` (task runs are not in ``runs/list``)."""
    await asyncio.sleep(delay)
    return await trigger.read_run(client)


class DatabricksRunTrigger(BaseTrigger):
    """Poll a Databricks run until it ends; yield one event (see :mod:`airflow_dbx_async.outcome._events`).

    :param run_id: the Databricks run id to watch.
    :param databricks_conn_id: the Airflow connection id.
    :param polling_period_seconds: the longest pause between two polls.
    :param retry_limit: attempts per request, the first included.
    :param retry_delay: first backoff delay in seconds.
    :param run_page_url: link to the run, repeated in the event.
    :param deadline: epoch seconds after which the run is given up (and cancelled), or ``None``.
    :param cancel_on_kill: cancel the run when the deadline passes or the task is killed.
    :param api_version: Jobs API version.
    :param repairs: how many times the task repaired the run before this watch (repeated in the event).
    :param earlier_failures: the earlier attempts' one-line failures, masked (repeated in the event).
    """

    # One logger shared by every instance, instead of one per trigger: the triggerer routes each line
    # to its task's log through context variables, and thousands of triggers share a process.
    _log = structlog.get_logger(f"{__name__}.DatabricksRunTrigger")
    # Clock seams (tests replace them on an instance): epoch seconds for the deadline, and a
    # monotonic clock for the transient-error window.
    _clock: Callable[[], float] = time.time
    _monotonic: Callable[[], float] = time.monotonic
    # Off for a trigger that a worker runs itself (deferrable=False): see hold_event.
    event_hold: bool = True
    #: how one check of the run is made: the shared ``runs/list`` sweep, else ``runs/get``
    observe = staticmethod(observe_run)

    def __init__(
        self,
        *,
        run_id: int,
        databricks_conn_id: str = DEFAULT_CONN_ID,
        polling_period_seconds: float = 30,
        retry_limit: int = DEFAULT_RETRY_LIMIT,
        retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS,
        run_page_url: str = "",
        deadline: float | None = None,
        cancel_on_kill: bool = True,
        api_version: str = DEFAULT_API_VERSION,
        repairs: int = 0,
        earlier_failures: Sequence[str] = (),
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.run_id = int(run_id)
        self.databricks_conn_id = databricks_conn_id
        self.polling_period_seconds = polling_period_seconds
        self.retry_limit = retry_limit
        self.retry_delay = retry_delay
        self.run_page_url = run_page_url
        self.deadline = deadline
        self.cancel_on_kill = cancel_on_kill
        self.api_version = api_version
        self.repairs = int(repairs)
        self.earlier_failures = tuple(str(message) for message in earlier_failures)
        self._rng = _JITTER  # shared: a Random per trigger would cost ~5 KB each in a big triggerer
        self._task_types: dict[int, str] | None = None  # of the run's tasks, once it was read ended

    @property
    def classpath(self) -> str:
        """Where this trigger's class is imported from: its module and name, public and stable."""
        return f"{type(self).__module__}.{type(self).__qualname__}"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath (of this trigger's own class) and primitive kwargs to rebuild it in the triggerer."""
        # The repair history only when there is one: a first watch serialises as the previous release
        # did, so a triggerer not yet upgraded can still run it.
        history: dict[str, Any] = {}
        if self.repairs or self.earlier_failures:
            history = {"repairs": self.repairs, "earlier_failures": list(self.earlier_failures)}
        return self.classpath, {
            "run_id": self.run_id,
            "databricks_conn_id": self.databricks_conn_id,
            "polling_period_seconds": self.polling_period_seconds,
            "retry_limit": self.retry_limit,
            "retry_delay": self.retry_delay,
            "run_page_url": self.run_page_url,
            "deadline": self.deadline,
            "cancel_on_kill": self.cancel_on_kill,
            "api_version": self.api_version,
            **history,
        }

    async def _borrow(self) -> Borrowing:
        """The shared workspace of this trigger's connection, with a client using its own policy."""
        hook = DatabricksAsyncHook(
            self.databricks_conn_id,
            retry_limit=self.retry_limit,
            retry_delay=self.retry_delay,
            api_version=self.api_version,
        )
        return borrow_workspace(await hook.aget_config())

    @property
    def transient_window_seconds(self) -> float:
        """How long consecutive transient errors are tolerated before giving up."""
        return max(300.0, 10 * float(self.polling_period_seconds))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch the run and yield exactly one event."""
        started = self._monotonic()
        try:
            async with await self._borrow() as borrowed:
                # Quick checks only when a shared sweep answers them; own runs/get at most once a period.
                gap = 0.9 * float(self.polling_period_seconds)  # the shortest jittered period
                watch = borrowed.poller.watch(self.run_id, fallback_gap=gap)
                try:
                    event = await self._watch(borrowed.client, watch)
                except Exception as exc:  # the task will fail: cancel the run rather than orphan it
                    event = self._error(
                        await self._cancel_after(borrowed.client, exc) + _why(exc, borrowed.client)
                    )
                finally:
                    watch.close()
        except Exception as exc:  # no client (e.g. the connection is bad): nothing to cancel with
            event = self._error(f"{type(exc).__name__}: {exc}")
        if event.status == "failed":
            # One line here; the full report goes to the task log once, from execute_complete, where
            # Airflow's secret masker knows the task's secrets.
            self.log.error("%s", redact(trigger_line(event)))
        if self.event_hold:
            await hold_event(started, self._monotonic, self.time_left)
        yield TriggerEvent(event.to_payload())  # type: ignore[no-untyped-call]

    def _error(self, reason: str) -> RunEvent:
        """One ``error`` event, never a crashed triggerer."""
        self.log.error("Stopped watching Databricks run %s: %s", self.run_id, reason)
        return self._stopped("error", StopReason.GAVE_UP, reason)

    def _stopped(
        self, status: EventStatus, stopped: StopReason, reason: str, state: RunState | None = None
    ) -> RunEvent:
        """The event of a watch that ended before the run did; it repeats what the task did before."""
        page, repairs, earlier = self.run_page_url, self.repairs, self.earlier_failures
        return RunEvent(status, self.run_id, page, state, reason, (), 0, stopped, repairs, earlier)

    async def _cancel_after(self, client: JobsClient, exc: Exception) -> str:
        """Cancel the run after the watch failed, as when the task is killed; say what happened.

        The task fails on the error event, so a run left going would be orphaned. Nothing is
        cancelled when the run does not exist or ``cancel_on_kill`` is off.
        """
        if isinstance(exc, NotFound):
            return ""
        if not self.cancel_on_kill:
            return "the run was left running (cancel_on_kill=False); "
        try:
            await self._cancel(client)
        except Exception as cancel_exc:
            self.log.error("Could not cancel Databricks run %s: %s", self.run_id, cancel_exc)
            return "cancelling the run failed too; "
        return "the run was cancelled; "

    async def _cancel(self, client: JobsClient) -> None:
        """Cancel the run, through a ``Retry-After`` hold of the workspace (see the module docstring)."""
        with through_hold():
            await client.cancel_run(self.run_id)

    def time_left(self) -> float:
        """Seconds until the deadline (negative once it passed); infinite without one."""
        return float("inf") if self.deadline is None else self.deadline - self._clock()

    def _until_deadline(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Bound one check by the deadline (see :func:`_until_deadline`)."""
        return _until_deadline(self.deadline is not None, self.time_left)

    async def _watch(self, client: JobsClient, watch: RunWatch) -> RunEvent:
        delays = poll_delays(float(self.polling_period_seconds), self._rng)
        delay = next(delays)  # the operator looked just before deferring: the first check can wait a second
        last_run: Run | None = None
        failing_since: float | None = None
        while True:
            if self.deadline is not None and self._clock() >= self.deadline:
                return await self._deadline_passed(client, last_run)
            try:
                async with self._until_deadline():
                    run = await self._observe(client, watch, delay)
                    self._log_change(last_run, run)
                    last_run = run
                    event = await self._final_event(client, run)
                failing_since = None
            except (_DeadlinePassed, HoldPastDeadline):
                return await self._deadline_passed(client, last_run)
            except Exception as exc:
                failing_since = self._tolerate(exc, failing_since)
                delay = next(delays)
                continue
            if event is not None:
                return event
            delay = next(delays)

    def _log_change(self, before: Run | None, run: Run) -> None:
        """Log the run's state when it differs from the last one seen."""
        state = run.state
        if before is None or (before.state.to_payload() != state.to_payload()):
            self.log.info("Databricks run %s is %s", self.run_id, judge(state).reason)

    async def _final_event(self, client: JobsClient, run: Run) -> RunEvent | None:
        """The event for a run that ended, else ``None``; a failed run is read with its tasks first."""
        verdict = judge(run.state)
        if not verdict.is_final:
            return None
        failed = verdict.outcome is Outcome.FAILED
        if failed and run.tasks is None:  # seen in the run list: no tasks
            run = await self.read_run(client)
        return RunEvent.final(
            run,
            self.run_page_url,
            repairs=self.repairs,
            earlier_failures=self.earlier_failures,
            task_types=self._task_types if failed else None,
        )

    async def read_run(self, client: JobsClient) -> Run:
        """``runs/get`` of the run; once it ended, the kinds of its tasks are kept for the event."""
        body = await client.get_run_json(self.run_id)
        run = Run.from_api(body)
        if judge(run.state).is_final:
            self._task_types = task_types(body)
        return run

    async def _observe(self, client: JobsClient, watch: RunWatch, delay: float) -> Run:
        """The run's state after ``delay`` seconds, by this trigger's :attr:`observe` strategy."""
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.time_left()))
        run = await self.observe(self, client, watch, delay)
        poll_counter.value += 1
        return run

    def _tolerate(self, exc: Exception, failing_since: float | None) -> float:
        """Return when transient errors began, or re-raise when ``exc`` should end the watch."""
        if not is_retryable(exc):
            raise exc
        now = self._monotonic()
        since = now if failing_since is None else failing_since
        if now - since > self.transient_window_seconds:
            raise _GaveUp(self.transient_window_seconds, exc) from exc
        self.log.warning("Transient error while polling Databricks run %s: %s", self.run_id, exc)
        return since

    async def _deadline_passed(self, client: JobsClient, last_run: Run | None) -> RunEvent:
        reason = f"the task's execution_timeout passed while the run was still going (run {self.run_id})"
        if self.cancel_on_kill:
            try:
                await self._cancel(client)
                reason += "; the run was cancelled"
            except Exception as exc:
                reason += f"; cancelling it failed: {exc}"
        self.log.error("Databricks run %s: %s", self.run_id, reason)
        state = last_run.state if last_run is not None else None
        return self._stopped("failed", StopReason.DEADLINE, reason, state)

    async def on_kill(self) -> None:
        """Cancel the run when the user marks the deferred task failed or clears it (Airflow 3.3+)."""
        if not self.cancel_on_kill:
            self.log.info(
                "Task killed; leaving Databricks run %s running (cancel_on_kill=False)", self.run_id
            )
            return
        async with await self._borrow() as borrowed:
            await self._cancel(borrowed.client)
        self.log.info("Task killed; cancelled Databricks run %s", self.run_id)


class DatabricksTaskRunTrigger(DatabricksRunTrigger):
    """Poll one task run (by its own ``run_id``) until it ends; yield one event.

    Takes the parameters of :class:`DatabricksRunTrigger`; ``run_id`` is the task run's id, and
    cancelling on kill cancels that task run only, not its siblings. It asks ``runs/get`` for its task
    run directly, over the workspace's shared session and rate ceiling, with the same poll ramp,
    deadline, cancel and failure report.
    """

    observe = staticmethod(observe_task_run)


def _why(exc: Exception, client: JobsClient) -> str:
    """The error for the task's one line: the workspace first, so that cutting the line keeps it."""
    if isinstance(exc, _GaveUp):
        return (
            f"no answer from {client.config.base_url} for over {exc.seconds:.0f} s (last error: {exc.last})"
        )
    return f"{type(exc).__name__}: {exc}"


# Last: the SQL triggers reuse steady_delays from above.
from airflow_dbx_async.triggers._sql import (  # noqa: E402
    STATEMENT_TRIGGER_CLASSPATH,
    DatabricksSQLStatementTrigger,
)
from airflow_dbx_async.triggers._warehouse import (  # noqa: E402
    WAREHOUSE_TRIGGER_CLASSPATH,
    DatabricksWarehouseTrigger,
)
