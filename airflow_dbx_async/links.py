"""The "See Databricks Job Run" button on the task page.

In Airflow 3 the worker resolves the link when the task finishes and stores it, so ``get_link``
reads the ``run_page_url`` XCom the operator pushed right after submitting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = ("XCOM_JOB_ID_KEY", "XCOM_RUN_ID_KEY", "XCOM_RUN_PAGE_URL_KEY", "DatabricksJobRunLink")

XCOM_RUN_ID_KEY = "run_id"
XCOM_RUN_PAGE_URL_KEY = "run_page_url"
XCOM_JOB_ID_KEY = "job_id"


class DatabricksJobRunLink(BaseOperatorLink):
    """Link to the Databricks run page of the run a task submitted."""

    name = "See Databricks Job Run"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the run page URL pushed under the ``run_page_url`` XCom key, or ``""``."""
        from airflow.sdk.execution_time.xcom import XCom

        value: Any = XCom.get_value(key=XCOM_RUN_PAGE_URL_KEY, ti_key=ti_key)
        return value if isinstance(value, str) else ""
