"""The per-process token cache: one token per credential, refreshed early, fetched by one caller at a time.

Every auth object that obtains tokens (OAuth M2M, Microsoft Entra ID, managed identities, token
federation) keeps them here, under a key made of the credential (a hash of any secret, never the
secret itself) and the token's audience. A token is used until its :func:`refresh_at` moment, some time
before it expires, with a random part (jitter) so that the triggerers of a deployment do not all refresh in
the same second.

Single flight: however many callers need a token at once on one event loop (a thousand triggers of
a triggerer waking together), exactly one of them asks for it; the others wait for that answer, and
share its failure too (each caller's retry loop then decides whether to ask again). The flight runs
as its own task, so a caller that is cancelled while waiting does not cancel the others' token.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast
from urllib.parse import urlsplit

from airflow_dbx_async.client.errors import (
    ApiError,
    AuthError,
    ConfigurationError,
    DatabricksError,
    TransportError,
)

__all__ = (
    "REFRESH_JITTER_SECONDS",
    "TOKEN_REFRESH_MARGIN_SECONDS",
    "cached_token",
    "clear_token_cache",
    "forget_token",
    "labelled",
    "naming",
    "read_token",
    "refresh_at",
)

TOKEN_REFRESH_MARGIN_SECONDS = 60.0
REFRESH_JITTER_SECONDS = 30.0
DEFAULT_LIFETIME_SECONDS = 300.0

Key = tuple[str, ...]
_E = TypeVar("_E", bound=DatabricksError)
Acquire = Callable[[], Awaitable[tuple[str, float]]]
"""Obtains a new token: returns it and its lifetime in seconds."""


@dataclass
class _CachedToken:
    access_token: str = field(repr=False)
    expires_at: float
    refresh_at: float


_TOKENS: dict[Key, _CachedToken] = {}
_FLIGHTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Key, asyncio.Task[str]]] = (
    weakref.WeakKeyDictionary()
)
_clock: Callable[[], float] = time.time
_rng = random.Random()


def clear_token_cache() -> None:
    """Forget every cached token (tests, or after rotating a secret)."""
    _TOKENS.clear()


def refresh_at(obtained: float, lifetime: float, rng: random.Random | None = None) -> float:
    """When a token obtained at ``obtained`` and valid ``lifetime`` seconds is replaced.

    :data:`TOKEN_REFRESH_MARGIN_SECONDS` plus up to :data:`REFRESH_JITTER_SECONDS` before it expires.
    A token living less than the margin is never trusted again: every call asks for a new one (still
    one request for all the callers waiting at that moment).
    """
    early = TOKEN_REFRESH_MARGIN_SECONDS + (rng or _rng).uniform(0.0, REFRESH_JITTER_SECONDS)
    return obtained + lifetime - early


def forget_token(key: Key, used_secrets: tuple[str, ...]) -> None:
    """Drop the cached token of ``key`` if it is one of ``used_secrets`` (the one a server refused)."""
    cached = _TOKENS.get(key)
    if cached is not None and cached.access_token in used_secrets:
        _TOKENS.pop(key, None)


def _fresh(key: Key) -> str | None:
    cached = _TOKENS.get(key)
    if cached is not None and _clock() < cached.refresh_at:
        return cached.access_token
    return None


async def _refresh(key: Key, acquire: Acquire) -> str:
    token, lifetime = await acquire()
    now = _clock()
    _TOKENS[key] = _CachedToken(token, now + lifetime, refresh_at(now, lifetime))
    return token


def _settle(flights: dict[Key, asyncio.Task[str]], key: Key, task: asyncio.Task[str]) -> None:
    if flights.get(key) is task:
        del flights[key]
    if not task.cancelled():
        task.exception()  # retrieved here, so a failure nobody waits for any more is not reported


async def cached_token(key: Key, acquire: Acquire) -> str:
    """The cached token of ``key``, or a new one from the single in-flight ``acquire()``."""
    token = _fresh(key)
    if token is not None:
        return token
    loop = asyncio.get_running_loop()
    flights = _FLIGHTS.setdefault(loop, {})
    task = flights.get(key)
    if task is None:
        task = loop.create_task(_refresh(key, acquire))
        flights[key] = task
        task.add_done_callback(lambda done: _settle(flights, key, done))
    return await asyncio.shield(task)


def read_token(raw: bytes, url: str) -> tuple[str, float]:
    """The access token and its lifetime in seconds from a token endpoint's JSON answer."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        body = None
    # Never quote this body in an error: it may hold the very token we failed to read.
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("access_token"), str)
        or not body["access_token"]
    ):
        path = urlsplit(url).path or "/"
        raise AuthError(
            200, "INVALID_TOKEN_RESPONSE", "token endpoint answer has no access_token", "POST", path
        )
    try:  # the metadata service sends it as text: "expires_in": "3599"
        lifetime = float(body.get("expires_in", DEFAULT_LIFETIME_SECONDS))
    except (TypeError, ValueError):
        lifetime = DEFAULT_LIFETIME_SECONDS
    if lifetime != lifetime or lifetime <= 0:  # NaN, or nonsense: use the token once more at most
        lifetime = DEFAULT_LIFETIME_SECONDS
    return body["access_token"], lifetime


def naming(label: str, exc: _E) -> _E:
    """``exc`` again (same class, same retry meaning), its message starting with ``label``.

    The credential's failures then name the setting that chose it (``use_azure_managed_identity``,
    ``federated_k8s``...) in one line, whatever failed underneath: the metadata service, the token
    exchange, a file or a certificate.
    """
    if isinstance(exc, ConfigurationError):
        if exc.field == label:
            return exc
        return cast("_E", ConfigurationError(label, f"{exc.field}: {exc.message}"))
    if isinstance(exc, ApiError):
        args = list(exc.args)
        args[2] = f"{label}: {exc.message}"
        return cast("_E", type(exc)(*args))
    if isinstance(exc, TransportError):
        return cast("_E", type(exc)(exc.method, exc.path, f"{label}: {exc.reason}", exc.request_sent))
    return exc


def labelled(label: str, acquire: Acquire) -> Acquire:
    """``acquire`` whose Databricks errors name ``label`` (see :func:`naming`)."""

    async def named() -> tuple[str, float]:
        try:
            return await acquire()
        except DatabricksError as exc:
            raise naming(label, exc) from None

    return named
