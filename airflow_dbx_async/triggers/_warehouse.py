"""The trigger that waits for a SQL warehouse to be ``RUNNING`` or ``STOPPED``; one event.

It is the shared watch loop of the SQL triggers (``SqlWatch``) over
``GET /api/2.0/sql/warehouses/{id}``. Start and stop are idempotent, so it sends them itself where
waiting alone would never end: a warehouse waited for to run that is ``STOPPED`` gets a start (this is
how a start of a ``STOPPING`` warehouse waits for the stop, then starts it), one waited for to stop
that is ``RUNNING`` gets a stop, at most three times in one wait. Seen moving towards the target and
then back (a start that failed, a stop undone by a new start), it fails with the warehouse's health
summary. There is nothing to cancel: Databricks has no cancel for a start or a stop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from airflow_dbx_async.client import ConfigurationError, WarehouseState
from airflow_dbx_async.client.config import DEFAULT_RETRY_DELAY_SECONDS, DEFAULT_RETRY_LIMIT
from airflow_dbx_async.hooks import DEFAULT_CONN_ID
from airflow_dbx_async.outcome import StopReason, WarehouseEvent, warehouse_message
from airflow_dbx_async.triggers._sql import PUBLIC_MODULE, SqlWatch

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_dbx_async.client import JobsClient, Warehouse
    from airflow_dbx_async.outcome import EventStatus

__all__ = ("WAREHOUSE_TRIGGER_CLASSPATH", "DatabricksWarehouseTrigger")

WAREHOUSE_TRIGGER_CLASSPATH = f"{PUBLIC_MODULE}.DatabricksWarehouseTrigger"
# How often the trigger sends a start (or stop) itself before it only waits.
_MAX_REQUESTS = 3
_TARGETS = {
    # target: (moving towards it, settled the other way)
    WarehouseState.RUNNING: (WarehouseState.STARTING, WarehouseState.STOPPED),
    WarehouseState.STOPPED: (WarehouseState.STOPPING, WarehouseState.RUNNING),
}
_GONE = (WarehouseState.DELETING, WarehouseState.DELETED)


class DatabricksWarehouseTrigger(SqlWatch[WarehouseEvent]):
    """Poll a SQL warehouse until it is ``RUNNING`` or ``STOPPED``; yield one event.

    :param warehouse_id: the warehouse to watch.
    :param target_state: ``RUNNING`` or ``STOPPED``.
    :param databricks_conn_id: the Airflow connection id.
    :param polling_period_seconds: the longest pause between two polls.
    :param retry_limit: attempts per request, the first included.
    :param retry_delay: first backoff delay in seconds.
    :param deadline: epoch seconds after which waiting fails (nothing is cancelled), or ``None``.
    :param history: ``[state, epoch seconds]`` of the states the task saw before deferring.
    """

    __module__ = PUBLIC_MODULE
    _log = structlog.get_logger(f"{PUBLIC_MODULE}.DatabricksWarehouseTrigger")

    def __init__(
        self,
        *,
        warehouse_id: str,
        target_state: str,
        databricks_conn_id: str = DEFAULT_CONN_ID,
        polling_period_seconds: float = 30,
        retry_limit: int = DEFAULT_RETRY_LIMIT,
        retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS,
        deadline: float | None = None,
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
        target = WarehouseState.parse(target_state)
        if target not in _TARGETS:
            raise ConfigurationError("target_state", f"must be RUNNING or STOPPED, got {target_state!r}")
        self.warehouse_id = str(warehouse_id)
        self.target_state = target.value
        self._target = target
        self._requests = 0  # starts (or stops) this watch sent
        self._moving = False  # seen moving towards the target since the last one
        self._last: Warehouse | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath (of this trigger's own class) and primitive kwargs to rebuild it in the triggerer."""
        return self.classpath, {
            "warehouse_id": self.warehouse_id,
            "target_state": self.target_state,
            **self._common_kwargs(),
        }

    @property
    def what(self) -> str:
        """``Databricks SQL warehouse <id>``."""
        return f"Databricks SQL warehouse {self.warehouse_id}"

    async def _check(self, client: JobsClient) -> WarehouseEvent | None:
        warehouse = self._last = await client.sql.get_warehouse(self.warehouse_id)
        state = warehouse.state
        self._saw(warehouse.raw_state or state.value)
        moving, away = _TARGETS[self._target]
        if state is self._target:
            return self._event("success", f"reached {self.target_state}")
        if state in _GONE:
            return self._event("failed", f"entered {state.value} while waiting for {self.target_state}")
        if state is moving:
            self._moving = True
        elif state is away and self._moving:
            went = (
                "stopped while starting" if away is WarehouseState.STOPPED else "started again while stopping"
            )
            return self._event("failed", f"{went}; it is {state.value}")
        elif state is away and self._requests < _MAX_REQUESTS:
            await self._request(client)
        return None

    async def _request(self, client: JobsClient) -> None:
        """Start (or stop) the warehouse; both are idempotent, and a start of a stopping one waits for it."""
        verb = "Starting" if self._target is WarehouseState.RUNNING else "Stopping"
        self.log.info("%s %s", verb, self.what)
        if self._target is WarehouseState.RUNNING:
            await client.sql.start_warehouse(self.warehouse_id)
        else:
            await client.sql.stop_warehouse(self.warehouse_id)
        self._requests += 1
        self._moving = False

    def _last_state(self) -> str:
        last = self._last
        return (last.raw_state or last.state.value) if last is not None else WarehouseState.UNKNOWN.value

    def _event(
        self, status: EventStatus, reason: str, stopped: StopReason = StopReason.FINAL
    ) -> WarehouseEvent:
        last = self._last
        health = ": ".join(p for p in (last.health_status, last.health_summary) if p) if last else ""
        return WarehouseEvent(
            status,
            self.warehouse_id,
            self.target_state,
            self._last_state(),
            reason,
            stopped,
            self.history,
            health,
        )

    async def _deadline_passed(self, client: JobsClient) -> WarehouseEvent:
        reason = f"did not reach {self.target_state} before the deadline; last state: {self._last_state()}"
        return self._event("failed", reason, StopReason.DEADLINE)

    def _error(self, reason: str) -> WarehouseEvent:
        return self._event("error", reason, StopReason.GAVE_UP)

    def _one_line(self, event: WarehouseEvent) -> str:
        return warehouse_message(event)
