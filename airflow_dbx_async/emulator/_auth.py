"""Authentication: bearer tokens, HTTP Basic, and the OAuth token endpoint.

``/oidc/v1/token`` grants client credentials (OAuth M2M) and RFC 8693 token exchanges checked against
the federation policies of ``<workspace>/federation.json`` (see ``_federation``), whose ``entra``
section also makes Microsoft Entra ID tokens (a managed identity's) acceptable bearers. Auth failures
use Databricks' gateway shape, where ``error_code`` is a JSON number; token endpoint failures use
OAuth's ``error`` and ``error_description``. No credential is ever echoed back or logged.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from aiohttp import web

from airflow_dbx_async.emulator._federation import (
    AZURE_DATABRICKS_RESOURCE,
    AZURE_MANAGEMENT_RESOURCE,
    Refusal,
    check_entra,
    exchange,
)
from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._params import json_response

if TYPE_CHECKING:
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("check_credentials", "discovery_routes", "oauth_token")

_INVALID = "Invalid access token."
_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _unauthenticated() -> web.Response:
    message = f"Credential was not sent or was of an unsupported type for this API. [ReqId: {uuid.uuid4()}]"
    return json_response({"error_code": 401, "message": message}, 401)


def _forbidden() -> web.Response:
    return json_response(
        {"error_code": 403, "message": _INVALID}, 403, headers={"X-Databricks-Reason-Phrase": _INVALID}
    )


def _basic(header: str) -> tuple[str, str] | None:
    try:
        raw = base64.b64decode(header.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError):
        return None
    user, sep, password = raw.partition(":")
    return (user, password) if sep else None


def _token_ok(state: EmulatorState, token: str) -> bool:
    if any(secrets.compare_digest(token, known) for known in state.config.tokens):
        return True
    expiry = state.oauth_tokens.get(token)
    if expiry is not None:
        return state.clock() < expiry
    return token.count(".") == 2 and check_entra(state, token, AZURE_DATABRICKS_RESOURCE)


def _management_ok(state: EmulatorState, request: web.Request) -> bool:
    """A management token sent along an Entra ID bearer must be one (for the management resource)."""
    management = request.headers.get("X-Databricks-Azure-SP-Management-Token")
    return management is None or check_entra(state, management, AZURE_MANAGEMENT_RESOURCE)


def check_credentials(state: EmulatorState, request: web.Request) -> web.Response | None:
    """None when the request is authenticated, else the 401/403 answer."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None if _token_ok(state, value) and _management_ok(state, request) else _forbidden()
    if scheme.lower() == "basic" and value:
        pair = _basic(value)
        if pair is None:
            return _unauthenticated()
        user, password = pair
        known = state.config.basic_users.get(user)
        if known is not None and secrets.compare_digest(known, password):
            return None
        return None if _token_ok(state, password) else _forbidden()
    return _unauthenticated()


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return json_response({"error": error, "error_description": description}, status)


def _client_credentials(request: web.Request, form: dict[str, str]) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        return _basic(value.strip())
    if "client_id" in form and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    return None


async def oauth_token(request: web.Request) -> web.Response:
    """``POST /oidc/v1/token``: OAuth client-credentials grant (client auth by Basic header or form)."""
    state: EmulatorState = request.app[STATE]
    raw = (await request.read()).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(raw).items()}
    if form.get("grant_type") == _TOKEN_EXCHANGE:
        return _token_exchange(state, form)
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(
            400,
            "unsupported_grant_type",
            f"Only grant_type=client_credentials and grant_type={_TOKEN_EXCHANGE} are supported.",
        )
    creds = _client_credentials(request, form)
    if creds is None:
        return _oauth_error(401, "invalid_client", "Client authentication is required.")
    client_id, secret = creds
    known = state.config.oauth_clients.get(client_id)
    if known is None or not secrets.compare_digest(known, secret):
        return _oauth_error(401, "invalid_client", "Client authentication failed.")
    return _issue(state, form, state.config.oauth_token_ttl_seconds)


def _issue(state: EmulatorState, form: dict[str, str], ttl: int) -> web.Response:
    token = "dose-emulator-" + secrets.token_hex(16)
    state.oauth_tokens[token] = state.clock() + ttl
    body = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": form.get("scope", "all-apis"),
    }
    return json_response(body)


def _token_exchange(state: EmulatorState, form: dict[str, str]) -> web.Response:
    """RFC 8693 token exchange of a federated JWT; refusals are 400 OAuth errors (RFC 8693 2.2.2)."""
    try:
        lifetime = exchange(state, form)
    except Refusal as refusal:
        return _oauth_error(400, refusal.error, refusal.description)
    except ValueError:  # federation.json is not JSON
        return _oauth_error(500, "server_error", "The workspace's federation.json cannot be read.")
    return _issue(state, form, int(lifetime))


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def _databricks_config(request: web.Request) -> web.Response:
    state: EmulatorState = request.app[STATE]
    body = {
        "oidc_endpoint": f"{_origin(request)}/oidc",
        "workspace_id": str(state.config.workspace_id),
        "host_type": "WORKSPACE_HOST",
    }
    return json_response(body)


async def _oauth_metadata(request: web.Request) -> web.Response:
    origin = _origin(request)
    body = {
        "issuer": f"{origin}/oidc",
        "authorization_endpoint": f"{origin}/oidc/v1/authorize",
        "token_endpoint": f"{origin}/oidc/v1/token",
        "grant_types_supported": ["client_credentials", _TOKEN_EXCHANGE],
    }
    return json_response(body)


def discovery_routes() -> list[web.RouteDef]:
    """Routes of the OAuth token endpoint and the discovery documents the SDK reads."""
    return [
        web.post("/oidc/v1/token", oauth_token),
        web.get("/.well-known/databricks-config", _databricks_config),
        web.get("/oidc/.well-known/oauth-authorization-server", _oauth_metadata),
    ]
