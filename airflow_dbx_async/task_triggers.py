"""The trigger that watches one task run inside a Databricks job run (a workflow task group member).

Task runs never appear in ``runs/list``, so the shared sweep cannot answer for them; this trigger
asks ``runs/get`` for its task run directly, over the workspace's shared session and rate ceiling,
with the same poll ramp, deadline, cancel and failure report as
:class:`~airflow_dbx_async.triggers.DatabricksRunTrigger`.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from airflow_dbx_async import triggers
from airflow_dbx_async.triggers import DatabricksRunTrigger

if TYPE_CHECKING:
    from airflow_dbx_async.client import JobsClient, Run, RunWatch

__all__ = ("TASK_RUN_TRIGGER_CLASSPATH", "DatabricksTaskRunTrigger")

TASK_RUN_TRIGGER_CLASSPATH = "airflow_dbx_async.task_triggers.DatabricksTaskRunTrigger"


class DatabricksTaskRunTrigger(DatabricksRunTrigger):
    """Poll one task run (by its own ``run_id``) until it ends; yield one event.

    Takes the parameters of :class:`~airflow_dbx_async.triggers.DatabricksRunTrigger`; ``run_id``
    is the task run's id, and cancelling on kill cancels that task run only, not its siblings.
    """

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and primitive kwargs to rebuild this trigger in the triggerer."""
        return TASK_RUN_TRIGGER_CLASSPATH, super().serialize()[1]

    async def _observe(self, client: JobsClient, watch: RunWatch, delay: float) -> Run:
        """The task run's state after ``delay`` seconds, from ``runs/get``."""
        if self.deadline is not None:
            delay = max(0.0, min(delay, self.deadline - time.time()))
        await asyncio.sleep(delay)
        run = await client.get_run(self.run_id)
        triggers.poll_counter.value += 1
        return run
