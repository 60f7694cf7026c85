"""Hooks: an Airflow connection becomes a client configuration; the official hook's calls on our client.

:class:`DatabricksAsyncHook` reads a Databricks connection the way the official provider does
(:func:`connection_to_config`) and runs the async client from a worker or the triggerer.
:class:`DatabricksHook` keeps the official ``DatabricksHook``'s methods, over the same client. The
connection's secrets are registered with Airflow's masker where the connection is read, and
everything the operators log from a run passes through :func:`redact`.
"""

from __future__ import annotations

from airflow_dbx_async.hooks._connection import (
    AIRFLOW_NAMES,
    DEFAULT_CONN_ID,
    DatabricksAsyncHook,
    DatabricksConfigError,
    airflow_error,
    connection_to_config,
    retry_policy,
)
from airflow_dbx_async.hooks._databricks_hook import DatabricksHook, latest_repair_id
from airflow_dbx_async.hooks._hook_states import ClusterState, RunLifeCycleState
from airflow_dbx_async.hooks._hook_states import RunState as HookRunState
from airflow_dbx_async.hooks._readers import connection_extra, read_flag
from airflow_dbx_async.hooks._secrets import redact, register_connection_secrets

__all__ = (
    "AIRFLOW_NAMES",
    "DEFAULT_CONN_ID",
    "ClusterState",
    "DatabricksAsyncHook",
    "DatabricksConfigError",
    "DatabricksHook",
    "HookRunState",
    "RunLifeCycleState",
    "airflow_error",
    "connection_extra",
    "connection_to_config",
    "latest_repair_id",
    "read_flag",
    "redact",
    "register_connection_secrets",
    "retry_policy",
)
