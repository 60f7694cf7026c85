"""The workflow group's extra links; they live in :mod:`airflow_dbx_async.links` (this path keeps working)."""

from __future__ import annotations

from airflow_dbx_async.links import (
    REPAIR_URL_PREFIX,
    XCOM_JOB_RUN_LINK_KEY,
    WorkflowJobRepairAllFailedLink,
    WorkflowJobRepairSingleTaskLink,
    WorkflowJobRunLink,
    repair_page_url,
)

__all__ = (
    "REPAIR_URL_PREFIX",
    "XCOM_JOB_RUN_LINK_KEY",
    "WorkflowJobRepairAllFailedLink",
    "WorkflowJobRepairSingleTaskLink",
    "WorkflowJobRunLink",
    "repair_page_url",
)
