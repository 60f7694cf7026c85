"""Airflow hook: turns a Databricks connection into a client configuration and a ``JobsClient``.

The hook holds no HTTP code and no session. :func:`connection_to_config` reads a connection the way
the official Databricks provider does, so existing connections work unchanged, and names the Airflow
parameter at fault when a setting is refused. The worker runs the async client through
:meth:`DatabricksAsyncHook.run_sync`; the triggerer reads configurations with
:meth:`DatabricksAsyncHook.aget_config` (one connection lookup shared by the triggers starting
together) and borrows the shared workspace with them (see :mod:`airflow_dbx_async.triggers`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import urllib.request
import weakref
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow.sdk import BaseHook
from asgiref.sync import async_to_sync

from airflow_dbx_async.client import (
    ClientConfig,
    ConfigurationError,
    JobsClient,
    RetryPolicy,
    normalise_base_url,
)
from airflow_dbx_async.client.config import (
    DEFAULT_API_VERSION,
    DEFAULT_MAX_REQUESTS_PER_SECOND,
    DEFAULT_RETRY_DELAY_SECONDS,
    DEFAULT_RETRY_LIMIT,
    DEFAULT_TIMEOUT_SECONDS,
    Proxies,
)
from airflow_dbx_async.exceptions import DatabricksConfigError
from airflow_dbx_async.hooks._credentials import FLAGS, auth_from
from airflow_dbx_async.hooks._readers import connection_extra, read_flag
from airflow_dbx_async.hooks._secrets import amask_connection_secrets, mask_connection_secrets

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from airflow.sdk import Connection


__all__ = (
    "AIRFLOW_NAMES",
    "DEFAULT_CONN_ID",
    "DatabricksAsyncHook",
    "DatabricksConfigError",
    "airflow_error",
    "connection_to_config",
    "retry_policy",
)

DEFAULT_CONN_ID = "databricks_default"
_log = logging.getLogger(__name__)
AIRFLOW_NAMES = {"max_attempts": "databricks_retry_limit", "base_delay": "databricks_retry_delay"}
"""The Airflow parameter behind each client field it sets, for error messages."""
_CONFIG_REUSE_SECONDS = 10.0


class _Lookup:
    """One connection lookup shared per connection id and event loop, with the configs built from it.

    A config is built once per call policy (retries, delay, API version) a hook asks for, not once per
    hook: a triggerer starting thousands of triggers parses the connection a few times, not thousands.
    """

    __slots__ = ("configs", "expires", "task")

    def __init__(self, task: asyncio.Task[Connection]) -> None:
        self.task = task
        self.expires = time.monotonic() + _CONFIG_REUSE_SECONDS
        self.configs: dict[tuple[int, float, str], ClientConfig] = {}

    def usable(self) -> bool:
        """False once it is older than the reuse period, or when the lookup failed."""
        task = self.task
        failed = task.done() and (task.cancelled() or task.exception() is not None)
        return not failed and time.monotonic() <= self.expires


_LOOKUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Lookup]] = (
    weakref.WeakKeyDictionary()
)


def airflow_error(exc: ConfigurationError) -> ConfigurationError:
    """``exc`` naming the Airflow parameter instead of the client field, when they differ."""
    name = AIRFLOW_NAMES.get(exc.field)
    return exc if name is None else ConfigurationError(name, exc.message)


def retry_policy(retry_limit: int, retry_delay: float) -> RetryPolicy:
    """The client's retry policy for ``databricks_retry_limit`` and ``databricks_retry_delay``.

    :raises ConfigurationError: naming the Airflow parameter at fault.
    """
    try:
        return RetryPolicy.starting_at(retry_limit, retry_delay)
    except ConfigurationError as exc:
        raise airflow_error(exc) from None


_T = TypeVar("_T")
_PROXY_ENV = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


def _proxies(conn: Connection, extra: Mapping[str, Any], flags: Mapping[str, bool]) -> Proxies | None:
    """Extra ``proxies`` (checked as the official provider checks it), plus the environment's if asked.

    ``{"https": "http://proxy:3128"}`` picks the proxy by the scheme of each request's URL, as
    ``requests`` does. With ``proxies_from_env``, ``HTTPS_PROXY``/``HTTP_PROXY`` fill the schemes the
    extra leaves out, and ``NO_PROXY`` names the hosts reached directly.
    """
    value = extra.get("proxies")
    if value is None or value == {}:
        chosen: dict[str, str] = {}
    elif not isinstance(value, dict):
        raise ConfigurationError(
            "proxies",
            f'must be a JSON object like {{"https": "http://proxy:3128"}}, got {type(value).__name__}',
        )
    else:
        unknown = sorted(str(key) for key in value if key not in ("http", "https"))
        if unknown:
            raise ConfigurationError("proxies", f"only 'http' and 'https' keys are supported, got {unknown}")
        for scheme, url in value.items():
            if not isinstance(url, str) or not url.strip():
                raise ConfigurationError("proxies", f"the {scheme!r} proxy must be a non-empty URL")
        chosen = {scheme: url.strip() for scheme, url in value.items()}
    if chosen and flags["use_default_azure_credential"]:
        raise ConfigurationError(
            "proxies",
            "azure-identity's DefaultAzureCredential does its own HTTP and is not given these proxies; "
            "set HTTPS_PROXY in the environment (azure-identity reads it) with 'proxies_from_env' instead",
        )
    no_proxy: tuple[str, ...] = ()
    if flags["proxies_from_env"]:
        environment = urllib.request.getproxies_environment()
        for scheme in ("http", "https"):
            if scheme not in chosen and environment.get(scheme):
                chosen[scheme] = environment[scheme]
        no_proxy = tuple(h.strip() for h in environment.get("no", "").split(",") if h.strip())
    elif any(os.environ.get(name) for name in _PROXY_ENV):
        _log.info(
            "Databricks connection %r: the environment's proxy settings are not used; set extra "
            "'proxies_from_env': true (or 'proxies') to go through a proxy",
            conn.conn_id,
        )
    if not chosen:
        return None
    return Proxies(http=chosen.get("http"), https=chosen.get("https"), no_proxy=no_proxy)


def _scheme(conn: Connection) -> str | None:
    schema = (conn.schema or "").strip().lower()
    if not schema:
        return None
    if schema not in ("http", "https"):
        raise ConfigurationError("schema", f"must be 'https' or 'http' (or empty), got {conn.schema!r}")
    return schema


def connection_to_config(
    conn: Connection,
    *,
    retry_limit: int = DEFAULT_RETRY_LIMIT,
    retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS,
    api_version: str = DEFAULT_API_VERSION,
) -> ClientConfig:
    """Build a :class:`ClientConfig` from an Airflow connection, as the official provider reads it.

    :param conn: the Airflow connection (``conn_type`` ``databricks``).
    :param retry_limit: attempts per request, the first included (``databricks_retry_limit``).
    :param retry_delay: first backoff delay in seconds (``databricks_retry_delay``).
    :param api_version: Jobs API version, ``2.1`` or ``2.2``.
    :raises ConfigurationError: naming the connection field or Airflow parameter at fault.
    """
    retry = retry_policy(retry_limit, retry_delay)
    extra = connection_extra(conn)
    # Every flag is checked, used or not: a misspelt one is refused even where it does not matter.
    flags = {key: read_flag(key, extra.get(key, default)) for key, default in FLAGS.items()}
    host = str(extra.get("host") or conn.host or "")
    base_url = normalise_base_url(
        host,
        port=conn.port or None,
        scheme=_scheme(conn),
        allow_insecure_http=flags["allow_insecure_http"],
    )
    ca_file = extra.get("ca_file")
    proxies = _proxies(conn, extra, flags)
    auth, source = auth_from(conn, extra, flags)
    _log.info("Databricks connection %r: using the %s", conn.conn_id, source)
    return ClientConfig(
        base_url=base_url,
        auth=auth,
        api_version=api_version,
        retry=retry,
        verify_tls=flags["verify_tls"],
        ca_file=str(ca_file) if ca_file else None,
        max_requests_per_second=_rate_ceiling(extra),
        timeout_seconds=_positive(extra, "timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
        proxies=proxies,
    )


def _positive(extra: Mapping[str, Any], key: str, default: float) -> float:
    """A number from the connection extra (checked by the config), or ``default`` when absent."""
    value = extra.get(key, default)
    try:
        if isinstance(value, bool):
            raise TypeError(key)
        return float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(key, f"must be a finite number > 0, got {value!r}") from None


def _rate_ceiling(extra: Mapping[str, Any]) -> float | None:
    """Extra ``max_requests_per_second``: a number (checked by the config), or ``null``/``0`` for none."""
    value = extra.get("max_requests_per_second", DEFAULT_MAX_REQUESTS_PER_SECOND)
    if value in (None, 0, "0", ""):
        return None
    return _positive(extra, "max_requests_per_second", DEFAULT_MAX_REQUESTS_PER_SECOND)


class DatabricksAsyncHook(BaseHook):
    """Connection handling for the deferrable Databricks operators and trigger.

    :param databricks_conn_id: the Airflow connection id.
    :param retry_limit: attempts per request, the first included.
    :param retry_delay: first backoff delay in seconds.
    :param api_version: Jobs API version, ``2.1`` or ``2.2``.
    """

    conn_name_attr: ClassVar[str] = "databricks_conn_id"
    default_conn_name: ClassVar[str] = DEFAULT_CONN_ID
    conn_type: ClassVar[str] = "databricks"
    hook_name: ClassVar[str] = "Databricks (async)"

    def __init__(
        self,
        databricks_conn_id: str = DEFAULT_CONN_ID,
        *,
        retry_limit: int = DEFAULT_RETRY_LIMIT,
        retry_delay: float = DEFAULT_RETRY_DELAY_SECONDS,
        api_version: str = DEFAULT_API_VERSION,
    ) -> None:
        super().__init__()
        self.databricks_conn_id = databricks_conn_id
        self.retry_limit = retry_limit
        self.retry_delay = retry_delay
        self.api_version = api_version
        self._config: ClientConfig | None = None
        self._conn: Connection | None = None

    def __repr__(self) -> str:
        return f"DatabricksAsyncHook(databricks_conn_id={self.databricks_conn_id!r})"

    def _missing(self, exc: Exception) -> DatabricksConfigError:
        return DatabricksConfigError(
            "databricks_conn_id",
            f"connection {self.databricks_conn_id!r} is not defined ({type(exc).__name__}); create it "
            f"or set the environment variable AIRFLOW_CONN_{self.databricks_conn_id.upper()}",
        )

    def _config_from(self, conn: Connection) -> ClientConfig:
        try:
            return connection_to_config(
                conn, retry_limit=self.retry_limit, retry_delay=self.retry_delay, api_version=self.api_version
            )
        except ConfigurationError as exc:  # reaches Airflow as an AirflowException, like other input errors
            raise DatabricksConfigError.of(exc) from None

    def _connection(self) -> Connection:
        """The connection, read once per hook (synchronously, in a worker); its secrets registered."""
        if self._conn is None:
            try:
                conn = self.get_connection(self.databricks_conn_id)
            except Exception as exc:  # AirflowNotFoundException and secrets-backend failures alike
                raise self._missing(exc) from exc
            mask_connection_secrets(conn)  # Airflow masks the extra only as a whole string
            self._conn = conn
        return self._conn

    def register_secrets(self) -> bool:
        """Read the connection and register its secrets with Airflow's masker; ``False`` if unreadable.

        A connection that cannot be read registers nothing: the task then fails on that same lookup,
        with its own message, when it needs the connection. The lookup is kept for :meth:`get_config`.
        """
        try:
            self._connection()
        except DatabricksConfigError:
            return False
        return True

    def get_config(self) -> ClientConfig:
        """Read the connection (synchronously, in a worker) and return the client configuration."""
        if self._config is None:
            self._config = self._config_from(self._connection())
        return self._config

    async def aget_config(self) -> ClientConfig:
        """Read the connection without blocking the event loop (in the triggerer).

        Thousands of triggers start at once when a triggerer starts; they share one lookup per
        connection id and event loop, and its result for a few seconds, whatever their retry
        settings or API version; hooks with the same settings share the config built from it.
        """
        if self._config is None:
            loop = asyncio.get_running_loop()
            per_loop = _LOOKUPS.setdefault(loop, {})
            lookup = per_loop.get(self.databricks_conn_id)
            if lookup is None or not lookup.usable():
                lookup = per_loop[self.databricks_conn_id] = _Lookup(loop.create_task(self._lookup()))
            conn = await asyncio.shield(lookup.task)
            policy = (self.retry_limit, self.retry_delay, self.api_version)
            config = lookup.configs.get(policy)
            if config is None:
                config = lookup.configs[policy] = self._config_from(conn)
            self._config = config
        return self._config

    async def _lookup(self) -> Connection:
        try:
            conn = await self.aget_connection(self.databricks_conn_id)
        except Exception as exc:
            raise self._missing(exc) from exc
        await amask_connection_secrets(conn)  # the triggerer logs lines too (and the event)
        return conn

    def get_conn(self) -> ClientConfig:
        """Return the client configuration (Airflow's generic hook entry point)."""
        return self.get_config()

    def run_sync(self, fn: Callable[[JobsClient], Awaitable[_T]]) -> _T:
        """Run ``fn`` with one short-lived client from synchronous code and return its result.

        Uses :func:`asgiref.sync.async_to_sync`, which refuses to run inside a running event loop
        instead of nesting one.
        """
        config = self.get_config()

        async def _call() -> _T:
            async with JobsClient(config) as client:
                return await fn(client)

        return async_to_sync(_call)()
