"""The official hook's interface; it lives in :mod:`airflow_dbx_async.hooks` (this path keeps working).

``RunState`` is the official name of :class:`~airflow_dbx_async.hooks.HookRunState` (not the
client's :class:`~airflow_dbx_async.client.RunState`), kept here so that code written for
``airflow.providers.databricks.hooks.databricks`` imports unchanged.
"""

from __future__ import annotations

from airflow_dbx_async.exceptions import DatabricksApiError
from airflow_dbx_async.hooks import ClusterState, DatabricksHook, HookRunState, RunLifeCycleState

RunState = HookRunState

__all__ = ("ClusterState", "DatabricksApiError", "DatabricksHook", "RunLifeCycleState", "RunState")
