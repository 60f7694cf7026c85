"""The workflow repair plugin; it lives in :mod:`airflow_dbx_async.workflow.plugin`.

This path is the ``airflow.plugins`` entry point and keeps working.
"""

from __future__ import annotations

from airflow_dbx_async.workflow.plugin import DatabricksWorkflowRepairPlugin, app

__all__ = ("DatabricksWorkflowRepairPlugin", "app")
