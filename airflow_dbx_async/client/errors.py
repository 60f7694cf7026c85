"""Errors raised by the Databricks Jobs API client.

One root, so callers can catch everything the client raises with a single clause::

    DatabricksError
    ├── ConfigurationError        bad input, always naming the offending field (also a ValueError)
    ├── TransportError            the request never got an HTTP answer
    │   └── Timeout               (also a builtin TimeoutError)
    └── ApiError                  an HTTP error answer; keeps Databricks' error_code and message
        ├── AuthError             401 / 403, and a refused or unreadable token request
        ├── NotFound              404, or 400 "... does not exist."
        ├── RateLimited           429, with the server's Retry-After
        └── ServerError           5xx, with Retry-After when a 503 sends one

A run that ends badly is not an error of the client: :func:`~airflow_dbx_async.client.judge` says so.

Every ``args`` tuple holds only primitives, so errors pickle across processes (the triggerer sends
events, Airflow pickles task failures). No error ever carries a credential.
"""

from __future__ import annotations

__all__ = (
    "ApiError",
    "AuthError",
    "ConfigurationError",
    "DatabricksError",
    "NotFound",
    "RateLimited",
    "ServerError",
    "Timeout",
    "TransportError",
)


class DatabricksError(Exception):
    """Root of every error the client raises."""


class ConfigurationError(DatabricksError, ValueError):
    """Bad input from the user; ``field`` names what to fix.

    :param field: the parameter, connection field or payload key at fault.
    :param message: what is wrong and how to fix it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class TransportError(DatabricksError):
    """The request got no HTTP answer: connection refused, reset or dropped.

    :param method: HTTP method.
    :param path: API path (never the full URL with credentials).
    :param reason: a short description of the low-level failure.
    :param request_sent: ``False`` only when the failure certainly happened before the request left
        (connection refused, DNS failure, connect timeout), so repeating it cannot create a duplicate.
    """

    def __init__(self, method: str, path: str, reason: str, request_sent: bool = True) -> None:
        super().__init__(method, path, reason, request_sent)
        self.method = method
        self.path = path
        self.reason = reason
        self.request_sent = request_sent

    def __str__(self) -> str:
        return f"{self.method} {self.path} failed: {self.reason}"


class Timeout(TransportError, TimeoutError):
    """The request did not complete within the configured timeout."""


class ApiError(DatabricksError):
    """Databricks answered with an HTTP error.

    :param status: HTTP status code.
    :param error_code: Databricks' ``error_code`` (a string, or the numeric code auth errors use, as text).
    :param message: Databricks' ``message``, or a short excerpt of a non-JSON body.
    :param method: HTTP method of the request.
    :param path: API path of the request.
    """

    def __init__(self, status: int, error_code: str, message: str, method: str = "", path: str = "") -> None:
        super().__init__(status, error_code, message, method, path)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.method = method
        self.path = path

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.path else ""
        return f"Databricks API error {self.status} {self.error_code}: {self.message}{where}"


class AuthError(ApiError):
    """401 or 403: the credential is missing, invalid, expired, or lacks permission."""


class NotFound(ApiError):
    """The job, run or endpoint does not exist."""


class _RetryAfter(ApiError):
    """An API error that may carry the server's ``Retry-After`` hint, in seconds."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, error_code, message, method, path)
        self.args = (status, error_code, message, method, path, retry_after)
        self.retry_after = retry_after


class RateLimited(_RetryAfter):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if it sent one."""


class ServerError(_RetryAfter):
    """5xx: a fault on the Databricks side; ``retry_after`` is set when a 503 carries one."""
