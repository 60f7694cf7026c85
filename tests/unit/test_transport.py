from __future__ import annotations

import email.utils
import json
import ssl

import aiohttp
import pytest

from airflow_dbx_async.client import (
    ApiError,
    AuthError,
    ConfigurationError,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
    is_retryable,
)
from airflow_dbx_async.client._transport import (
    decode_success,
    encode_params,
    error_for_answer,
    max_body_bytes,
    parse_retry_after,
    too_large,
    translate_client_error,
)

_TOKEN = "dapi-secret-token-abcdef"


def test_encode_params_like_the_sdk():
    encoded = encode_params(
        {"run_id": 969479553499872, "active_only": True, "expand": False, "x": None, "n": "a"}
    )
    assert encoded == {"run_id": "969479553499872", "active_only": "true", "expand": "false", "n": "a"}
    assert encode_params(None) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def _error(status, body, headers=None):
    return error_for_answer(status, body, headers or {}, "GET", "/api/2.2/jobs/runs/get", (_TOKEN,))


def test_databricks_error_body_is_kept():
    error = _error(400, b'{"error_code":"INVALID_PARAMETER_VALUE","message":"Run 5 does not exist."}')
    assert type(error) is NotFound
    assert (error.status, error.error_code, error.message) == (
        400,
        "INVALID_PARAMETER_VALUE",
        "Run 5 does not exist.",
    )
    assert (error.method, error.path) == ("GET", "/api/2.2/jobs/runs/get")


def test_numeric_auth_error_code_becomes_text():
    error = _error(403, b'{"error_code": 403, "message": "Invalid access token."}')
    assert type(error) is AuthError
    assert error.error_code == "403"


def test_rate_limit_and_503_carry_retry_after():
    limited = _error(429, b'{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"x"}', {"Retry-After": "3"})
    assert isinstance(limited, RateLimited)
    assert limited.retry_after == 3.0
    busy = _error(503, b"", {"Retry-After": "1"})
    assert isinstance(busy, ServerError)
    assert busy.retry_after == 1.0
    assert _error(500, b"{}", {"Retry-After": "1"}).retry_after is None


@pytest.mark.parametrize(
    ("status", "body", "code", "fragment"),
    [
        (502, b"", "BAD_GATEWAY", "HTTP 502 with an empty body"),
        (
            403,
            b"<html><head><title>HTTP ERROR 403 Invalid access token.</title></head><body>x</body></html>",
            "PERMISSION_DENIED",
            "'HTTP ERROR 403 Invalid access token.'",
        ),
        (
            500,
            b"<html><body><h1>Oops</h1><p>upstream died</p></body></html>",
            "INTERNAL_ERROR",
            "Oops upstream died",
        ),
        (400, b"MALFORMED_REQUEST: Could not parse request", "MALFORMED_REQUEST", "Could not parse request"),
        (418, b"I'm a teapot", "HTTP_418", 'non-JSON body: "I\'m a teapot"'),
        (500, b"[1, 2]", "INTERNAL_ERROR", "non-JSON body"),
        (
            400,
            b'{"error": "invalid_client", "error_description": "bad client"}',
            "invalid_client",
            "bad client",
        ),
    ],
)
def test_non_standard_bodies_give_clear_errors(status, body, code, fragment):
    error = _error(status, body)
    assert error.status == status
    assert error.error_code == code
    assert fragment in error.message


def test_a_multi_line_error_description_becomes_one_line():
    """Microsoft Entra puts trace and correlation ids on lines of their own; the error stays one line."""
    description = (
        "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1f2e\r\nCorrelation ID: 9a8b\r\n"
    )
    error = _error(401, json.dumps({"error": "invalid_client", "error_description": description}).encode())
    assert (
        error.message == "AADSTS7000215: Invalid client secret provided. Trace ID: 1f2e Correlation ID: 9a8b"
    )
    assert "\n" not in str(error)


def test_long_bodies_are_cut_and_secrets_redacted():
    body = f"<pre>{_TOKEN} " + "x" * 5000 + "</pre>"
    error = _error(500, body.encode())
    assert _TOKEN not in str(error)
    assert len(error.message) < 300
    echoed = _error(401, f'{{"error_code": 401, "message": "bad token {_TOKEN}"}}'.encode())
    assert _TOKEN not in str(echoed)
    assert "***" in echoed.message


def test_decode_success():
    assert decode_success(200, b"", "POST", "/p") == {}
    assert decode_success(200, b'{"run_id": 5}', "POST", "/p") == {"run_id": 5}
    with pytest.raises(ApiError, match="not a JSON object") as info:
        decode_success(200, b"<html><title>Sign in</title></html>", "GET", "/p")
    assert info.value.error_code == "INVALID_RESPONSE"
    assert "Sign in" in info.value.message


