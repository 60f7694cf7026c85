"""Every exception a user of the Airflow layer may catch, in one place.

The operators, hooks and triggers raise these; the client's own errors are re-exported from
:mod:`airflow_dbx_async.client` so that one import covers both::

    AirflowException
    ├── DatabricksConfigError     bad input (an operator argument or a connection field), before any
    │                             request; also a client ConfigurationError, so ``field`` names it
    ├── DatabricksRunFailedError  the run failed, or could not be watched; a one-line message
    ├── DatabricksStatementFailedError  the SQL statement failed, was cancelled or could not be
    │                             watched; a one-line message
    ├── DatabricksWarehouseError  the SQL warehouse did not reach the state waited for; one line
    └── DatabricksApiError        a DatabricksHook call got an API error; ``http_status_code``

    DatabricksError               the client's root (see airflow_dbx_async.client.errors)
    ├── ConfigurationError        (DatabricksConfigError is one)
    ├── TransportError
    │   └── Timeout
    └── ApiError
        ├── AuthError
        ├── NotFound
        ├── RateLimited
        └── ServerError

The older import paths (``airflow_dbx_async.operators``, ``airflow_dbx_async.hooks``,
``airflow_dbx_async.databricks_hook``) still give the same classes.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException

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

__all__ = (
    "ApiError",
    "AuthError",
    "ConfigurationError",
    "DatabricksApiError",
    "DatabricksConfigError",
    "DatabricksError",
    "DatabricksRunFailedError",
    "DatabricksStatementFailedError",
    "DatabricksWarehouseError",
    "NotFound",
    "RateLimited",
    "ServerError",
    "Timeout",
    "TransportError",
)


class DatabricksConfigError(ConfigurationError, AirflowException):
    """Bad input (an operator argument or a connection field), found before any request.

    Both a :class:`~airflow_dbx_async.client.ConfigurationError` (``field`` names what to fix) and an
    ``AirflowException``, like the official provider's input errors.
    """

    @classmethod
    def of(cls, exc: ConfigurationError) -> DatabricksConfigError:
        """``exc`` as this class (itself if it already is one)."""
        return exc if isinstance(exc, cls) else cls(exc.field, exc.message)


class DatabricksRunFailedError(AirflowException):
    """The Databricks run failed, or could not be watched; the message is one line."""


class DatabricksStatementFailedError(AirflowException):
    """The SQL statement failed, was cancelled or closed early, or could not be watched; one line."""


class DatabricksWarehouseError(AirflowException):
    """The SQL warehouse did not reach the state waited for (deleted, stopped, timed out); one line."""


class DatabricksApiError(AirflowException):
    """A Databricks REST API call failed; ``http_status_code`` is the answer's status, if any."""

    def __init__(self, message: str, *, http_status_code: int | None = None) -> None:
        super().__init__(message)
        self.http_status_code = http_status_code
