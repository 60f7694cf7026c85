"""The async Databricks Jobs API client: aiohttp and the standard library only, never Airflow.

Typical use::

    from airflow_dbx_async.client import ClientConfig, JobsClient, TokenAuth, judge

    config = ClientConfig(base_url="https://adb-1.azuredatabricks.net", auth=TokenAuth("dapi..."))
    async with JobsClient(config) as client:
        run_id = await client.submit_run({"run_name": "x", "tasks": [...]})
        run = await client.get_run(run_id)
        verdict = judge(run.state)
"""

from __future__ import annotations

from airflow_dbx_async.client._auth import (
    AZURE_DATABRICKS_RESOURCE_ID,
    TOKEN_REFRESH_MARGIN_SECONDS,
    clear_token_cache,
)
from airflow_dbx_async.client._client import (
    JobsClient,
)
from airflow_dbx_async.client._export import (
    CellOutput,
    ExportedView,
    NotebookOutput,
    RunExport,
)
from airflow_dbx_async.client._poller import (
    ListPage,
    RunPoller,
    RunWatch,
)
from airflow_dbx_async.client._pool import (
    DEFAULT_KEEPALIVE_SECONDS,
    DEFAULT_LIMIT_PER_HOST,
    SESSION_POOL,
    SessionPool,
)
from airflow_dbx_async.client._ratelimit import (
    RateLimiter,
)
from airflow_dbx_async.client._retry import (
    backoff_delay,
    backoff_delays,
    call_with_retry,
    is_retryable,
    is_safe_to_repeat,
)
from airflow_dbx_async.client._text import (
    sanitize_text,
)
from airflow_dbx_async.client._transport import (
    parse_retry_after,
)
from airflow_dbx_async.client._workspace import (
    WORKSPACES,
    SharedWorkspace,
    WorkspaceRegistry,
)
from airflow_dbx_async.client.config import (
    DEFAULT_API_VERSION,
    DEFAULT_MAX_REQUESTS_PER_SECOND,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUT_SECONDS,
    Auth,
    AzureServicePrincipalAuth,
    BasicAuth,
    ClientConfig,
    OAuthM2MAuth,
    RetryPolicy,
    TokenAuth,
    normalise_base_url,
)
from airflow_dbx_async.client.errors import (
    ApiError,
    AuthError,
    ConfigurationError,
    DatabricksError,
    NotFound,
    RateLimited,
    RunFailed,
    ServerError,
    Timeout,
    TransportError,
    api_error_for,
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
    "AZURE_DATABRICKS_RESOURCE_ID",
    "ApiError",
    "Auth",
    "AuthError",
    "AzureServicePrincipalAuth",
    "BasicAuth",
    "CellOutput",
    "ClientConfig",
    "ConfigurationError",
    "DEFAULT_API_VERSION",
    "DEFAULT_KEEPALIVE_SECONDS",
    "DEFAULT_LIMIT_PER_HOST",
    "DEFAULT_MAX_REQUESTS_PER_SECOND",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT_SECONDS",
    "DatabricksError",
    "ExportedView",
    "JobsClient",
    "Judgement",
    "LifeCycleState",
    "ListPage",
    "NotFound",
    "NotebookOutput",
    "OAuthM2MAuth",
    "Outcome",
    "RateLimited",
    "RateLimiter",
    "ResultState",
    "RetryPolicy",
    "Run",
    "RunExport",
    "RunFailed",
    "RunOutput",
    "RunPoller",
    "RunState",
    "RunWatch",
    "RunsPage",
    "SESSION_POOL",
    "ServerError",
    "SessionPool",
    "SharedWorkspace",
    "TOKEN_REFRESH_MARGIN_SECONDS",
    "TaskRun",
    "Timeout",
    "TokenAuth",
    "TransportError",
    "WORKSPACES",
    "WorkspaceRegistry",
    "api_error_for",
    "backoff_delay",
    "backoff_delays",
    "call_with_retry",
    "clear_token_cache",
    "is_retryable",
    "is_safe_to_repeat",
    "judge",
    "normalise_base_url",
    "parse_retry_after",
    "sanitize_text",
)
