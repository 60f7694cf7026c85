"""The trigger that watches one Databricks run from Airflow's triggerer and fires exactly one event.

It never submits: a restarted triggerer simply resumes polling the run id in its kwargs. Its kwargs
are primitives (a connection id, never a secret). Polls start quick and back off to the configured
period; only state changes are logged. Transient API errors keep it polling for a while; anything
else ends it with one ``error`` event instead of crashing the triggerer. It enforces the task's
deadline itself (Airflow's deferral timeout does not call back into it) and cancels the run when the
deadline passes or the user kills the task.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_dbx_async._events import FailedTask, RunEvent, state_payload
from airflow_dbx_async._failure_report import MAX_REPORTED_TASKS, bound_for_event, short_message
from airflow_dbx_async._secrets import redact
from airflow_dbx_async.client import Outcome, TaskRun, is_retryable, judge
from airflow_dbx_async.client._workspace import WORKSPACES
from airflow_dbx_async.client.config import (
    DEFAULT_API_VERSION,
    DEFAULT_RETRY_DELAY_SECONDS,
    DEFAULT_RETRY_LIMIT,
)
from airflow_dbx_async.hooks import DEFAULT_CONN_ID, DatabricksAsyncHook

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from airflow_dbx_async.client import JobsClient, Run
    from airflow_dbx_async.client._poller import RunWatch
    from airflow_dbx_async.client._workspace import _Borrowing

__all__ = ("TRIGGER_CLASSPATH", "DatabricksRunTrigger", "PollCounter", "poll_counter", "poll_delays")

TRIGGER_CLASSPATH = "airflow_dbx_async.triggers.DatabricksRunTrigger"
_MAX_EVENT_TASKS = 100
_JITTER = random.Random()
# How long a watch waits past its due time for the shared sweep before asking runs/get itself.
_SWEEP_GRACE_SECONDS = 15.0


class PollCounter:
    """Counts run-state checks made by this process's triggers (for metrics and benchmarks)."""

    def __init__(self) -> None:
        self.value = 0


poll_counter = PollCounter()
_SHORT_FIELD_LIMIT = 500
_OUTPUT_CONCURRENCY = 8


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


class _TransientWindowExceeded(Exception):
    """Transient errors went on for longer than the trigger tolerates."""


