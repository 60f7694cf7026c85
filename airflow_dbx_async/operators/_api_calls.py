"""What the jobs-as-code and repos operators share: a few API calls in one client, then return.

These operators wait for nothing, so they never defer: ``execute`` opens one client (one connection
lookup, which also registers the connection's secrets with the masker; one session) and makes its
calls in it through ``async_to_sync``. Errors reach Airflow as the package's exceptions: bad input as
:class:`~airflow_dbx_async.exceptions.DatabricksConfigError` naming the field, an API answer as
:class:`~airflow_dbx_async.exceptions.DatabricksApiError` with ``http_status_code``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from airflow_dbx_async.client import ApiError, ConfigurationError, DatabricksError
from airflow_dbx_async.client.config import DEFAULT_RETRY_DELAY_SECONDS, DEFAULT_RETRY_LIMIT
from airflow_dbx_async.exceptions import DatabricksApiError, DatabricksConfigError
from airflow_dbx_async.hooks import DEFAULT_CONN_ID, DatabricksAsyncHook, redact, retry_policy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from airflow_dbx_async.client import JobsClient

__all__ = ("DatabricksApiOperatorBase",)

_T = TypeVar("_T")


class DatabricksApiOperatorBase(BaseOperator):
    """Shared behaviour of the operators that make a few API calls; use a concrete one.

    :param databricks_conn_id: the Airflow connection id (templated in the concrete operators).
    :param databricks_retry_limit: attempts per request, the first included (>= 1).
    :param databricks_retry_delay: first backoff delay in seconds.
    """

    def __init__(
        self,
        *,
        databricks_conn_id: str = DEFAULT_CONN_ID,
        databricks_retry_limit: int = DEFAULT_RETRY_LIMIT,
        databricks_retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        try:
            retry_policy(databricks_retry_limit, databricks_retry_delay)
        except ConfigurationError as exc:
            raise DatabricksConfigError.of(exc) from None
        self.databricks_conn_id = databricks_conn_id
        self.databricks_retry_limit = databricks_retry_limit
        self.databricks_retry_delay = databricks_retry_delay

    def call(self, fn: Callable[[JobsClient], Awaitable[_T]]) -> _T:
        """Run ``fn`` with one client of the task's connection; its errors as Airflow exceptions."""
        if not self.databricks_conn_id or not isinstance(self.databricks_conn_id, str):
            raise DatabricksConfigError("databricks_conn_id", "must name an Airflow connection")
        hook = DatabricksAsyncHook(
            self.databricks_conn_id,
            retry_limit=self.databricks_retry_limit,
            retry_delay=self.databricks_retry_delay,
        )
        try:
            return hook.run_sync(fn)
        except DatabricksConfigError:
            raise
        except ConfigurationError as exc:
            raise DatabricksConfigError.of(exc) from None
        except ApiError as exc:
            raise DatabricksApiError(redact(str(exc)), http_status_code=exc.status) from None
        except DatabricksError as exc:
            raise AirflowException(redact(str(exc))) from None
