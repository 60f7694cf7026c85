"""A worker lost between submitting the run and deferring: the retry must re-attach, not resubmit.

The first try's task process SIGKILLs itself right after the operator submitted the Databricks run
and before it defers (as if the worker's machine died). Nothing can clean up; Airflow sees the task
process die, marks the try failed and retries. The second try submits with the same idempotency
token, so Databricks answers with the still-running run instead of starting a second one.
"""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksSubmitRunOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

__all__ = ("WorkerLostAfterSubmitOperator", "dag")


class WorkerLostAfterSubmitOperator(DatabricksSubmitRunOperator):
    """Dies (SIGKILL, no cleanup) on its first try, after the submit and before deferring."""

    _try_number = 0

    def execute(self, context: Context) -> None:
        self._try_number = int(context["ti"].try_number)
        super().execute(context)

    def defer(
        self,
        *,
        trigger: BaseTrigger,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | int | float | None = None,
    ) -> NoReturn:
        if self._try_number == 1:
            self.log.warning("Simulating a lost worker: killing the task process before it defers")
            os.kill(os.getpid(), signal.SIGKILL)
        super().defer(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)


with DAG(dag_id="e2e_reattach_dag", schedule=None, catchup=False) as dag:
    WorkerLostAfterSubmitOperator(
        task_id="reattach",
        databricks_conn_id="databricks",
        run_name="e2e-reattach-{{ run_id }}",
        new_cluster={"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1},
        notebook_task={
            "notebook_path": "/Users/airflow@example.com/Sleep_Notebook",
            "base_parameters": {"seconds": "25"},
        },
        polling_period_seconds=1,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
