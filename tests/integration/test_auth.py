from __future__ import annotations

import base64
import logging
import random
from urllib.parse import parse_qs

import pytest
from aiohttp import web

from airflow_dbx_async.client import (
    ApiError,
    AuthError,
    AzureServicePrincipalAuth,
    BasicAuth,
    JobsClient,
    OAuthM2MAuth,
    ServerError,
    TokenAuth,
    _tokens,
)
from tests.integration.conftest import make_config, reply

_GET = "/api/2.2/jobs/runs/get"
_RUN = {"run_id": 1, "state": {"life_cycle_state": "RUNNING"}}
_SECRET = "sp-client-secret-do-not-leak"
_OIDC = "/oidc/v1/token"
_AZURE_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"


def _token_answers(*tokens: str, expires_in: object = 3600):
    remaining = list(tokens)

    async def handler(request: web.Request) -> web.StreamResponse:
        token = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": "all-apis"}
        )

    return handler


def _bearers(fake, path=_GET):
    return [r.headers["Authorization"] for r in fake.calls(path)]


@pytest.mark.asyncio
async def test_basic_auth_header(fake):
    fake.on("GET", _GET, _RUN)
    async with JobsClient(make_config(fake, auth=BasicAuth("user@example.com", _SECRET))) as client:
        await client.get_run(1)
    expected = base64.b64encode(f"user@example.com:{_SECRET}".encode()).decode()
    assert _bearers(fake) == [f"Basic {expected}"]


