"""Keep the connection's secrets out of what the operators log, raise and push to XCom.

A notebook can print or raise with the workspace token; its output then comes back in the run
export, in ``error`` and ``error_trace``, and in the ``dbutils.notebook.exit`` value. Airflow's log
masking only knows a secret once it was registered in the process that writes the line, and a worker
resuming a deferred task never reads the connection; ``dag.test()`` masks no log line at all. So the
operator registers the connection's secrets with Airflow's masker (:func:`register_connection_secrets`,
which also tells the task supervisor) before it writes anything, and passes every text it produces
from run output through :func:`redact` itself, rather than trusting a log pipeline to do it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from airflow.sdk import BaseHook
from airflow.sdk._shared.secrets_masker import DEFAULT_SENSITIVE_FIELDS
from airflow.sdk._shared.secrets_masker import redact as _airflow_redact
from airflow.sdk.log import mask_secret

from airflow_dbx_async._compat import amask_secret
from airflow_dbx_async.client import ConfigurationError
from airflow_dbx_async.hooks._readers import connection_extra

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_dbx_async.client import Auth, AuthHeaders, FetchToken, SubjectTokenSource

__all__ = (
    "MaskedAuth",
    "MaskedSubjectToken",
    "amask_connection_secrets",
    "connection_secrets",
    "mask_connection_secrets",
    "redact",
    "register_connection_secrets",
)

_T = TypeVar("_T")
# Extra keys that hold a credential in the official provider's connection format, whatever the
# masker's configured list of sensitive names says (dag.test() configures none).
_SECRET_WORDS = frozenset(DEFAULT_SENSITIVE_FIELDS) | {"token", "secret", "password"}


def _sensitive(key: object) -> bool:
    if not isinstance(key, str):
        return False
    normalized = re.sub(r"\W+", "_", key.strip().lower())
    return any(word in normalized for word in _SECRET_WORDS)


def _extra(conn: Connection) -> dict[str, Any]:
    """The extra, or nothing to mask in it when it cannot be read (the hook refuses it, naming why)."""
    try:
        return connection_extra(conn)
    except ConfigurationError:
        return {}


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def connection_secrets(conn: Connection) -> tuple[str, ...]:
    """The connection's secret values: its password and every extra value under a sensitive key.

    That covers a token in the password or in extra ``token``, a service principal's client secret
    (password), the password of a proxy URL in extra ``proxies`` and any
    ``*secret*``/``*token*``/``*password*`` extra. Tokens obtained while running (access tokens,
    subject tokens) are registered when they are first used, by :class:`MaskedAuth`.
    """
    found = [conn.password] if conn.password else []
    for key, value in _extra(conn).items():
        if _sensitive(key):
            found += _strings(value)
        elif key == "proxies":
            found += [_proxy_password(url) for url in _strings(value)]
    return tuple(dict.fromkeys(s.strip() for s in found if s and s.strip()))


def _proxy_password(url: str) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:
        return ""
    return unquote(password) if password else ""


def mask_connection_secrets(conn: Connection) -> tuple[str, ...]:
    """Register the connection's secrets with Airflow's masker (and the task supervisor)."""
    secrets = connection_secrets(conn)
    for secret in secrets:
        mask_secret(secret)
    return secrets


async def amask_connection_secrets(conn: Connection) -> tuple[str, ...]:
    """:func:`mask_connection_secrets` for the triggerer's event loop (Airflow's async registration)."""
    secrets = connection_secrets(conn)
    for secret in secrets:
        await amask_secret(secret)
    return secrets


def register_connection_secrets(conn_id: str) -> tuple[str, ...]:
    """Read the connection and register its secrets with Airflow's masker; returns what was registered.

    A connection that cannot be read registers nothing: the task then fails on that same lookup
    anyway, with its own message, when it needs the connection.
    """
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:
        return ()
    return mask_connection_secrets(conn)


def redact(value: _T) -> _T:
    """``value`` with every secret Airflow's masker knows replaced by ``***`` (strings, lists, dicts)."""
    return _airflow_redact(value)  # type: ignore[return-value]


_REGISTERED: set[str] = set()
_REGISTERED_LIMIT = 10_000


async def _register(secrets: tuple[str, ...]) -> None:
    """Register each secret with Airflow's masker once per process (they are asked for every request)."""
    for secret in secrets:
        if not secret:
            continue
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if digest in _REGISTERED:
            continue
        if len(_REGISTERED) >= _REGISTERED_LIMIT:
            _REGISTERED.clear()
        await amask_secret(secret)
        _REGISTERED.add(digest)


@dataclass(frozen=True)
class MaskedAuth:
    """A credential whose tokens are registered with Airflow's masker as soon as they are used.

    The client redacts its secrets from its own errors; this also keeps an access token that a
    notebook prints, or that a log line of another library shows, out of the task and triggerer logs.

    :param inner: the client credential.
    """

    inner: Auth

    def __repr__(self) -> str:
        return repr(self.inner)

    async def headers(self, base_url: str, fetch: FetchToken) -> AuthHeaders:
        """The inner credential's headers; their secrets registered first."""
        used = await self.inner.headers(base_url, fetch)
        await _register(used.secrets)
        return used

    def invalidate(self, base_url: str, used: AuthHeaders) -> bool:
        """Delegated to the inner credential."""
        return self.inner.invalidate(base_url, used)


@dataclass(frozen=True)
class MaskedSubjectToken:
    """A subject-token source whose tokens are registered with Airflow's masker before the exchange.

    :param inner: the source (a projected token file, the TokenRequest API, a callable).
    """

    inner: SubjectTokenSource

    @property
    def cache_key(self) -> str:
        """The inner source's."""
        return self.inner.cache_key

    def __repr__(self) -> str:
        return repr(self.inner)

    async def subject_token(self, fetch: FetchToken) -> str:
        """The inner source's token, registered first."""
        token = await self.inner.subject_token(fetch)
        await _register((token,))
        return token
