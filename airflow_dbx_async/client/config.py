"""Value objects that configure the client: where, who, how long, how often to retry.

Credentials enter the client here and nowhere else; every ``repr`` masks them. The client never
reads the environment or Airflow: the Airflow hook builds a :class:`ClientConfig` from a connection.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from airflow_dbx_async.client._auth import (
    Auth,
    AzureServicePrincipalAuth,
    BasicAuth,
    OAuthM2MAuth,
    TokenAuth,
)
from airflow_dbx_async.client.errors import ConfigurationError

__all__ = (
    "DEFAULT_API_VERSION",
    "DEFAULT_MAX_REQUESTS_PER_SECOND",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT_SECONDS",
    "Auth",
    "AzureServicePrincipalAuth",
    "BasicAuth",
    "ClientConfig",
    "OAuthM2MAuth",
    "RetryPolicy",
    "TokenAuth",
    "normalise_base_url",
)

DEFAULT_API_VERSION = "2.2"
DEFAULT_TIMEOUT_SECONDS = 60.0
# Databricks documents about 100 runs/get requests per second per workspace; stay at that.
DEFAULT_MAX_REQUESTS_PER_SECOND = 100.0


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How transient failures are retried: exponential backoff with full jitter inside a time budget.

    :param max_attempts: attempts in total, the first included (>= 1).
    :param base_delay: the first backoff ceiling, in seconds.
    :param max_delay: the largest single sleep, in seconds.
    :param budget_seconds: total time allowed for one call including its retries.
    """

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    budget_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("databricks_retry_limit", "must be at least 1")
        if self.base_delay < 0:
            raise ConfigurationError("databricks_retry_delay", "must not be negative")
        if self.max_delay < self.base_delay:
            raise ConfigurationError("max_delay", "must not be smaller than the base delay")
        if self.budget_seconds <= 0:
            raise ConfigurationError("budget_seconds", "must be positive")


DEFAULT_RETRY = RetryPolicy()


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def normalise_base_url(
    host: str, *, port: int | None = None, scheme: str | None = None, allow_insecure_http: bool = False
) -> str:
    """Turn a connection's host (with or without scheme), port and scheme into a base URL.

    Plain ``http`` is accepted only for loopback hosts (a local emulator) unless
    ``allow_insecure_http`` is set, because a bearer token must not cross a network in clear text.
    """
    raw = (host or "").strip().rstrip("/")
    if not raw:
        raise ConfigurationError("host", "the Databricks connection has no host; set it to the workspace URL")
    parts = urlsplit(raw if "://" in raw else f"{scheme or 'https'}://{raw}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError("host", f"cannot read a workspace host from {host!r}")
    if parts.path not in ("", "/"):
        raise ConfigurationError("host", f"expected a bare workspace URL, got a path in {host!r}")
    try:
        final_port = port or parts.port
    except ValueError as exc:
        raise ConfigurationError("port", f"invalid port in {host!r}") from exc
    if parts.scheme == "http" and not (allow_insecure_http or _is_loopback(parts.hostname)):
        raise ConfigurationError(
            "host",
            f"plain http to {parts.hostname} would send the token unencrypted; use https, "
            "or set extra 'allow_insecure_http': true",
        )
    netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if final_port:
        netloc += f":{final_port}"
    return f"{parts.scheme}://{netloc}"


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Everything the client needs to talk to one workspace.

    :param base_url: ``scheme://host[:port]`` of the workspace (see :func:`normalise_base_url`).
    :param auth: the credential.
    :param api_version: Jobs API version in paths, ``2.1`` or ``2.2``.
    :param timeout_seconds: total timeout of one HTTP request.
    :param retry: the retry policy for transient failures.
    :param verify_tls: verify the server certificate (on by default).
    :param ca_file: extra CA bundle to trust, e.g. the local emulator's self-signed certificate.
    :param user_agent: sent with every request.
    :param max_requests_per_second: ceiling on the request rate of everything that shares this
        workspace on one event loop (all triggers of a triggerer); ``None`` for no ceiling.
    """

    base_url: str
    auth: Auth = field(repr=False)
    api_version: str = DEFAULT_API_VERSION
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retry: RetryPolicy = DEFAULT_RETRY
    verify_tls: bool = True
    ca_file: str | None = None
    user_agent: str = "airflow-dbx-async"
    max_requests_per_second: float | None = DEFAULT_MAX_REQUESTS_PER_SECOND

    def __post_init__(self) -> None:
        if self.api_version not in ("2.1", "2.2"):
            raise ConfigurationError("api_version", f"must be '2.1' or '2.2', got {self.api_version!r}")
        if self.timeout_seconds <= 0:
            raise ConfigurationError("timeout_seconds", "must be positive")
        if self.max_requests_per_second is not None and self.max_requests_per_second <= 0:
            raise ConfigurationError("max_requests_per_second", "must be positive (or unset for no ceiling)")

    def __repr__(self) -> str:
        return (
            f"ClientConfig(base_url={self.base_url!r}, auth={self.auth!r}, "
            f"api_version={self.api_version!r}, verify_tls={self.verify_tls!r})"
        )
