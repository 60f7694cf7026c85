"""Workflow task groups: a group of notebook and task operators run as one Databricks job.

:class:`DatabricksWorkflowTaskGroup` (the official drop-in) adds a launch task that creates or resets
the job and starts it once per DAG run; each task of the group then watches its own task run (see
:class:`~airflow_dbx_async.operators.DatabricksTaskBaseOperator`). A failed group is repaired from
the Airflow UI through the plugin in :mod:`airflow_dbx_async.workflow.plugin`, whose links are in
:mod:`airflow_dbx_async.links`.
"""

from __future__ import annotations

from airflow_dbx_async.workflow._group import (
    LAUNCH_TASK_ID,
    XCOM_TASK_KEYS_KEY,
    DatabricksWorkflowTaskGroup,
    WorkflowRunMetadata,
    deep_merge,
)

__all__ = (
    "LAUNCH_TASK_ID",
    "XCOM_TASK_KEYS_KEY",
    "DatabricksWorkflowTaskGroup",
    "WorkflowRunMetadata",
    "deep_merge",
)
