"""The task-run trigger; it lives in :mod:`airflow_dbx_async.triggers` (this path keeps working).

Deferrals stored by earlier releases name ``airflow_dbx_async.task_triggers.DatabricksTaskRunTrigger``;
they still deserialise through this module. The trigger now serialises
``airflow_dbx_async.triggers.DatabricksTaskRunTrigger``.
"""

from __future__ import annotations

from airflow_dbx_async.triggers import TASK_RUN_TRIGGER_CLASSPATH, DatabricksTaskRunTrigger

__all__ = ("TASK_RUN_TRIGGER_CLASSPATH", "DatabricksTaskRunTrigger")