@pytest.mark.asyncio
async def test_oauth_m2m_token_request_shape_and_cache(fake):
    fake.on("POST", _OIDC, _token_answers("oauth-token-1"))
    fake.on("GET", _GET, _RUN)
    for _ in range(2):
        auth = OAuthM2MAuth("sp-app-id", _SECRET)  # equal credentials share the per-process cache
        async with JobsClient(make_config(fake, auth=auth)) as client:
            await client.get_run(1)
            await client.get_run(1)
    [token_request] = fake.calls(_OIDC)
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_request.body) == {"grant_type": ["client_credentials"], "scope": ["all-apis"]}
    client_auth = base64.b64encode(f"sp-app-id:{_SECRET}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {client_auth}"
    assert _bearers(fake) == ["Bearer oauth-token-1"] * 4


@pytest.mark.asyncio
async def test_token_close_to_expiry_is_refreshed_early(fake):
    # 30 s left is inside the 60 s refresh margin, so every call fetches a new token.
    fake.on("POST", _OIDC, _token_answers("t1", "t2", "t3", expires_in=30))
    fake.on("GET", _GET, _RUN)
    async with JobsClient(make_config(fake, auth=OAuthM2MAuth("id", _SECRET))) as client:
        for _ in range(3):
            await client.get_run(1)
    assert _bearers(fake) == ["Bearer t1", "Bearer t2", "Bearer t3"]


def test_refresh_moment_has_a_margin_and_jitter():
    rng = random.Random(7)
    moments = [_tokens.refresh_at(0.0, 3600.0, rng) for _ in range(200)]
    assert all(3600 - 60 - 30 <= m <= 3600 - 60 for m in moments)
    assert len({round(m, 3) for m in moments}) > 100  # spread: triggerers do not refresh together
    assert _tokens.refresh_at(0.0, 30.0, rng) < 0.0  # shorter than the margin: never fresh


@pytest.mark.asyncio
async def test_explicit_token_url_and_scope(fake):
    fake.on("POST", "/custom/token", _token_answers("t", expires_in="3600"))
    fake.on("GET", _GET, _RUN)
    auth = OAuthM2MAuth("id", _SECRET, token_url=f"{fake.url}/custom/token", scopes="jobs")
    async with JobsClient(make_config(fake, auth=auth)) as client:
        await client.get_run(1)
    assert parse_qs(fake.calls("/custom/token")[0].body)["scope"] == ["jobs"]


@pytest.mark.asyncio
async def test_401_forces_one_refresh_and_one_retry(fake):
    fake.on("POST", _OIDC, _token_answers("stale", "fresh"))
    fake.on("GET", _GET, reply(401, {"error_code": 401, "message": "Token expired"}), _RUN)
    async with JobsClient(make_config(fake, auth=OAuthM2MAuth("id", _SECRET))) as client:
        assert (await client.get_run(1)).run_id == 1
        assert client.request_count == 4  # two token requests and two runs/get: one HTTP path counts all
    assert _bearers(fake) == ["Bearer stale", "Bearer fresh"]
    assert len(fake.calls(_OIDC)) == 2


@pytest.mark.asyncio
async def test_persistent_401_fails_after_exactly_one_refresh(fake):
    fake.on("POST", _OIDC, _token_answers("a", "b", "c"))
    fake.on("GET", _GET, reply(401, {"error_code": 401, "message": "Credential was not sent"}))
    async with JobsClient(make_config(fake, auth=OAuthM2MAuth("id", _SECRET))) as client:
        with pytest.raises(AuthError) as info:
            await client.get_run(1)
        assert client.request_count == 4  # two token requests and two runs/get
    assert info.value.status == 401
    assert len(fake.calls(_OIDC)) == 2


@pytest.mark.asyncio
async def test_static_token_401_is_not_retried(fake):
    fake.on("GET", _GET, reply(401, {"error_code": 401, "message": "no"}), _RUN)
    async with JobsClient(make_config(fake, auth=TokenAuth("pat"))) as client:
        with pytest.raises(AuthError):
            await client.get_run(1)
        assert client.request_count == 1


@pytest.mark.asyncio
async def test_token_endpoint_rejection_is_an_auth_error_without_the_secret(fake):
    fake.on(
        "POST", _OIDC, reply(401, {"error": "invalid_client", "error_description": f"bad secret {_SECRET}"})
    )
    async with JobsClient(make_config(fake, auth=OAuthM2MAuth("id", _SECRET))) as client:
        with pytest.raises(AuthError) as info:
            await client.get_run(1)
    assert info.value.error_code == "invalid_client"
    assert "token request failed" in info.value.message
    assert _SECRET not in str(info.value)
    assert _SECRET not in repr(info.value)
    assert fake.calls(_GET) == []


@pytest.mark.asyncio
async def test_token_answer_without_access_token(fake):
    fake.on("POST", _OIDC, {"token_type": "Bearer"})
    async with JobsClient(make_config(fake, auth=OAuthM2MAuth("id", _SECRET))) as client:
        with pytest.raises(AuthError, match="no access_token"):
            await client.get_run(1)


@pytest.mark.asyncio
async def test_token_endpoint_outage_is_retried(fake):
    fake.on("POST", _OIDC, reply(503, {"error": "temporarily_unavailable"}), _token_answers("t"))
    fake.on("GET", _GET, _RUN)
    async with JobsClient(make_config(fake, auth=OAuthM2MAuth("id", _SECRET))) as client:
        await client.get_run(1)
    assert _bearers(fake) == ["Bearer t"]
    fake.on("POST", _OIDC, reply(503, {"error": "temporarily_unavailable"}))
    async with JobsClient(make_config(fake, auth=OAuthM2MAuth("other", _SECRET))) as client:
        with pytest.raises(ServerError):
            await client.get_run(1)


@pytest.mark.asyncio
async def test_token_requests_take_the_one_http_path(fake, no_sleep):
    fake.on(
        "POST", _OIDC, reply(503, {"error": "temporarily_unavailable"}, Retry_After="7"), _token_answers("t")
    )
    fake.on("GET", _GET, _RUN)
    async with JobsClient(make_config(fake, auth=OAuthM2MAuth("id", _SECRET))) as client:
        await client.get_run(1)
        assert client.request_count == 3  # two token requests and the runs/get, all counted
    assert no_sleep == [7.0]  # the token endpoint's Retry-After is honoured like any answer's
    assert fake.calls(_OIDC)[0].headers["User-Agent"] == "airflow-dbx-async"


@pytest.mark.asyncio
async def test_azure_service_principal_tokens_and_headers(fake):
    fake.on("POST", "/tenant-1/oauth2/v2.0/token", _token_answers("aad-db", "aad-mgmt"))
    fake.on("GET", _GET, _RUN)
    resource_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Databricks/workspaces/w"
    auth = AzureServicePrincipalAuth(
        "tenant-1", "app-1", _SECRET, resource_id=resource_id, login_url=fake.url
    )
    async with JobsClient(make_config(fake, auth=auth)) as client:
        await client.get_run(1)
        await client.get_run(1)
    forms = [parse_qs(r.body) for r in fake.calls("/tenant-1/oauth2/v2.0/token")]
    assert [f["scope"] for f in forms] == [[_AZURE_SCOPE], ["https://management.core.windows.net//.default"]]
    assert forms[0]["client_id"] == ["app-1"]
    assert forms[0]["grant_type"] == ["client_credentials"]
    for request in fake.calls(_GET):
        assert request.headers["Authorization"] == "Bearer aad-db"
        assert request.headers["X-Databricks-Azure-SP-Management-Token"] == "aad-mgmt"
        assert request.headers["X-Databricks-Azure-Workspace-Resource-Id"] == resource_id


@pytest.mark.asyncio
async def test_azure_without_resource_id_sends_only_the_bearer(fake):
    fake.on("POST", "/t/oauth2/v2.0/token", _token_answers("aad"))
    fake.on("GET", _GET, _RUN)
    auth = AzureServicePrincipalAuth("t", "app", _SECRET, login_url=fake.url)
    async with JobsClient(make_config(fake, auth=auth)) as client:
        await client.get_run(1)
    [request] = fake.calls(_GET)
    assert request.headers["Authorization"] == "Bearer aad"
    assert "X-Databricks-Azure-SP-Management-Token" not in request.headers


@pytest.mark.asyncio
async def test_tokens_never_reach_logs_errors_or_reprs(fake, caplog, no_sleep):
    fake.on("POST", _OIDC, _token_answers("oauth-access-token-SECRET"))
    fake.on(
        "GET",
        _GET,
        reply(503, raw=b"<pre>echo oauth-access-token-SECRET</pre>", Retry_After="1"),
        reply(401, {"error_code": 401, "message": "expired oauth-access-token-SECRET"}),
        reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "oauth-access-token-SECRET"}),
    )
    auth = OAuthM2MAuth("id", _SECRET)
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        async with JobsClient(make_config(fake, auth=auth)) as client:
            with pytest.raises(ApiError) as info:
                await client.get_run(1)
            errors.append(info.value)
            texts = [repr(client), repr(client.config), repr(auth)]
    assert no_sleep == [1.0]
    assert "retrying" in caplog.text
    texts += [caplog.text, *(str(e) for e in errors), *(repr(e) for e in errors)]
    for text in texts:
        assert "oauth-access-token-SECRET" not in text
        assert _SECRET not in text
