"""The extra links of the operators and the workflow group, and the one home of their XCom keys.

In Airflow 3 the worker resolves a link when the task finishes and stores it, so ``get_link`` reads
the XCom the task pushed: the run page (``run_page_url``) for a run of its own, the job run's page
(``databricks_job_run_link``) inside a workflow group. The repair links point at the repair page that
this package's Airflow plugin serves from the API server (see :mod:`airflow_dbx_async.workflow.plugin`);
the page decides there, at request time, which tasks have failed. With
``[databricks_async] repair_plugin_enabled = False`` the repair links are empty, so Airflow shows them
without a target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = (
    "REPAIR_URL_PREFIX",
    "XCOM_JOB_ID_KEY",
    "XCOM_JOB_RUN_LINK_KEY",
    "XCOM_NOTEBOOK_RESULTS_KEY",
    "XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY",
    "XCOM_NOTEBOOK_RESULT_KEY",
    "XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY",
    "XCOM_RUN_ID_KEY",
    "XCOM_RUN_PAGE_URL_KEY",
    "XCOM_STATEMENT_ID_KEY",
    "XCOM_TASK_KEYS_KEY",
    "DatabricksJobRunLink",
    "WorkflowJobRepairAllFailedLink",
    "WorkflowJobRepairSingleTaskLink",
    "WorkflowJobRunLink",
    "repair_page_url",
    "repair_plugin_enabled",
)

XCOM_RUN_ID_KEY = "run_id"
XCOM_RUN_PAGE_URL_KEY = "run_page_url"
XCOM_JOB_ID_KEY = "job_id"
XCOM_STATEMENT_ID_KEY = "statement_id"
"""Where the SQL statement operator and sensor push the statement's id (the official provider's key)."""
XCOM_JOB_RUN_LINK_KEY = "databricks_job_run_link"
"""Where a workflow group's tasks push the job run's page URL (the official provider's key)."""
XCOM_TASK_KEYS_KEY = "databricks_task_keys"
"""Where a workflow group's launch task pushes each task's Databricks ``task_key``."""
XCOM_NOTEBOOK_RESULT_KEY = "notebook_result"
"""A single-task run's ``dbutils.notebook.exit`` value (and ``..._truncated``); else one per task key:"""
XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY = "notebook_result_truncated"
XCOM_NOTEBOOK_RESULTS_KEY = "notebook_results"
XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY = "notebook_results_truncated"
REPAIR_URL_PREFIX = "/databricks-async"
# The Airflow configuration section of this package (``AIRFLOW__DATABRICKS_ASYNC__...``).
_CONFIG_SECTION = "databricks_async"


class DatabricksJobRunLink(BaseOperatorLink):
    """Link to the Databricks run page of the run a task submitted."""

    name = "See Databricks Job Run"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the run page URL pushed under the ``run_page_url`` XCom key, or ``""``."""
        from airflow.sdk.execution_time.xcom import XCom

        value: Any = XCom.get_value(key=XCOM_RUN_PAGE_URL_KEY, ti_key=ti_key)
        return value if isinstance(value, str) else ""


def repair_plugin_enabled() -> bool:
    """``[databricks_async] repair_plugin_enabled`` (default ``True``): whether the repair plugin serves."""
    from airflow_dbx_async._compat import conf

    return bool(conf.getboolean(_CONFIG_SECTION, "repair_plugin_enabled", fallback=True))


def repair_page_url(dag_id: str, dag_run_id: str, task_id: str) -> str:
    """The repair page for one task (a launch task stands for all failed tasks of its group)."""
    from airflow_dbx_async._compat import conf

    base = str(conf.get("api", "base_url", fallback="") or "").rstrip("/")
    parts = "/".join(quote(part, safe="") for part in (dag_id, dag_run_id, task_id))
    return f"{base}{REPAIR_URL_PREFIX}/repair/{parts}"


class WorkflowJobRunLink(BaseOperatorLink):
    """Link to the Databricks page of the group's job run."""

    name = "See Databricks Job Run"

    @property
    def xcom_key(self) -> str:
        """Where the task pushed the job run's page URL (the official provider's key)."""
        return XCOM_JOB_RUN_LINK_KEY

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The job run's page URL, or ``""`` before the job run exists."""
        from airflow.sdk.execution_time.xcom import XCom

        value: Any = XCom.get_value(key=XCOM_JOB_RUN_LINK_KEY, ti_key=ti_key)
        return value if isinstance(value, str) else ""


class WorkflowJobRepairAllFailedLink(BaseOperatorLink):
    """On the launch task: repair every failed task of the group's job run."""

    name = "Repair All Failed Tasks"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The repair page for the whole group (``""`` while the repair plugin is switched off)."""
        if not repair_plugin_enabled():
            return ""
        return repair_page_url(ti_key.dag_id, ti_key.run_id, ti_key.task_id)


class WorkflowJobRepairSingleTaskLink(BaseOperatorLink):
    """On a task of the group: repair this task in the group's job run."""

    name = "Repair a single task"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The repair page for this task (``""`` while the repair plugin is switched off)."""
        if not repair_plugin_enabled():
            return ""
        return repair_page_url(ti_key.dag_id, ti_key.run_id, ti_key.task_id)
