"""What the submit-run and run-now operators share: submit once, defer, resume, report, cancel.

``execute`` checks the payload before any request, then submits and reads the first state inside
one client context (one HTTP implementation, run with ``async_to_sync``). A run that already ended
completes at once through the same verdict and failure report as ``execute_complete``; otherwise the
task defers to :class:`~airflow_dbx_async.triggers.DatabricksRunTrigger`. Whether the task succeeds,
fails or repairs the run is decided in one place, :func:`airflow_dbx_async.outcome.decide`. A
failure report is fetched through one client: one connection lookup (which also registers the
connection's secrets with the masker) and one session per task process.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, cast

from airflow.sdk import BaseOperator

from airflow_dbx_async._compat import TRIGGER_ON_KILL
from airflow_dbx_async.client import ConfigurationError, JobsClient, Outcome, judge
from airflow_dbx_async.client.config import DEFAULT_RETRY_DELAY_SECONDS, DEFAULT_RETRY_LIMIT
from airflow_dbx_async.exceptions import DatabricksConfigError, DatabricksRunFailedError
from airflow_dbx_async.hooks import DEFAULT_CONN_ID, DatabricksAsyncHook, redact, retry_policy
from airflow_dbx_async.links import (
    XCOM_JOB_ID_KEY,
    XCOM_RUN_ID_KEY,
    XCOM_RUN_PAGE_URL_KEY,
    DatabricksJobRunLink,
)
from airflow_dbx_async.operators._cancel import cancel_in_thread
from airflow_dbx_async.operators._idempotency import SubmitResult, TaskIdentity, submit_idempotent
from airflow_dbx_async.operators._payload import MIN_POLLING_PERIOD_SECONDS, check_knobs
from airflow_dbx_async.operators._task_identity import (
    clear_number,
    idempotency_key,
    stored_run_id,
    task_identity,
)
from airflow_dbx_async.operators._task_identity import try_started as _try_started
from airflow_dbx_async.operators._worker_wait import wait_in_worker
from airflow_dbx_async.outcome import (
    NO_REPAIR,
    Action,
    RepairPolicy,
    RunEvent,
    StopReason,
    TaskDetails,
    after_success,
    decide,
    fetch_details,
    is_official_event,
    partial_failure_lines,
    read_official_event,
    report_lines,
    short_message,
)
from airflow_dbx_async.triggers import DatabricksRunTrigger

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

    from airflow_dbx_async.client import Run
    from airflow_dbx_async.operators._idempotency import Submit

__all__ = (
    "DEFERRAL_GRACE_SECONDS",
    "DatabricksConfigError",
    "DatabricksDeferrableOperatorBase",
    "DatabricksRunFailedError",
)

DEFERRAL_GRACE_SECONDS = 120.0
Details = tuple[TaskDetails, ...]


def _config_error(exc: ConfigurationError) -> DatabricksConfigError:
    return DatabricksConfigError.of(exc)


class DatabricksDeferrableOperatorBase(BaseOperator):
    """Shared behaviour; use one of the two concrete operators.

    :param databricks_conn_id: the Airflow connection id (templated).
    :param polling_period_seconds: the longest pause between two polls of the run; ``0`` (accepted
        as by the official operators, which then poll without pausing) logs one warning and polls
        every second.
    :param databricks_retry_limit: attempts per request, the first included (>= 1).
    :param databricks_retry_delay: first backoff delay in seconds.
    :param databricks_retry_args: accepted for compatibility; the client's own backoff is used.
    :param do_xcom_push: push ``run_id`` and ``run_page_url`` (and, when deferrable, ``job_id``) to XCom.
    :param wait_for_termination: wait for the run to end; ``False`` returns right after submitting.
    :param deferrable: wait in the triggerer (default); ``False`` waits in the worker with the same
        client, poll schedule and failure report, for deployments without a triggerer.
    :param cancel_on_kill: cancel the Databricks run when the task is killed or times out.
    :param log_notebook_output: when the run succeeds, write what its notebook tasks printed (read
        from the run export, the tail of each) to the task log.
    :param durable: ``True`` (default, also for ``None``): a retried task re-attaches to the run of an
        earlier try that is still going, also to one the official operator kept in the task state
        store (Airflow 3.3). ``False``: every try starts a fresh run (its idempotency tokens include
        the try number).
    """

    template_ext: Sequence[str] = (".json-tpl",)
    ui_color = "#1CB1C2"
    ui_fgcolor = "#fff"
    operator_extra_links = (DatabricksJobRunLink(),)
    _submit: ClassVar[Submit] = JobsClient.submit_run
    #: the official submit-run and run-now operators push ``job_id`` in deferrable mode; others do not
    pushes_job_id_when_deferrable: ClassVar[bool] = True
    #: the task state key under which the official operator keeps its run id (``durable``); ``None``
    #: for the classes whose official twin keeps none
    official_run_key: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        json: Any | None = None,
        databricks_conn_id: str = DEFAULT_CONN_ID,
        polling_period_seconds: float = 30,
        databricks_retry_limit: int = DEFAULT_RETRY_LIMIT,
        databricks_retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS,
        databricks_retry_args: dict[Any, Any] | None = None,
        do_xcom_push: bool = True,
        wait_for_termination: bool = True,
        deferrable: bool = True,
        cancel_on_kill: bool = True,
        durable: bool | None = None,
        log_notebook_output: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        try:
            period = check_knobs(polling_period_seconds=polling_period_seconds)
            retry_policy(databricks_retry_limit, databricks_retry_delay)
        except ConfigurationError as exc:
            raise _config_error(exc) from None
        if period != polling_period_seconds:
            self.log.warning(
                "polling_period_seconds=%s: polling every %s s instead (the shortest period)",
                polling_period_seconds,
                MIN_POLLING_PERIOD_SECONDS,
            )
        self.json = json
        self.databricks_conn_id = databricks_conn_id
        self.polling_period_seconds = period
        self.databricks_retry_limit = databricks_retry_limit
        self.databricks_retry_delay = databricks_retry_delay
        self.databricks_retry_args = databricks_retry_args
        self.do_xcom_push = do_xcom_push
        self.wait_for_termination = wait_for_termination
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.durable = True if durable is None else bool(durable)
        self.log_notebook_output = log_notebook_output
        self.run_id: int | None = None
        self._run_active = False
        self._killed = False
        self._secrets_registered = False
        self._dbx_hook: DatabricksAsyncHook | None = None

    # -- overridden by the concrete operators ------------------------------------------------------

    def build_payload(self) -> dict[str, Any]:
        """The checked request body; raises :class:`ConfigurationError` naming the field at fault."""
        raise NotImplementedError

    def finalise_payload(self, payload: dict[str, Any], context: Context) -> dict[str, Any]:
        """Additions that need the task context (DAG params, OpenLineage); default: none."""
        return payload

    async def prepare(self, client: JobsClient, payload: dict[str, Any]) -> dict[str, Any]:
        """Last steps that need the API (e.g. resolving a job name); default: none."""
        return payload

    def repair_policy(self) -> RepairPolicy:
        """When a failed run is repaired before giving up; default: never."""
        return NO_REPAIR

    def repair(self, context: Context, event: RunEvent) -> Run:
        """Repair the failed run of ``event`` (only when the verdict says so); return the run."""
        raise NotImplementedError

    # -- execution ----------------------------------------------------------------------------------

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

    def _checked_payload(self, context: Context) -> dict[str, Any]:
        if not self.databricks_conn_id or not isinstance(self.databricks_conn_id, str):
            raise DatabricksConfigError("databricks_conn_id", "must name an Airflow connection")
        try:
            return self.finalise_payload(self.build_payload(), context)
        except DatabricksConfigError:
            raise
        except ConfigurationError as exc:
            raise _config_error(exc) from None

    def _submitted(self, run_id: int) -> None:
        self.run_id = run_id
        self._run_active = True

    async def _begin(
        self,
        client: JobsClient,
        payload: dict[str, Any],
        identity: TaskIdentity,
        started: float,
        stored: int | None = None,
    ) -> tuple[SubmitResult, Details | None]:
        """Submit (or re-attach) and read the first state; fetch failure details if it already failed.

        :param stored: the run id the official operator kept in the task state store, if any.
        """
        body = await self.prepare(client, payload)
        submit = type(self)._submit
        result = await submit_idempotent(
            client,
            submit,
            body,
            identity=identity,
            try_started_ms=int(started * 1000),
            on_submitted=self._submitted,
            stored_run_id=stored,
        )
        details = None
        if self.wait_for_termination and judge(result.run.state).outcome is Outcome.FAILED:
            event = RunEvent.final(result.run)
            details = await fetch_details(client, event.failed_tasks, run_id=event.run_id)
        return result, details

    def execute(self, context: Context) -> None:
        """Submit the run, then finish at once, return (no waiting), defer, or wait in the worker."""
        payload = self._checked_payload(context)
        self._register_secrets()
        ti = context["ti"]
        started = _try_started(ti)
        identity = task_identity(
            ti,
            durable=self.durable,
            clear=clear_number(context),
            key=idempotency_key(self.databricks_conn_id),
        )
        stored = stored_run_id(context, self.official_run_key) if self.durable else None
        try:
            result, details = self._hook().run_sync(
                partial(self._begin, payload=payload, identity=identity, started=started, stored=stored)
            )
        except DatabricksConfigError:
            raise
        except ConfigurationError as exc:  # the connection, a job name, a colliding token
            raise _config_error(exc) from None
        run = result.run
        self.run_id = run.run_id
        self._push_xcoms(ti, run)
        verb = "Re-attached to" if result.reattached else "Submitted"
        self.log.info("%s Databricks run %s; view it at %s", verb, run.run_id, run.run_page_url)
        if result.stored:
            self.log.info(
                "Databricks run %s was started by an earlier try and kept under the task state key %r "
                "(the official operator's durable run id); nothing was submitted",
                run.run_id,
                self.official_run_key,
            )
        if not self.wait_for_termination:
            self._run_active = False
            return
        if judge(run.state).is_final:
            self._run_active = False
            self._resolve(context, RunEvent.final(run), details)
            return
        self._wait(context, run.run_id, run.run_page_url)

    def _push_xcoms(self, ti: Any, run: Run) -> None:
        """The official keys: ``job_id`` first when deferrable, then ``run_id`` and ``run_page_url``."""
        if not self.do_xcom_push:
            return
        if self.deferrable and self.pushes_job_id_when_deferrable:
            ti.xcom_push(key=XCOM_JOB_ID_KEY, value=run.job_id or None)
        ti.xcom_push(key=XCOM_RUN_ID_KEY, value=run.run_id)
        ti.xcom_push(key=XCOM_RUN_PAGE_URL_KEY, value=run.run_page_url)

    def _trigger(
        self, run_id: int, run_page_url: str, started: float, repairs: int = 0, earlier: Sequence[str] = ()
    ) -> DatabricksRunTrigger:
        """The trigger watching ``run_id``; it carries the repairs made so far back in its event."""
        return DatabricksRunTrigger(
            run_id=run_id,
            databricks_conn_id=self.databricks_conn_id,
            polling_period_seconds=self.polling_period_seconds,
            retry_limit=self.databricks_retry_limit,
            retry_delay=self.databricks_retry_delay,
            run_page_url=run_page_url,
            deadline=self._deadline(started),
            cancel_on_kill=self.cancel_on_kill,
            repairs=repairs,
            earlier_failures=earlier,
        )

    def _deadline(self, started: float) -> float | None:
        """Epoch seconds when the try started ``started`` must end: ``execution_timeout`` after it."""
        return None if self.execution_timeout is None else started + self.execution_timeout.total_seconds()

    def _wait(
        self, context: Context, run_id: int, run_page_url: str, repairs: int = 0, earlier: Sequence[str] = ()
    ) -> None:
        """Wait for the run: defer to the triggerer, or (``deferrable=False``) poll from this worker."""
        trigger = self._trigger(run_id, run_page_url, _try_started(context["ti"]), repairs, earlier)
        if self.deferrable:
            self._defer_to_trigger(trigger)
        self._resolve(context, self._wait_here(trigger))

    def _wait_here(self, trigger: DatabricksRunTrigger) -> RunEvent:
        """Run ``trigger`` in this worker; a task killed meanwhile never acts on what it saw."""
        self._run_active = True
        event = wait_in_worker(trigger)
        self._run_active = False
        return replace(event, stopped=StopReason.KILLED) if self._killed else event

    def _defer_to_trigger(self, trigger: DatabricksRunTrigger) -> NoReturn:
        timeout: timedelta | None = None
        if trigger.deadline is not None:
            remaining = max(trigger.deadline - time.time(), 0.0)
            timeout = timedelta(seconds=remaining + DEFERRAL_GRACE_SECONDS)
        if self.cancel_on_kill and not TRIGGER_ON_KILL:
            self.log.warning(
                "This Airflow does not tell triggers that a deferred task was killed (Airflow 3.3 does): "
                "marking this task failed or clearing it will not cancel Databricks run %s",
                trigger.run_id,
            )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)

    def execute_complete(
        self,
        context: Context,
        event: Mapping[str, Any] | None = None,
        earlier_failures: Sequence[str] | None = None,
    ) -> None:
        """Resume after the trigger fired (ours, or the official provider's): succeed, repair or raise.

        :param earlier_failures: only from a deferral of an earlier release, which kept them here;
            the trigger's event carries them now.
        """
        self._register_secrets()  # a resumed worker has not read the connection: teach the masker first
        policy = self.repair_policy()
        try:
            if is_official_event(event):
                official = read_official_event(cast("Mapping[str, Any]", event))
                # The official trigger says whether a repair is still due (its operator repairs once).
                decoded, policy = official.event, policy if official.repair_run else NO_REPAIR
            else:
                decoded = RunEvent.from_payload(event)
        except ValueError as exc:
            raise DatabricksRunFailedError(f"Malformed event from the Databricks trigger: {exc}") from None
        if earlier_failures and not decoded.repairs:
            earlier = tuple(redact(str(message)) for message in earlier_failures)
            decoded = replace(decoded, repairs=len(earlier), earlier_failures=earlier)
        self.run_id = decoded.run_id
        self._resolve(context, decoded, policy=policy)

    def _resolve(
        self,
        context: Context,
        event: RunEvent,
        details: Details | None = None,
        *,
        policy: RepairPolicy | None = None,
    ) -> None:
        """Do what :func:`decide` says: succeed, repair the run and watch it again, or report and raise.

        :param details: the failed tasks' details when already fetched; fetched here otherwise.
        :param policy: the repair policy; the operator's own when not given.
        """
        self._register_secrets()
        policy = self.repair_policy() if policy is None else policy
        deadline = self._deadline(_try_started(context["ti"]))
        passed = deadline is not None and time.time() >= deadline
        verdict = decide(
            event.stopped, event.state, policy=policy, repairs_done=event.repairs, deadline_passed=passed
        )
        if verdict.action is Action.SUCCEED:
            self._succeeded(event, verdict.reason, context["ti"])
            return
        details = self._details(event) if details is None else details
        if verdict.action is Action.REPAIR:
            self._repair_and_wait(context, event, details)
            return
        if policy.enabled:
            self.log.warning("Databricks run %s is not repaired: %s", event.run_id, verdict.reason)
        self._fail(event, details)

    def _repair_and_wait(self, context: Context, event: RunEvent, details: Details) -> None:
        """Report this attempt, repair the run, and watch it again carrying the repair with the trigger."""
        attempt = event.repairs + 1
        self._log_report(event, details, f"Attempt {attempt} of Databricks run {event.run_id} failed")
        run = self.repair(context, event)
        self._push_xcoms(context["ti"], run)  # as the official operators do after a repair
        earlier = (*event.earlier_failures, redact(short_message(event, details)))
        self._wait(context, event.run_id, event.run_page_url, attempt, earlier)

    def _log_report(self, event: RunEvent, details: Details, header: str) -> None:
        lines = report_lines(event, details) if event.status == "failed" else [short_message(event)]
        for line in ([header] if header else []) + lines:
            self.log.error("%s", redact(line))

    def _fail(self, event: RunEvent, details: Details) -> NoReturn:
        """Write the failure report and raise its one line (naming the first attempt after a repair)."""
        if event.status == "success":
            raise DatabricksRunFailedError(
                f"Malformed event: run {event.run_id} succeeded with no final state"
            )
        attempt = (
            f"Attempt {event.repairs + 1} of Databricks run {event.run_id} failed" if event.repairs else ""
        )
        self._log_report(event, details, attempt)
        message = short_message(event, details)
        if event.earlier_failures:
            after = "after a repair" if event.repairs <= 1 else f"after {event.repairs} repairs"
            message += f" ({after}; the first attempt failed: {event.earlier_failures[0]})"
        raise DatabricksRunFailedError(redact(message))

    def _succeeded(self, event: RunEvent, reason: str, ti: Any) -> None:
        """Log the success and what the notebooks printed; push their exit values to ``ti``."""
        url = event.run_page_url
        self.log.info("Databricks run %s succeeded (%s); run page: %s", event.run_id, reason, url)
        if event.failed_tasks:  # SUCCESS_WITH_FAILURES: the failed tasks, as a failure would report them
            for line in partial_failure_lines(event, self._details(event)):
                self.log.warning("%s", redact(line))
        xcoms = after_success(
            self._hook().run_sync,
            self.log,
            event.run_id,
            log_output=self.log_notebook_output,
            xcom=self.do_xcom_push and ti is not None,
        )
        for key, value in xcoms.items():
            ti.xcom_push(key=key, value=redact(value))

    def _details(self, event: RunEvent) -> Details:
        """The failed tasks' details, fetched in the worker through one client; never hides the failure."""
        if not event.failed_tasks:
            return ()
        fetch = partial(fetch_details, tasks=event.failed_tasks, run_id=event.run_id)
        try:
            return self._hook().run_sync(fetch)
        except Exception as exc:
            return tuple(TaskDetails(t).with_problem("the task output", exc) for t in event.failed_tasks)

    def _register_secrets(self) -> None:
        """Register the connection's secrets with Airflow's masker in this process, once."""
        if not self._secrets_registered:
            self._hook().register_secrets()
            self._secrets_registered = True

    # -- cancellation -------------------------------------------------------------------------------

    def on_kill(self) -> None:
        """Cancel the run submitted by this process, if it may still be going and cancel_on_kill is set."""
        self._killed = True
        if self.run_id is None or not self._run_active:
            self.log.info("Task killed before a Databricks run was being watched; nothing to cancel")
            return
        if not self.cancel_on_kill:
            self.log.info(
                "Task killed; leaving Databricks run %s running (cancel_on_kill=False)", self.run_id
            )
            return
        self._cancel(self.run_id)

    def _cancel(self, run_id: int) -> None:
        if cancel_in_thread(self._hook(), run_id, self.log):
            self._run_active = False
