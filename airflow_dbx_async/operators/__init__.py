"""The operators: submit-run, run-now, notebook and task (deferrable), create-jobs and repos (drop-ins).

Parameter names, defaults and templated fields follow the official provider, so migrating is a change
of import. What they send (the checked payload, its idempotency token, the parameters forwarded from
the DAG run) is built here; waiting happens in :mod:`airflow_dbx_async.triggers` (or in the worker
with ``deferrable=False``); what the task then does, and the failure report, come from
:mod:`airflow_dbx_async.outcome`. The SQL statement and warehouse operators (deferrable too) wait
with the SQL triggers; the SQL statement sensor is in :mod:`airflow_dbx_async.sensors`.
"""

from __future__ import annotations

from airflow_dbx_async.exceptions import (
    DatabricksConfigError,
    DatabricksRunFailedError,
    DatabricksStatementFailedError,
    DatabricksWarehouseError,
)
from airflow_dbx_async.operators._idempotency import TaskIdentity as TaskIdentity
from airflow_dbx_async.operators._idempotency import make_token as make_token
from airflow_dbx_async.operators._idempotency import submit_idempotent as submit_idempotent
from airflow_dbx_async.operators._job_runs import (
    DatabricksRunNowDeferrableOperator,
    DatabricksRunNowOperator,
    DatabricksSubmitRunDeferrableOperator,
    DatabricksSubmitRunOperator,
)
from airflow_dbx_async.operators._jobs_as_code import DatabricksCreateJobsOperator
from airflow_dbx_async.operators._operator_base import DatabricksDeferrableOperatorBase
from airflow_dbx_async.operators._payload_checks import string_map as string_map
from airflow_dbx_async.operators._repos import (
    DatabricksReposCreateOperator,
    DatabricksReposDeleteOperator,
    DatabricksReposUpdateOperator,
)
from airflow_dbx_async.operators._sql_statements import (
    DatabricksSQLStatementBaseOperator,
    DatabricksSQLStatementsOperator,
)
from airflow_dbx_async.operators._task_identity import clear_number as clear_number
from airflow_dbx_async.operators._task_identity import default_task_key as default_task_key
from airflow_dbx_async.operators._task_identity import idempotency_key as idempotency_key
from airflow_dbx_async.operators._task_identity import task_identity as task_identity
from airflow_dbx_async.operators._task_identity import try_started as try_started
from airflow_dbx_async.operators._task_operators import (
    DatabricksNotebookOperator,
    DatabricksTaskBaseOperator,
    DatabricksTaskOperator,
)
from airflow_dbx_async.operators._warehouses import (
    DatabricksStartWarehouseOperator,
    DatabricksStopWarehouseOperator,
    DatabricksWarehouseOperatorBase,
)
from airflow_dbx_async.operators._workflow_member import WorkflowRunMetadata as WorkflowRunMetadata

# TaskIdentity, make_token, submit_idempotent, string_map, clear_number, idempotency_key,
# task_identity, try_started and WorkflowRunMetadata are for the workflow package (the launch task
# submits through the same re-attach rules; its result), default_task_key for its Databricks tab (the
# run name of a task's own run); they are not user API.
__all__ = (
    "DatabricksConfigError",
    "DatabricksCreateJobsOperator",
    "DatabricksDeferrableOperatorBase",
    "DatabricksNotebookOperator",
    "DatabricksReposCreateOperator",
    "DatabricksReposDeleteOperator",
    "DatabricksReposUpdateOperator",
    "DatabricksRunFailedError",
    "DatabricksRunNowDeferrableOperator",
    "DatabricksRunNowOperator",
    "DatabricksSQLStatementBaseOperator",
    "DatabricksSQLStatementsOperator",
    "DatabricksStartWarehouseOperator",
    "DatabricksStatementFailedError",
    "DatabricksStopWarehouseOperator",
    "DatabricksSubmitRunDeferrableOperator",
    "DatabricksSubmitRunOperator",
    "DatabricksTaskBaseOperator",
    "DatabricksTaskOperator",
    "DatabricksWarehouseError",
    "DatabricksWarehouseOperatorBase",
)
