"""Start and stop a SQL warehouse; wait for ``RUNNING`` or ``STOPPED`` in the triggerer (official drop-ins).

``execute`` reads the warehouse's state once and sends the start (or stop) only when it is needed: a
warehouse already there finishes at once, one already on its way is only waited for, and one that is
deleted fails at once, in one line. Waiting happens in
:class:`~airflow_dbx_async.triggers.DatabricksWarehouseTrigger` (in the worker with
``deferrable=False``), which also starts a ``STOPPING`` warehouse once it has stopped. There is nothing
to cancel: Databricks has no cancel for a start or a stop.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_dbx_async.client import ConfigurationError, WarehouseState, check_number
from airflow_dbx_async.client.config import DEFAULT_RETRY_DELAY_SECONDS, DEFAULT_RETRY_LIMIT
from airflow_dbx_async.exceptions import DatabricksConfigError, DatabricksWarehouseError
from airflow_dbx_async.hooks import DEFAULT_CONN_ID, DatabricksAsyncHook, redact, retry_policy
from airflow_dbx_async.operators._operator_base import DEFERRAL_GRACE_SECONDS
from airflow_dbx_async.operators._payload import check_knobs
from airflow_dbx_async.operators._task_identity import try_started
from airflow_dbx_async.operators._worker_wait import first_payload_in_worker
from airflow_dbx_async.outcome import WarehouseEvent, history_text, saw, warehouse_message
from airflow_dbx_async.triggers import DatabricksWarehouseTrigger

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

    from airflow_dbx_async.client import JobsClient, Warehouse

__all__ = (
    "DatabricksStartWarehouseOperator",
    "DatabricksStopWarehouseOperator",
    "DatabricksWarehouseOperatorBase",
)

_GONE = (WarehouseState.DELETING, WarehouseState.DELETED)


class DatabricksWarehouseOperatorBase(BaseOperator):
    """What starting and stopping share; use one of the two operators.

    :param warehouse_id: the SQL warehouse (templated).
    :param databricks_conn_id: the Airflow connection id (templated).
    :param wait_for_termination: wait until the warehouse reaches the target state.
    :param polling_period_seconds: the longest pause between two looks at the warehouse; ``0`` looks
        every :data:`~airflow_dbx_async.operators._payload.MIN_POLLING_PERIOD_SECONDS` seconds.
    :param timeout: seconds to wait for the target state before the task fails (3600).
    :param databricks_retry_limit: attempts per request, the first included (>= 1).
    :param databricks_retry_delay: first backoff delay in seconds.
    :param databricks_retry_args: accepted for compatibility; the client's own backoff is used.
    :param deferrable: wait in the triggerer (default); ``False`` waits in the worker with the same code.
    """

    template_fields: Sequence[str] = ("databricks_conn_id", "warehouse_id")
    ui_color = "#1CB1C2"
    ui_fgcolor = "#fff"
    #: the state waited for
    target: ClassVar[WarehouseState]

    def __init__(
        self,
        warehouse_id: str,
        *,
        databricks_conn_id: str = DEFAULT_CONN_ID,
        wait_for_termination: bool = True,
        polling_period_seconds: int = 30,
        timeout: float = 3600,
        databricks_retry_limit: int = DEFAULT_RETRY_LIMIT,
        databricks_retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS,
        databricks_retry_args: dict[Any, Any] | None = None,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        try:
            period = check_knobs(polling_period_seconds=polling_period_seconds)
            check_number("timeout", timeout, minimum=0, inclusive=False)
            retry_policy(databricks_retry_limit, databricks_retry_delay)
        except ConfigurationError as exc:
            raise DatabricksConfigError.of(exc) from None
        self.warehouse_id = warehouse_id
        self.databricks_conn_id = databricks_conn_id
        self.wait_for_termination = wait_for_termination
        if period != polling_period_seconds:
            self.log.warning(
                "polling_period_seconds=%s: polling every %s s instead (the shortest period)",
                polling_period_seconds,
                period,
            )
        self.polling_period_seconds = period
        self.timeout = timeout
        self.databricks_retry_limit = databricks_retry_limit
        self.databricks_retry_delay = databricks_retry_delay
        self.databricks_retry_args = databricks_retry_args
        self.deferrable = deferrable

    def _hook(self) -> DatabricksAsyncHook:
        return DatabricksAsyncHook(
            self.databricks_conn_id,
            retry_limit=self.databricks_retry_limit,
            retry_delay=self.databricks_retry_delay,
        )

    def _needs_request(self, state: WarehouseState) -> bool:
        """Whether the start (or stop) must be sent now, given the state read first."""
        raise NotImplementedError

    async def _request(self, client: JobsClient) -> None:
        """Send the start (or stop)."""
        raise NotImplementedError

    async def _begin(self, client: JobsClient) -> Warehouse:
        """Read the state; send the start (or stop) when needed; fail at once on a deleted warehouse."""
        warehouse = await client.sql.get_warehouse(self.warehouse_id)
        if warehouse.state in _GONE:
            raise DatabricksWarehouseError(
                f"Databricks SQL warehouse {self.warehouse_id} is {warehouse.state.value}; "
                f"it cannot become {self.target.value}."
            )
        if warehouse.state is not self.target and self._needs_request(warehouse.state):
            await self._request(client)
        return warehouse

    def execute(self, context: Context) -> None:
        """Start (or stop) the warehouse if needed, then finish, return, defer or wait in the worker."""
        if not isinstance(self.warehouse_id, str) or not self.warehouse_id.strip():
            raise DatabricksConfigError("warehouse_id", f"must be provided, got {self.warehouse_id!r}")
        if not isinstance(self.databricks_conn_id, str) or not self.databricks_conn_id:
            raise DatabricksConfigError("databricks_conn_id", "must name an Airflow connection")
        hook = self._hook()
        hook.register_secrets()
        try:
            warehouse = hook.run_sync(self._begin)
        except ConfigurationError as exc:  # the connection
            raise DatabricksConfigError.of(exc) from None
        state = warehouse.raw_state or warehouse.state.value
        if warehouse.state is self.target:
            self.log.info("Databricks SQL warehouse %s is already %s", self.warehouse_id, state)
            return
        if not self.wait_for_termination:
            return
        self.log.info(
            "Databricks SQL warehouse %s is %s; waiting for %s", self.warehouse_id, state, self.target.value
        )
        trigger = DatabricksWarehouseTrigger(
            warehouse_id=self.warehouse_id,
            target_state=self.target.value,
            databricks_conn_id=self.databricks_conn_id,
            polling_period_seconds=self.polling_period_seconds,
            retry_limit=self.databricks_retry_limit,
            retry_delay=self.databricks_retry_delay,
            deadline=self._deadline(context),
            history=saw((), state, time.time()),
        )
        if self.deferrable:
            remaining = max((trigger.deadline or time.time()) - time.time(), 0.0)
            timeout = timedelta(seconds=remaining + DEFERRAL_GRACE_SECONDS)
            self.defer(trigger=trigger, method_name="execute_complete", timeout=timeout)
        self._resolve(WarehouseEvent.from_payload(first_payload_in_worker(trigger)))

    def _deadline(self, context: Context | None) -> float:
        """Epoch seconds: ``timeout`` from now, or the try's ``execution_timeout`` when that comes first."""
        deadline = time.time() + float(self.timeout)
        ti = context.get("ti") if context is not None else None
        if self.execution_timeout is not None and ti is not None:
            deadline = min(deadline, try_started(ti) + self.execution_timeout.total_seconds())
        return deadline

    def execute_complete(self, context: Context | None, event: Mapping[str, Any] | None = None) -> None:
        """Resume after the trigger fired (ours, or the official provider's): succeed or raise one line."""
        if not event:
            raise DatabricksWarehouseError("The Databricks SQL warehouse trigger completed without an event.")
        try:
            decoded = WarehouseEvent.from_payload(event)
        except ValueError as exc:
            raise DatabricksWarehouseError(
                f"Malformed event from the Databricks warehouse trigger: {exc}"
            ) from None
        self._resolve(decoded)

    def _resolve(self, event: WarehouseEvent) -> None:
        if event.status == "success":
            self.log.info("Databricks SQL warehouse %s reached %s", event.warehouse_id, event.target_state)
            return
        message = warehouse_message(event, float(self.timeout))
        self.log.error("%s", redact(message))
        if event.history:
            self.log.error("  states seen: %s", history_text(event.history))
        raise DatabricksWarehouseError(redact(message))


