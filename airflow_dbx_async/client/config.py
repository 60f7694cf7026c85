"""Value objects that configure the client: which workspace (and as whom), and how each call behaves.

Two parts, kept apart on purpose:

- :class:`Workspace` is the workspace's identity: base URL, credential, TLS settings and the request
  ceiling the workspace imposes. Everything shared in a process (pooled sessions, the
  rate ceiling, the batched run poller) is keyed on it.
- :class:`CallPolicy` is how one caller's requests behave: retries, timeout and API version. Two
  callers of one workspace with different policies share the same session, ceiling and poller.

:class:`ClientConfig` holds both, flat, for users. Every default and every check is defined here
once; errors name the client's own fields (the Airflow layer translates them to its parameter
names). Credentials enter the client here and nowhere else; every ``repr`` masks them. The client
never reads the environment or Airflow: the Airflow hook builds a :class:`ClientConfig` from a
connection.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_dbx_async.client._numbers import check_number
from airflow_dbx_async.client.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_dbx_async.client._auth import Auth

__all__ = (
    "CallPolicy",
    "ClientConfig",
    "Proxies",
    "RetryPolicy",
    "Workspace",
    "normalise_base_url",
)

# The defaults, each defined here once; the Airflow layer imports them from this module.
API_VERSIONS = ("2.1", "2.2")
DEFAULT_API_VERSION = "2.2"
DEFAULT_TIMEOUT_SECONDS = 60.0
# Databricks documents about 100 runs/get requests per second per workspace; stay at that.
DEFAULT_MAX_REQUESTS_PER_SECOND = 100.0
DEFAULT_RETRY_LIMIT = 3
DEFAULT_RETRY_DELAY_SECONDS = 1.0
DEFAULT_MAX_DELAY_SECONDS = 30.0
# Limits against a broken or hostile workspace (docs/reliability.md): the largest answer body read,
# per endpoint (the biggest real answers are runs/export pages, the 5 MB outputs of runs/get-output
# and SQL results, whose INLINE rows are at most 25 MiB), and the most pages one listing follows.
# A ``{name}`` segment of an endpoint stands for any one path segment (an id, a chunk index).
_MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = 8 * _MIB
_SQL_RESULT_BYTES = 32 * _MIB
MAX_BODY_BYTES_BY_ENDPOINT: Mapping[str, int] = MappingProxyType(
    {
        "jobs/runs/export": 64 * _MIB,
        "jobs/runs/get-output": 16 * _MIB,
        "sql/statements": _SQL_RESULT_BYTES,
        "sql/statements/{statement_id}": _SQL_RESULT_BYTES,
        "sql/statements/{statement_id}/result/chunks/{chunk_index}": _SQL_RESULT_BYTES,
    }
)
DEFAULT_MAX_PAGES = 1000


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How transient failures are retried: exponential backoff with full jitter inside a time budget.

    :param max_attempts: attempts in total, the first included (>= 1).
    :param base_delay: the first backoff ceiling, in seconds.
    :param max_delay: the largest single sleep, in seconds; never below ``base_delay``.
    :param budget_seconds: total time allowed for one call including its retries.
    """

    max_attempts: int = DEFAULT_RETRY_LIMIT
    base_delay: float = DEFAULT_RETRY_DELAY_SECONDS
    max_delay: float = DEFAULT_MAX_DELAY_SECONDS
    budget_seconds: float = 300.0

    def __post_init__(self) -> None:
        check_number("max_attempts", self.max_attempts, minimum=1, whole=True)
        check_number("base_delay", self.base_delay, minimum=0)
        check_number("max_delay", self.max_delay, minimum=0)
        check_number("budget_seconds", self.budget_seconds, minimum=0, inclusive=False)
        if self.max_delay < self.base_delay:
            raise ConfigurationError("max_delay", "must not be smaller than the base delay")

    @classmethod
    def starting_at(cls, max_attempts: int, base_delay: float) -> RetryPolicy:
        """A policy from an attempt count and a first delay; the longest sleep is the default or more."""
        return cls(
            max_attempts=max_attempts,
            base_delay=base_delay,
            max_delay=max(base_delay, DEFAULT_MAX_DELAY_SECONDS),
        )


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True, kw_only=True)
class CallPolicy:
    """How one caller's requests behave; travels with every request.

    :param api_version: Jobs API version in paths, one of :data:`API_VERSIONS`.
    :param timeout_seconds: total timeout of one HTTP request.
    :param retry: the retry policy for transient failures.
    """

    api_version: str = DEFAULT_API_VERSION
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retry: RetryPolicy = DEFAULT_RETRY

    def __post_init__(self) -> None:
        if self.api_version not in API_VERSIONS:
            raise ConfigurationError("api_version", f"must be '2.1' or '2.2', got {self.api_version!r}")
        check_number("timeout_seconds", self.timeout_seconds, minimum=0, inclusive=False)


DEFAULT_POLICY = CallPolicy()


_PROXY_SCHEMES = ("http", "https")


