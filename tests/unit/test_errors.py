from __future__ import annotations

import pickle

import pytest

from airflow_dbx_async.client import (
    ApiError,
    AuthError,
    ConfigurationError,
    DatabricksError,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    TransportError,
)
from airflow_dbx_async.client._transport import api_error_for

_ERRORS = [
    ConfigurationError("job_name", "no job named 'x'"),
    TransportError("GET", "/api/2.2/jobs/runs/get", "connection reset"),
    TransportError("POST", "/api/2.2/jobs/runs/submit", "refused", request_sent=False),
    Timeout("GET", "/api/2.2/jobs/runs/get", "timed out"),
    ApiError(400, "INVALID_PARAMETER_VALUE", "bad", "POST", "/api/2.2/jobs/run-now"),
    AuthError(403, "403", "Invalid access token."),
    NotFound(400, "INVALID_PARAMETER_VALUE", "Run 5 does not exist."),
    RateLimited(429, "REQUEST_LIMIT_EXCEEDED", "slow down", "GET", "/x", 7.0),
    ServerError(503, "TEMPORARILY_UNAVAILABLE", "busy", "GET", "/x", 2.0),
]


@pytest.mark.parametrize("error", _ERRORS, ids=lambda e: type(e).__name__)
def test_errors_pickle_round_trip(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.args == error.args
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


@pytest.mark.parametrize("error", _ERRORS, ids=lambda e: type(e).__name__)
def test_errors_have_one_root_and_readable_text(error):
    assert isinstance(error, DatabricksError)
    assert str(error)
    assert repr(error).startswith(type(error).__name__ + "(")


def test_api_error_str_keeps_code_message_and_path():
    error = ApiError(400, "INVALID_PARAMETER_VALUE", "Job 0 does not exist.", "POST", "/api/2.2/jobs/run-now")
    assert str(error) == (
        "Databricks API error 400 INVALID_PARAMETER_VALUE: Job 0 does not exist. (POST /api/2.2/jobs/run-now)"
    )


def test_timeout_is_a_builtin_timeout_and_transport_error():
    error = Timeout("GET", "/p", "timed out")
    assert isinstance(error, TimeoutError)
    assert isinstance(error, TransportError)
    assert error.request_sent is True


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (401, "401", "Credential was not sent", AuthError),
        (403, "PERMISSION_DENIED", "no", AuthError),
        (404, "FEATURE_DISABLED", "off", NotFound),
        (400, "INVALID_PARAMETER_VALUE", "Run 5 does not exist.", NotFound),
        (400, "INVALID_PARAMETER_VALUE", "Either new_cluster or existing_cluster_id", ApiError),
        (429, "REQUEST_LIMIT_EXCEEDED", "slow", RateLimited),
        (500, "INTERNAL_ERROR", "x", ServerError),
        (503, "TEMPORARILY_UNAVAILABLE", "x", ServerError),
        (409, "RESOURCE_CONFLICT", "x", ApiError),
    ],
)
def test_api_error_for_picks_the_subclass(status, code, message, expected):
    error = api_error_for(status, code, message)
    assert type(error) is expected
    assert (error.status, error.error_code, error.message) == (status, code, message)