class DatabricksStartWarehouseOperator(DatabricksWarehouseOperatorBase):
    """Start a SQL warehouse and wait until it is ``RUNNING``.

    A drop-in for the official operator of the same name (same parameters, defaults and templated
    fields). Nothing is sent when the warehouse is already running or starting. A warehouse that is
    stopping is started once it has stopped (the trigger sends the start); with
    ``wait_for_termination=False`` the start is sent at once.

    :param warehouse_id: the SQL warehouse (templated).
    """

    target = WarehouseState.RUNNING

    def _needs_request(self, state: WarehouseState) -> bool:
        if state is WarehouseState.STOPPING:
            return not self.wait_for_termination  # else the trigger starts it once it has stopped
        return state is not WarehouseState.STARTING

    async def _request(self, client: JobsClient) -> None:
        self.log.info("Starting Databricks SQL warehouse %s", self.warehouse_id)
        await client.sql.start_warehouse(self.warehouse_id)


class DatabricksStopWarehouseOperator(DatabricksWarehouseOperatorBase):
    """Stop a SQL warehouse and wait until it is ``STOPPED``.

    A drop-in for the official operator of the same name (same parameters, defaults and templated
    fields). Nothing is sent when the warehouse is already stopped or stopping.

    :param warehouse_id: the SQL warehouse (templated).
    """

    target = WarehouseState.STOPPED

    def _needs_request(self, state: WarehouseState) -> bool:
        return state is not WarehouseState.STOPPING

    async def _request(self, client: JobsClient) -> None:
        self.log.info("Stopping Databricks SQL warehouse %s", self.warehouse_id)
        await client.sql.stop_warehouse(self.warehouse_id)
