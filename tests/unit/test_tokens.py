"""The shared token cache: single flight, shared failures, cancellation, errors naming the credential."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from airflow_dbx_async.client import (
    AzureManagedIdentityAuth,
    CallableSubjectToken,
    ConfigurationError,
    FederatedTokenAuth,
    KubernetesTokenRequest,
    RateLimited,
    ServerError,
    Timeout,
    _tokens,
    is_retryable,
)
from airflow_dbx_async.client._auth import TokenRequest


@pytest.fixture(autouse=True)
def _empty_cache():
    _tokens.clear_token_cache()
    yield
    _tokens.clear_token_cache()


@pytest.mark.asyncio
async def test_concurrent_callers_share_one_acquisition() -> None:
    calls = 0
    started, release = asyncio.Event(), asyncio.Event()

    async def acquire() -> tuple[str, float]:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return f"token-{calls}", 3600.0

    waiters = [asyncio.ensure_future(_tokens.cached_token(("k",), acquire)) for _ in range(1000)]
    await started.wait()  # the flight runs after every waiter has joined it
    release.set()
    assert set(await asyncio.gather(*waiters)) == {"token-1"}
    assert calls == 1
    assert await _tokens.cached_token(("k",), acquire) == "token-1"  # cached afterwards


@pytest.mark.asyncio
async def test_a_failure_is_shared_and_the_next_call_tries_again() -> None:
    attempts: list[int] = []

    async def acquire() -> tuple[str, float]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RateLimited(429, "too_many_requests", "slow down", "GET", "/t", 2.0)
        return "fresh", 3600.0

    results = await asyncio.gather(
        *(_tokens.cached_token(("k",), acquire) for _ in range(50)), return_exceptions=True
    )
    assert all(isinstance(r, RateLimited) for r in results)
    assert len(attempts) == 1
    assert await _tokens.cached_token(("k",), acquire) == "fresh"


@pytest.mark.asyncio
async def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def acquire() -> tuple[str, float]:
        started.set()
        await release.wait()
        return "t", 60.0

    first = asyncio.ensure_future(_tokens.cached_token(("k",), acquire))
    second = asyncio.ensure_future(_tokens.cached_token(("k",), acquire))
    await started.wait()
    first.cancel()
    release.set()
    assert await second == "t"
    assert first.cancelled()


@pytest.mark.asyncio
async def test_forget_drops_only_the_refused_token() -> None:
    async def acquire() -> tuple[str, float]:
        return "current", 3600.0

    await _tokens.cached_token(("k",), acquire)
    _tokens.forget_token(("k",), ("older",))
    assert ("k",) in _tokens._TOKENS
    _tokens.forget_token(("k",), ("current",))
    assert ("k",) not in _tokens._TOKENS


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "error",
    [
        RateLimited(429, "too_many_requests", "token request failed: x", "GET", "/t", 4.0),
        ServerError(503, "unavailable", "token request failed: x", "GET", "/t", None),
        Timeout("GET", "/t", "timed out", request_sent=False),
    ],
)
async def test_naming_keeps_the_class_and_the_retry_meaning(error) -> None:
    named = _tokens.naming("use_azure_managed_identity", error)
    assert type(named) is type(error)
    assert is_retryable(named) == is_retryable(error)
    assert str(named).count("use_azure_managed_identity") == 1
    assert getattr(named, "retry_after", None) == getattr(error, "retry_after", None)
    assert pickle.loads(pickle.dumps(named)).args == named.args


def test_naming_a_configuration_error_makes_the_extra_its_field() -> None:
    named = _tokens.naming("federated_k8s", ConfigurationError("token_endpoint", "bad certificate"))
    assert (named.field, str(named)) == ("federated_k8s", "federated_k8s: token_endpoint: bad certificate")


def test_the_metadata_service_request_matches_the_official_one() -> None:
    auth = AzureManagedIdentityAuth(client_id="mi-1")
    request = auth.token_request("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d")
    assert request.url == "http://169.254.169.254/metadata/identity/oauth2/token"
    assert (request.method, dict(request.headers)) == ("GET", {"Metadata": "true"})
    assert dict(request.query) == {
        "api-version": "2018-02-01",
        "resource": "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d",
        "client_id": "mi-1",
    }


@pytest.mark.parametrize("endpoint", ["http://imds.example.com/token", "ftp://169.254.169.254/x", "nothing"])
def test_a_metadata_endpoint_over_http_must_be_link_local_or_loopback(endpoint) -> None:
    with pytest.raises(ConfigurationError) as raised:
        AzureManagedIdentityAuth(endpoint=endpoint)
    assert raised.value.field == "use_azure_managed_identity"


def test_the_exchange_form_matches_the_official_one() -> None:
    auth = FederatedTokenAuth(CallableSubjectToken(lambda: "jwt", key="k"), client_id="sp")
    assert list(auth.exchange_form("jwt").items()) == [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("scope", "all-apis"),
        ("subject_token", "jwt"),
        ("client_id", "sp"),
    ]
    assert "client_id" not in FederatedTokenAuth(CallableSubjectToken(lambda: "jwt")).exchange_form("jwt")


def test_kubernetes_defaults_are_the_official_ones() -> None:
    source = FederatedTokenAuth.kubernetes("sp").source
    assert source == KubernetesTokenRequest()
    assert source.audience == "https://kubernetes.default.svc"
    assert source.expiration_seconds == 3600
    assert source.token_path == "/var/run/secrets/kubernetes.io/serviceaccount/token"


def test_reprs_show_no_secret() -> None:
    request = TokenRequest(
        url="https://h/oidc/v1/token", form={"subject_token": "jwt-secret"}, secret="jwt-secret"
    )
    assert "jwt-secret" not in repr(request)
    source = CallableSubjectToken(lambda: "jwt-secret", key="provider.path")
    assert repr(source) == "CallableSubjectToken('callable:provider.path')"
    assert "jwt-secret" not in repr(FederatedTokenAuth(source, client_id="sp"))
