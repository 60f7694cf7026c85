"""The emulator's RFC 8693 token exchange under ``federation.json`` policies, and Entra ID bearers.

Refusals are OAuth errors (``error``, ``error_description``) with status 400, as RFC 8693 section 2.2.2
and RFC 6749 section 5.2 describe them.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from airflow_dbx_async.testing.metadata_service import mint_jwt

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_dbx_async.emulator import EmulatorServer
    from tests.emulator.conftest import MakeApi

pytestmark = pytest.mark.asyncio
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT = "urn:ietf:params:oauth:token-type:jwt"
ISSUER = "https://issuer.example.com"
ENTRA = "https://sts.windows.net/tenant/"
KEY = "k"


def policies(folder: Path) -> None:
    body = {
        "policies": [
            {"issuer": ISSUER, "audiences": ["dbx"], "subject": "svc", "client_id": "sp-1"},
            {"issuer": ISSUER, "subject": "acct", "key": KEY},
        ],
        "entra": {"issuer": ENTRA, "key": KEY},
    }
    (folder / "federation.json").write_text(json.dumps(body))


def jwt(key: str | None = None, **claims: Any) -> str:
    base = {"iss": ISSUER, "aud": "dbx", "sub": "svc", "exp": int(time.time()) + 600}
    return mint_jwt({**base, **claims}, key)


async def _exchange(server: EmulatorServer, **form: str) -> tuple[int, Any]:
    data = {"grant_type": EXCHANGE, "subject_token_type": JWT, "scope": "all-apis", **form}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/oidc/v1/token", data=data) as r,
    ):
        return r.status, await r.json()


async def _list(server: EmulatorServer, **headers: str) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/api/2.2/jobs/runs/list", headers=headers) as answer:
            return answer.status


async def test_exchange_under_a_service_principal_policy(make_api: MakeApi, tmp_path: Path) -> None:
    policies(tmp_path)
    server, _ = await make_api(simulate=True, workspace=tmp_path, oauth_token_ttl_seconds=3600)
    status, body = await _exchange(server, subject_token=jwt(exp=int(time.time()) + 100), client_id="sp-1")
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert 90 <= body["expires_in"] <= 100  # never beyond the subject token's own expiry
    assert await _list(server, Authorization=f"Bearer {body['access_token']}") == 200


async def test_account_wide_policy_checks_the_signature(make_api: MakeApi, tmp_path: Path) -> None:
    policies(tmp_path)
    server, _ = await make_api(simulate=True, workspace=tmp_path)
    assert (await _exchange(server, subject_token=jwt(KEY, sub="acct")))[0] == 200
    status, body = await _exchange(server, subject_token=jwt("wrong", sub="acct"))
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "signature" in body["error_description"]


@pytest.mark.parametrize(
    ("form", "error", "words"),
    [
        ({}, "invalid_request", "subject_token"),
        ({"subject_token": "not-a-jwt"}, "invalid_request", "not a valid JWT"),
        ({"subject_token_type": "urn:x"}, "invalid_request", "subject_token_type"),
        ({"client_id": "sp-unknown"}, "invalid_grant", "No federation policy"),
        ({"client_id": "sp-1", "sub": "other"}, "invalid_grant", "subject does not match"),
        ({"client_id": "sp-1", "aud": "other"}, "invalid_grant", "audience does not match"),
        ({"client_id": "sp-1", "exp": 1}, "invalid_grant", "expired"),
        ({"client_id": "sp-1", "nbf": 4102444800}, "invalid_grant", "not valid yet"),
        ({"client_id": "sp-1", "iss": "https://other"}, "invalid_grant", "issuer is not trusted"),
    ],
)
async def test_refusals_are_oauth_errors(
    make_api: MakeApi, tmp_path: Path, form: dict[str, Any], error: str, words: str
) -> None:
    policies(tmp_path)
    server, _ = await make_api(simulate=True, workspace=tmp_path)
    claims = {k: v for k, v in form.items() if k in ("sub", "aud", "exp", "nbf", "iss")}
    fields = {k: v for k, v in form.items() if k not in claims}
    if form:
        fields.setdefault("subject_token", jwt(**claims))
    status, body = await _exchange(server, **fields)
    assert (status, body["error"]) == (400, error)
    assert words in body["error_description"]
    assert fields.get("subject_token", "\0") not in json.dumps(body)


async def test_no_federation_json_means_no_policy(make_api: MakeApi) -> None:
    server, _ = await make_api(simulate=True)
    status, body = await _exchange(server, subject_token=jwt())
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_entra_tokens_for_the_databricks_resource_are_bearers(
    make_api: MakeApi, tmp_path: Path
) -> None:
    policies(tmp_path)
    server, _ = await make_api(simulate=True, workspace=tmp_path)
    databricks = mint_jwt(
        {"iss": ENTRA, "aud": "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", "exp": time.time() + 60}, KEY
    )
    management = mint_jwt(
        {"iss": ENTRA, "aud": "https://management.core.windows.net/", "exp": time.time() + 60}, KEY
    )
    bearer = f"Bearer {databricks}"
    assert await _list(server, Authorization=bearer) == 200
    assert (
        await _list(server, Authorization=bearer, **{"X-Databricks-Azure-SP-Management-Token": management})
        == 200
    )
    assert (
        await _list(server, Authorization=bearer, **{"X-Databricks-Azure-SP-Management-Token": databricks})
        == 403
    )
    assert await _list(server, Authorization=f"Bearer {management}") == 403
    unsigned = mint_jwt(
        {"iss": ENTRA, "aud": "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", "exp": time.time() + 60}
    )
    assert await _list(server, Authorization=f"Bearer {unsigned}") == 403


async def test_the_policy_of_the_tokens_issuer_gives_the_reason(make_api: MakeApi, tmp_path: Path) -> None:
    other = {
        "issuer": "https://sts.amazonaws.com",
        "audiences": ["databricks"],
        "subject": "role",
        "key": "k2",
    }
    body = {"policies": [{"issuer": ISSUER, "subject": "acct", "key": KEY}, other]}
    (tmp_path / "federation.json").write_text(json.dumps(body))
    server, _ = await make_api(simulate=True, workspace=tmp_path)
    aws = {"iss": other["issuer"], "sub": "role"}
    assert (await _exchange(server, subject_token=jwt("k2", aud="databricks", **aws)))[0] == 200
    cases = [
        (jwt("k2", aud="someone-else", **aws), "The token audience does not match the federation policy."),
        (jwt(KEY, aud="databricks", **aws), "The token signature could not be verified."),
        (jwt(KEY, sub="other"), "The token subject does not match the federation policy."),
        (
            jwt(KEY, iss="https://nobody.example.com"),
            "The token issuer is not trusted by any federation policy.",
        ),
    ]
    for token, reason in cases:
        status, answer = await _exchange(server, subject_token=token)
        assert (status, answer["error"], answer["error_description"]) == (400, "invalid_grant", reason)
