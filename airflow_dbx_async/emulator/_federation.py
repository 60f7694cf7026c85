"""Token federation and Microsoft Entra ID tokens: the policies of ``<workspace>/federation.json``.

``federation.json`` (read again when it changes)::

    {
      "policies": [
        {"issuer": "https://kubernetes.default.svc", "audiences": ["https://kubernetes.default.svc"],
         "subject": "system:serviceaccount:airflow:triggerer", "client_id": "sp-app-id"}
      ],
      "entra": {"issuer": "https://sts.windows.net/<tenant>/", "key": "shared-secret"}
    }

A policy with ``client_id`` is a service-principal federation policy (the exchange must name that
client id); one without is account-wide. ``subject_claim`` (default ``sub``) names the claim compared
with ``subject``; ``audiences`` and ``subject`` are not checked when absent. ``entra`` makes bearer
JWTs from that issuer for the Azure Databricks resource (and management tokens in
``X-Databricks-Azure-SP-Management-Token``) acceptable, as a managed identity's are.

JWTs are checked for shape, ``iss``, ``aud``, the subject, ``exp`` and ``nbf``. Their signature is
checked only when the policy gives a ``key``: an HS256 shared secret (Databricks verifies RS256/ES256
against the issuer's JWKS instead; a local stand-in signs with a shared secret). The emulator imports
neither the client nor Airflow.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = (
    "AZURE_DATABRICKS_RESOURCE",
    "AZURE_MANAGEMENT_RESOURCE",
    "Refusal",
    "check_entra",
    "exchange",
)

AZURE_DATABRICKS_RESOURCE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
AZURE_MANAGEMENT_RESOURCE = "https://management.core.windows.net/"
_JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
_UNTRUSTED_ISSUER = "The token issuer is not trusted by any federation policy."
_CACHE: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


class Refusal(Exception):
    """An OAuth error answer: ``error`` and ``error_description`` (RFC 6749 section 5.2)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error, description)
        self.error = error
        self.description = description


def _settings(state: EmulatorState) -> dict[str, Any]:
    root = state.config.workspace_path
    path = None if root is None else root / "federation.json"
    if path is None or not path.is_file():
        return {}
    stat = path.stat()
    identity = (stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(path)
    if cached is None or cached[0] != identity:
        loaded = json.loads(path.read_text(encoding="utf-8"))
        _CACHE[path] = (identity, loaded if isinstance(loaded, dict) else {})
    return _CACHE[path][1]


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes] | None:
    """Header, claims, signed part and signature of a compact JWT; ``None`` when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = json.loads(_b64(parts[0])), json.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return (
        [aud]
        if isinstance(aud, str)
        else [a for a in aud if isinstance(a, str)]
        if isinstance(aud, list)
        else []
    )


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _check(token: str, rule: dict[str, Any], now: float) -> dict[str, Any]:
    """The claims of ``token`` when it satisfies ``rule``; else raises :class:`Refusal` (invalid_grant)."""
    decoded = decode_jwt(token)
    if decoded is None:
        raise Refusal("invalid_request", "The subject_token is not a valid JWT.")
    header, claims, signed, signature = decoded
    if claims.get("iss") != rule.get("issuer"):  # first: the issuer chooses the policy (and its key)
        raise Refusal("invalid_grant", _UNTRUSTED_ISSUER)
    key = rule.get("key")
    if key:
        expected = hmac.new(str(key).encode(), signed, hashlib.sha256).digest()
        if header.get("alg") != "HS256" or not hmac.compare_digest(expected, signature):
            raise Refusal("invalid_grant", "The token signature could not be verified.")
    expires = _number(claims, "exp")
    if expires is None or expires <= now:
        raise Refusal("invalid_grant", "The token is expired or has no expiration time.")
    not_before = _number(claims, "nbf")
    if not_before is not None and not_before > now:
        raise Refusal("invalid_grant", "The token is not valid yet.")
    audiences = rule.get("audiences")
    if audiences and not set(_audiences(claims)) & set(audiences):
        raise Refusal("invalid_grant", "The token audience does not match the federation policy.")
    subject = rule.get("subject")
    if subject is not None and claims.get(rule.get("subject_claim", "sub")) != subject:
        raise Refusal("invalid_grant", "The token subject does not match the federation policy.")
    return claims


def exchange(state: EmulatorState, form: dict[str, str]) -> float:
    """Check an RFC 8693 token exchange; the issued token's lifetime in seconds, or :class:`Refusal`.

    The lifetime is the emulator's OAuth token lifetime, but never beyond the subject token's ``exp``
    (Databricks derives it from the federated token's lifetime).
    """
    subject_token = form.get("subject_token", "")
    if not subject_token:
        raise Refusal("invalid_request", "Missing required parameter: subject_token.")
    if form.get("subject_token_type") != _JWT_TYPE:
        raise Refusal("invalid_request", f"Unsupported subject_token_type; expected {_JWT_TYPE}.")
    client_id = form.get("client_id") or None
    policies = [p for p in _settings(state).get("policies", []) if isinstance(p, dict)]
    matching = [p for p in policies if (p.get("client_id") or None) == client_id]
    if not matching:
        whose = f"service principal {client_id!r}" if client_id else "the account"
        raise Refusal("invalid_grant", f"No federation policy is configured for {whose}.")
    now = state.clock()
    refusal: Refusal | None = None
    for policy in matching:
        try:
            claims = _check(subject_token, policy, now)
        except Refusal as exc:
            # Say why the policy of the token's own issuer refused it, not that another's issuer differs.
            if refusal is None or exc.description != _UNTRUSTED_ISSUER:
                refusal = exc
            continue
        expires = _number(claims, "exp") or now
        return max(1.0, min(float(state.config.oauth_token_ttl_seconds), expires - now))
    assert refusal is not None
    raise refusal


def check_entra(state: EmulatorState, token: str, resource: str) -> bool:
    """Whether ``token`` is an Entra ID token for ``resource`` from the configured ``entra`` issuer."""
    entra = _settings(state).get("entra")
    if not isinstance(entra, dict) or decode_jwt(token) is None:
        return False
    rule = {"issuer": entra.get("issuer"), "key": entra.get("key"), "audiences": [resource]}
    try:
        _check(token, rule, state.clock())
    except Refusal:
        return False
    return True
