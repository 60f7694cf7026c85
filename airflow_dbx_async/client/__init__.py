"""The async Databricks Jobs and SQL API client: aiohttp and the standard library only, never Airflow.

Typical use::

    from airflow_dbx_async.client import ClientConfig, JobsClient, TokenAuth, judge, judge_statement

    config = ClientConfig(base_url="https://adb-1.azuredatabricks.net", auth=TokenAuth("dapi..."))
    async with JobsClient(config) as client:
        run_id = await client.submit_run({"run_name": "x", "tasks": [...]})
        run = await client.get_run(run_id)
        verdict = judge(run.state)
        statement = await client.sql.execute_statement("SELECT 1", "<warehouse id>")
        sql_verdict = judge_statement((await client.sql.get_statement(statement.statement_id)).status)

Only what a user of the client needs is exported here, the Airflow layer included: it imports nothing
else. The machinery shared by the triggers of a triggerer (session pool, rate limiter, run poller,
workspace registry) lives in private modules; :func:`borrow_workspace` is the one way in.
"""

from __future__ import annotations

from airflow_dbx_async.client._auth import (
    Auth,
    AuthHeaders,
    AzureServicePrincipalAuth,
    BasicAuth,
    FetchToken,
    OAuthM2MAuth,
    TokenAuth,
    clear_token_cache,
)
from airflow_dbx_async.client._azure_identity import (
    AZURE_IMDS_TOKEN_URL,
    AzureManagedIdentityAuth,
    AzureTokenCredential,
    DefaultAzureCredentialAuth,
)
from airflow_dbx_async.client._client import JobsClient
from airflow_dbx_async.client._export import CellOutput, ExportedView, NotebookOutput, RunExport
from airflow_dbx_async.client._federation import (
    CallableSubjectToken,
    FederatedTokenAuth,
    KubernetesTokenRequest,
    ProjectedVolumeToken,
    SubjectTokenSource,
)
from airflow_dbx_async.client._numbers import check_number, lenient_int
from airflow_dbx_async.client._ratelimit import HoldPastDeadline, deadline_scope, through_hold
from airflow_dbx_async.client._retry import is_retryable
from airflow_dbx_async.client._sql import SqlClient
from airflow_dbx_async.client._sql_models import (
    QueryInfo,
    ResultChunk,
    Statement,
    StatementJudgement,
    StatementOutcome,
    StatementState,
    StatementStatus,
    Warehouse,
    WarehouseState,
    judge_statement,
)
from airflow_dbx_async.client._text import sanitize_text, truncate_head, truncate_tail
from airflow_dbx_async.client._watch import RunWatch
from airflow_dbx_async.client._workspace import Borrowing, borrow_workspace
from airflow_dbx_async.client._workspace_objects import (
    PermissionsClient,
    PipelinesClient,
    ReposClient,
    pipeline_name_filter,
)
from airflow_dbx_async.client.config import (
    CallPolicy,
    ClientConfig,
    Proxies,
    RetryPolicy,
    Workspace,
    normalise_base_url,
)
from airflow_dbx_async.client.errors import (
    ApiError,
    AuthError,
    ConfigurationError,
    DatabricksError,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
)
from airflow_dbx_async.client.models import (
    Judgement,
    LifeCycleState,
    Outcome,
    ResultState,
    Run,
    RunOutput,
    RunsPage,
    RunState,
    TaskRun,
    judge,
)

__all__ = (
    "AZURE_IMDS_TOKEN_URL",
    "ApiError",
    "Auth",
    "AuthError",
    "AuthHeaders",
    "AzureManagedIdentityAuth",
    "AzureServicePrincipalAuth",
    "AzureTokenCredential",
    "BasicAuth",
    "Borrowing",
    "CallPolicy",
    "CallableSubjectToken",
    "CellOutput",
    "ClientConfig",
    "ConfigurationError",
    "DatabricksError",
    "DefaultAzureCredentialAuth",
    "ExportedView",
    "FederatedTokenAuth",
    "FetchToken",
    "HoldPastDeadline",
    "JobsClient",
    "Judgement",
    "KubernetesTokenRequest",
    "LifeCycleState",
    "NotFound",
    "NotebookOutput",
    "OAuthM2MAuth",
    "Outcome",
    "PermissionsClient",
    "PipelinesClient",
    "ProjectedVolumeToken",
    "Proxies",
    "QueryInfo",
    "RateLimited",
    "ReposClient",
    "ResultChunk",
    "ResultState",
    "RetryPolicy",
    "Run",
    "RunExport",
    "RunOutput",
    "RunState",
    "RunWatch",
    "RunsPage",
    "ServerError",
    "SqlClient",
    "Statement",
    "StatementJudgement",
    "StatementOutcome",
    "StatementState",
    "StatementStatus",
    "SubjectTokenSource",
    "TaskRun",
    "Timeout",
    "TokenAuth",
    "TransportError",
    "Warehouse",
    "WarehouseState",
    "Workspace",
    "borrow_workspace",
    "check_number",
    "clear_token_cache",
    "deadline_scope",
    "is_retryable",
    "judge",
    "judge_statement",
    "lenient_int",
    "normalise_base_url",
    "pipeline_name_filter",
    "sanitize_text",
    "through_hold",
    "truncate_head",
    "truncate_tail",
)