class DatabricksRunTrigger(BaseTrigger):
    """Poll a Databricks run until it ends; yield one event (see :mod:`airflow_dbx_async._events`).

    :param run_id: the Databricks run id to watch.
    :param databricks_conn_id: the Airflow connection id.
    :param polling_period_seconds: the longest pause between two polls.
    :param retry_limit: attempts per request, the first included.
    :param retry_delay: first backoff delay in seconds.
    :param run_page_url: link to the run, repeated in the event.
    :param deadline: epoch seconds after which the run is given up (and cancelled), or ``None``.
    :param cancel_on_kill: cancel the run when the deadline passes or the task is killed.
    :param api_version: Jobs API version.
    """

    # One logger shared by every instance, instead of one per trigger: the triggerer routes each line
    # to its task's log through context variables, and thousands of triggers share a process.
    _log = structlog.get_logger(f"{__name__}.DatabricksRunTrigger")

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
        self._rng = _JITTER  # shared: a Random per trigger would cost ~5 KB each in a big triggerer

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and primitive kwargs to rebuild this trigger in the triggerer."""
        return TRIGGER_CLASSPATH, {
            "run_id": self.run_id,
            "databricks_conn_id": self.databricks_conn_id,
            "polling_period_seconds": self.polling_period_seconds,
            "retry_limit": self.retry_limit,
            "retry_delay": self.retry_delay,
            "run_page_url": self.run_page_url,
            "deadline": self.deadline,
            "cancel_on_kill": self.cancel_on_kill,
            "api_version": self.api_version,
        }

    async def _borrow(self) -> _Borrowing:
        """The shared workspace of this trigger's connection, with a client using its own policy."""
        hook = DatabricksAsyncHook(
            self.databricks_conn_id,
            retry_limit=self.retry_limit,
            retry_delay=self.retry_delay,
            api_version=self.api_version,
        )
        return WORKSPACES.borrow(await hook.aget_config())

    @property
    def transient_window_seconds(self) -> float:
        """How long consecutive transient errors are tolerated before giving up."""
        return max(300.0, 10 * float(self.polling_period_seconds))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch the run and yield exactly one event."""
        try:
            async with await self._borrow() as borrowed:
                # Quick checks only when a shared sweep answers them; own runs/get at most once a period.
                gap = 0.9 * float(self.polling_period_seconds)  # the shortest jittered period
                watch = borrowed.poller.watch(self.run_id, fallback_gap=gap)
                try:
                    event = await self._watch(borrowed.client, watch)
                finally:
                    watch.close()
        except Exception as exc:  # one error event, never a crashed triggerer
            reason = f"{type(exc).__name__}: {exc}"
            self.log.error("Stopped watching Databricks run %s: %s", self.run_id, reason)
            event = RunEvent(
                status="error", run_id=self.run_id, run_page_url=self.run_page_url, reason=reason
            )
        if event.status == "failed":
            # One line here; the full report goes to the task log once, from execute_complete, where
            # Airflow's secret masker knows the task's secrets.
            self.log.error(
                "%s; the failure report follows when the task resumes", redact(short_message(event))
            )
        yield TriggerEvent(event.to_payload())  # type: ignore[no-untyped-call]

    async def _watch(self, client: JobsClient, watch: RunWatch) -> RunEvent:
        delays = poll_delays(float(self.polling_period_seconds), self._rng)
        delay = next(delays)  # the operator looked just before deferring: the first check can wait a second
        last_seen: tuple[str, str, str] | None = None
        last_run: Run | None = None
        failing_since: float | None = None
        while True:
            if self.deadline is not None and time.time() >= self.deadline:
                return await self._deadline_passed(client, last_run)
            try:
                run = await self._observe(client, watch, delay)
                failing_since = None
            except Exception as exc:
                failing_since = self._tolerate(exc, failing_since)
                delay = next(delays)
                continue
            last_run = run
            seen = (run.state.raw_life_cycle_state, run.state.raw_result_state, run.state.state_message)
            verdict = judge(run.state)
            if seen != last_seen:
                self.log.info("Databricks run %s is %s", self.run_id, verdict.reason)
                last_seen = seen
            if verdict.outcome is Outcome.SUCCEEDED:
                return RunEvent.from_run("success", run, verdict.reason, run_page_url=self.run_page_url)
            if verdict.outcome is Outcome.FAILED:
                if not run.tasks:  # seen in the run list, which omits tasks; their outputs need ids
                    run = await client.get_run(self.run_id)
                failed = await self.fetch_failed_tasks(client, run)
                return RunEvent.from_run("failed", run, verdict.reason, failed, self.run_page_url)
            delay = next(delays)

    async def _observe(self, client: JobsClient, watch: RunWatch, delay: float) -> Run:
        """The run's state after ``delay`` seconds: from the shared sweep, else from ``runs/get``."""
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.deadline - time.time()))
        grace = max(_SWEEP_GRACE_SECONDS, float(self.polling_period_seconds))
        run = await watch.observe(delay, grace)
        if run is None:  # not covered by a sweep: ask for this run alone
            run = await client.get_run(self.run_id)
            watch.saw(run)  # its start time bounds the next sweeps
        poll_counter.value += 1
        return run

    def _tolerate(self, exc: Exception, failing_since: float | None) -> float:
        """Return when transient errors began, or re-raise when ``exc`` should end the watch."""
        if not is_retryable(exc):
            raise exc
        now = time.monotonic()
        since = now if failing_since is None else failing_since
        if now - since > self.transient_window_seconds:
            raise _TransientWindowExceeded(
                f"transient errors for over {self.transient_window_seconds:.0f} s, last: {exc}"
            ) from exc
        self.log.warning("Transient error while polling Databricks run %s: %s", self.run_id, exc)
        return since

    async def _deadline_passed(self, client: JobsClient, last_run: Run | None) -> RunEvent:
        reason = f"the task's execution_timeout passed while the run was still going (run {self.run_id})"
        if self.cancel_on_kill:
            try:
                await client.cancel_run(self.run_id)
                reason += "; the run was cancelled"
            except Exception as exc:
                reason += f"; cancelling it failed: {exc}"
        self.log.error("Databricks run %s: %s", self.run_id, reason)
        return RunEvent(
            status="failed",
            run_id=self.run_id,
            run_page_url=self.run_page_url,
            run_state=state_payload(last_run) if last_run is not None else {},
            reason=reason,
        )

    @staticmethod
    async def fetch_failed_tasks(client: JobsClient, run: Run) -> tuple[FailedTask, ...]:
        """Failed tasks (latest attempts) with their get-output, fetched a few at a time.

        The first tasks the report shows get their full output; further ones (up to a cap) only their
        state, which keeps the event small and the request count bounded for very wide runs.
        """
        tasks = run.failed_tasks()[:_MAX_EVENT_TASKS]
        if not run.tasks:  # a run without a task list: its own output holds the error
            tasks = (TaskRun(run_id=run.run_id, task_key=run.run_name or str(run.run_id), state=run.state),)
        limit = asyncio.Semaphore(_OUTPUT_CONCURRENCY)

        async def one(index: int, task: TaskRun) -> FailedTask:
            if index >= MAX_REPORTED_TASKS:
                return bound_for_event(_without_output(task), _SHORT_FIELD_LIMIT)
            async with limit:
                return bound_for_event(await _task_output(client, task))

        return tuple(await asyncio.gather(*(one(i, t) for i, t in enumerate(tasks))))

    async def on_kill(self) -> None:
        """Cancel the run when the user marks the deferred task failed or clears it (Airflow 3.3+)."""
        if not self.cancel_on_kill:
            self.log.info(
                "Task killed; leaving Databricks run %s running (cancel_on_kill=False)", self.run_id
            )
            return
        async with await self._borrow() as borrowed:
            await borrowed.client.cancel_run(self.run_id)
        self.log.info("Task killed; cancelled Databricks run %s", self.run_id)


def _without_output(task: TaskRun) -> FailedTask:
    return FailedTask(
        task_key=task.task_key,
        run_id=task.run_id,
        run_page_url=task.run_page_url,
        state_message=task.state.state_message or task.state.describe(),
    )


async def _task_output(client: JobsClient, task: TaskRun) -> FailedTask:
    base = _without_output(task)
    try:
        out = await client.get_run_output(task.run_id)
    except Exception as exc:  # the report still names the task; the output is a bonus
        return replace(base, error=f"(could not fetch the task output: {exc})")
    return replace(
        base,
        error=out.error,
        error_trace=out.error_trace,
        notebook_result=out.notebook_result,
        logs=out.logs,
        logs_truncated=out.logs_truncated,
    )