@dataclass(frozen=True, kw_only=True)
class Proxies:
    """Forward proxies chosen by the scheme of the target URL, like the ``proxies`` of ``requests``.

    The client never reads the environment: the Airflow hook builds this from the connection's
    ``proxies`` extra (and, when the connection asks for it, ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``).

    :param http: the proxy for ``http://`` URLs, ``http://[user:password@]host:port``.
    :param https: the proxy for ``https://`` URLs (tunnelled with ``CONNECT``).
    :param no_proxy: hosts reached directly: a name (its subdomains too), ``host:port``, an IP address
        or network (``10.0.0.0/8``), or ``*`` for every host.
    """

    http: str | None = None
    https: str | None = None
    no_proxy: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for scheme in _PROXY_SCHEMES:
            url = getattr(self, scheme)
            if url is None:
                continue
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in _PROXY_SCHEMES or not parts.hostname:
                shown = _without_userinfo(url) if isinstance(url, str) else type(url).__name__
                raise ConfigurationError(
                    "proxies",
                    f"the {scheme!r} proxy must be an http:// or https:// URL with a host, got {shown!r}",
                )

    def __repr__(self) -> str:
        shown = {s: _without_userinfo(u) for s in _PROXY_SCHEMES if (u := getattr(self, s))}
        return f"Proxies({shown!r}, no_proxy={self.no_proxy!r})"

    def for_url(self, url: str) -> str | None:
        """The proxy for a request to ``url``, or ``None`` to connect directly."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        proxy: str | None = getattr(self, scheme) if scheme in _PROXY_SCHEMES else None
        port = parts.port or (443 if scheme == "https" else 80)
        if proxy is None or _bypassed(parts.hostname or "", port, self.no_proxy):
            return None
        return proxy


def _bypassed(host: str, port: int, no_proxy: tuple[str, ...]) -> bool:
    host = host.lower().strip("[]")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy:
        entry = raw.strip().lower()
        if entry == "*":
            return True
        if not entry:
            continue
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.lstrip(".")
        if host == name or host.endswith(f".{name}"):
            return True
    return False


@dataclass(frozen=True, kw_only=True)
class Workspace:
    """Which workspace, as whom, over which TLS settings: the key of everything shared.

    :param base_url: ``scheme://host[:port]`` of the workspace (see :func:`normalise_base_url`).
    :param auth: the credential.
    :param verify_tls: verify the workspace's certificate (on by default). Token endpoints on another
        host (Microsoft Entra ID) are always verified against the system CA store.
    :param ca_file: a CA bundle to trust for the workspace's host in addition to the system CA store,
        e.g. the local emulator's self-signed certificate; re-read when the file changes.
    :param max_requests_per_second: ceiling on the request rate of everything that shares this
        workspace on one event loop (all triggers of a triggerer); ``None`` for no ceiling.
    :param proxies: the forward proxies for the workspace and its token endpoints; ``None`` to connect
        directly. Part of the identity: workspaces behind different proxies share no session.
    """

    base_url: str
    auth: Auth = field(repr=False)
    verify_tls: bool = True
    ca_file: str | None = None
    max_requests_per_second: float | None = DEFAULT_MAX_REQUESTS_PER_SECOND
    proxies: Proxies | None = None

    def __post_init__(self) -> None:
        if self.max_requests_per_second is not None:
            check_number("max_requests_per_second", self.max_requests_per_second, minimum=0, inclusive=False)

    def __repr__(self) -> str:
        return f"Workspace(base_url={self.base_url!r}, auth={self.auth!r}, verify_tls={self.verify_tls!r})"


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _without_userinfo(url: str) -> str:
    """``url`` for messages: anything before the last ``@`` (credentials) becomes ``***``.

    The last ``@`` is used, not the authority's, so that a secret containing ``/`` is still hidden.
    """
    scheme, sep, rest = url.partition("://") if "://" in url else ("", "", url)
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return f"{scheme}{sep}{rest}"


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
    shown = _without_userinfo(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError("host", f"cannot read a workspace host from {shown!r}")
    if parts.path not in ("", "/"):
        raise ConfigurationError("host", f"expected a bare workspace URL, got a path in {shown!r}")
    try:
        final_port = port or parts.port
    except ValueError:
        raise ConfigurationError("port", f"invalid port in {shown!r}") from None
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
    """Everything a :class:`~airflow_dbx_async.client.JobsClient` needs: a workspace and a call policy.

    The fields are those of :class:`Workspace` (``base_url``, ``auth``, ``verify_tls``, ``ca_file``,
    ``max_requests_per_second``, ``proxies``) and of :class:`CallPolicy` (``api_version``,
    ``timeout_seconds``, ``retry``), flat, with the same defaults; :attr:`workspace` and
    :attr:`policy` give the two parts, and constructing the config checks both.
    """

    base_url: str
    auth: Auth = field(repr=False)
    api_version: str = DEFAULT_API_VERSION
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retry: RetryPolicy = DEFAULT_RETRY
    verify_tls: bool = True
    ca_file: str | None = None
    max_requests_per_second: float | None = DEFAULT_MAX_REQUESTS_PER_SECOND
    proxies: Proxies | None = None
    workspace: Workspace = field(init=False, repr=False, compare=False)
    policy: CallPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        workspace = Workspace(
            base_url=self.base_url,
            auth=self.auth,
            verify_tls=self.verify_tls,
            ca_file=self.ca_file,
            max_requests_per_second=self.max_requests_per_second,
            proxies=self.proxies,
        )
        policy = CallPolicy(
            api_version=self.api_version, timeout_seconds=self.timeout_seconds, retry=self.retry
        )
        object.__setattr__(self, "workspace", workspace)
        object.__setattr__(self, "policy", policy)

    @classmethod
    def of(cls, workspace: Workspace, policy: CallPolicy = DEFAULT_POLICY) -> ClientConfig:
        """The config made of ``workspace`` and ``policy``."""
        return cls(
            base_url=workspace.base_url,
            auth=workspace.auth,
            verify_tls=workspace.verify_tls,
            ca_file=workspace.ca_file,
            max_requests_per_second=workspace.max_requests_per_second,
            proxies=workspace.proxies,
            api_version=policy.api_version,
            timeout_seconds=policy.timeout_seconds,
            retry=policy.retry,
        )

    def __repr__(self) -> str:
        return (
            f"ClientConfig(base_url={self.base_url!r}, auth={self.auth!r}, "
            f"api_version={self.api_version!r}, verify_tls={self.verify_tls!r})"
        )