_DEEP = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def test_json_nested_too_deeply_is_an_unreadable_answer_not_a_recursion_error():
    with pytest.raises(ApiError) as info:
        decode_success(200, _DEEP, "GET", "/p")
    assert info.value.error_code == "INVALID_RESPONSE"
    assert not is_retryable(info.value)
    error = _error(400, _DEEP)
    assert (type(error), error.status, error.error_code) == (ApiError, 400, "BAD_REQUEST")
    assert "non-JSON body" in error.message


@pytest.mark.parametrize(
    ("api_path", "limit"),
    [
        ("/api/2.2/jobs/runs/export", 64 * 1024 * 1024),
        ("/api/2.1/jobs/runs/get-output", 16 * 1024 * 1024),
        ("/api/2.2/jobs/runs/get", 8 * 1024 * 1024),
        ("/api/2.0/libraries/cluster-status", 8 * 1024 * 1024),
        ("/api/2.0/sql/statements", 32 * 1024 * 1024),
        ("/api/2.0/sql/statements/01ef-abc", 32 * 1024 * 1024),
        ("/api/2.0/sql/statements/01ef-abc/result/chunks/7", 32 * 1024 * 1024),
        ("/api/2.0/sql/statements/01ef-abc/cancel", 8 * 1024 * 1024),
        ("/api/2.0/sql/statements//result/chunks/7", 8 * 1024 * 1024),
        ("/api/2.0/sql/warehouses/w1", 8 * 1024 * 1024),
    ],
)
def test_each_endpoint_has_its_body_limit(api_path, limit):
    assert max_body_bytes(api_path) == limit


def test_a_too_large_answer_is_an_api_error_that_is_never_retried():
    error = too_large(200, 8 * 1024 * 1024, "GET", "/api/2.2/jobs/runs/get", announced=209_715_200)
    assert (type(error), error.status, error.error_code) == (ApiError, 200, "RESPONSE_TOO_LARGE")
    assert str(error) == (
        "Databricks API error 200 RESPONSE_TOO_LARGE: the answer announces 209715200 bytes, more than "
        "the 8 MiB read from this endpoint (GET /api/2.2/jobs/runs/get)"
    )
    assert not is_retryable(error)


@pytest.mark.parametrize(
    ("exc", "kind", "sent"),
    [
        (TimeoutError(), Timeout, True),
        (aiohttp.SocketTimeoutError("read timed out"), Timeout, True),
        (aiohttp.ConnectionTimeoutError("connect timed out"), Timeout, False),
        (aiohttp.ServerDisconnectedError(), TransportError, True),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), TransportError, True),
        (aiohttp.ClientPayloadError("truncated"), TransportError, True),
    ],
)
def test_translate_client_error(exc, kind, sent):
    error = translate_client_error(exc, "POST", "/api/2.2/jobs/runs/submit")
    assert type(error) is kind
    assert isinstance(error, TransportError)
    assert error.request_sent is sent
    assert error.path == "/api/2.2/jobs/runs/submit"
    assert type(exc).__name__ in error.reason


def test_certificate_failure_is_a_configuration_error_naming_ca_file():
    cert_error = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    key = aiohttp.client_reqrep.ConnectionKey("db.example.com", 443, True, True, None, None, None)
    exc = aiohttp.ClientConnectorCertificateError(key, cert_error)
    error = translate_client_error(exc, "GET", "/api/2.2/jobs/runs/get")
    assert isinstance(error, ConfigurationError)
    assert error.field == "ca_file"
    assert "certificate verify failed" in str(error)
    assert "verify_tls" not in str(error)  # never steer users to turning verification off
    assert not is_retryable(error)


def test_certificate_failure_of_another_host_names_the_token_endpoint():
    cert_error = ssl.SSLCertVerificationError(1, "certificate verify failed: unable to get local issuer")
    key = aiohttp.client_reqrep.ConnectionKey("login.example.com", 443, True, True, None, None, None)
    exc = aiohttp.ClientConnectorCertificateError(key, cert_error)
    error = translate_client_error(exc, "POST", "/t/oauth2/v2.0/token", other_host=True)
    assert isinstance(error, ConfigurationError)
    assert error.field == "token_endpoint"
    assert "login.example.com" in str(error)
    assert "system CA store" in str(error)
    assert "verify_tls" not in str(error)
    assert not is_retryable(error)
