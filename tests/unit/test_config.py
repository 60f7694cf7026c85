from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from airflow_dbx_async.client import (
    AzureServicePrincipalAuth,
    BasicAuth,
    CallPolicy,
    ClientConfig,
    ConfigurationError,
    OAuthM2MAuth,
    RetryPolicy,
    TokenAuth,
    Workspace,
    normalise_base_url,
)
from airflow_dbx_async.client.config import DEFAULT_RETRY_LIMIT

_SECRET = "dapi-super-secret-0123456789"


@pytest.mark.parametrize(
    ("host", "kwargs", "expected"),
    [
        ("adb-1.2.azuredatabricks.net", {}, "https://adb-1.2.azuredatabricks.net"),
        ("https://adb-1.2.azuredatabricks.net/", {}, "https://adb-1.2.azuredatabricks.net"),
        ("  https://dbc-x.cloud.databricks.com  ", {}, "https://dbc-x.cloud.databricks.com"),
        ("dbc-x.cloud.databricks.com", {"port": 8443}, "https://dbc-x.cloud.databricks.com:8443"),
        ("https://dbc-x.cloud.databricks.com:8443", {}, "https://dbc-x.cloud.databricks.com:8443"),
        ("http://127.0.0.1:8080", {}, "http://127.0.0.1:8080"),
        ("localhost", {"scheme": "http", "port": 8080}, "http://localhost:8080"),
        ("http://[::1]:9000", {}, "http://[::1]:9000"),
        ("https://[2001:db8::1]", {}, "https://[2001:db8::1]"),
        ("http://emulator.internal:80", {"allow_insecure_http": True}, "http://emulator.internal:80"),
    ],
)
def test_normalise_base_url(host, kwargs, expected):
    assert normalise_base_url(host, **kwargs) == expected


@pytest.mark.parametrize(
    ("host", "kwargs", "field"),
    [
        ("", {}, "host"),
        ("   ", {}, "host"),
        ("http://dbc-x.cloud.databricks.com", {}, "host"),
        ("dbc-x.cloud.databricks.com", {"scheme": "http"}, "host"),
        ("ftp://dbc-x.cloud.databricks.com", {}, "host"),
        ("https://dbc-x.cloud.databricks.com/some/path", {}, "host"),
        ("https://dbc-x.cloud.databricks.com:notaport", {}, "port"),
    ],
)
def test_normalise_base_url_refuses(host, kwargs, field):
    with pytest.raises(ConfigurationError) as info:
        normalise_base_url(host, **kwargs)
    assert info.value.field == field


def test_http_refusal_explains_the_fix():
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        normalise_base_url("http://10.0.0.5")


@pytest.mark.parametrize(
    "auth",
    [
        TokenAuth(_SECRET),
        BasicAuth("user@example.com", _SECRET),
        OAuthM2MAuth("client-id", _SECRET),
        AzureServicePrincipalAuth("tenant", "client-id", _SECRET, resource_id="/subscriptions/x"),
    ],
    ids=lambda a: type(a).__name__,
)
def test_reprs_mask_secrets(auth):
    config = ClientConfig(base_url="https://h.example.com", auth=auth)
    for text in (repr(auth), repr(config), str(config), repr(config.workspace)):
        assert _SECRET not in text
    assert "***" in repr(auth)


def test_client_config_defaults_and_validation():
    config = ClientConfig(base_url="https://h.example.com", auth=TokenAuth(token=_SECRET))
    assert (config.api_version, config.verify_tls, config.ca_file) == ("2.2", True, None)
    with pytest.raises(ConfigurationError, match="api_version"):
        dataclasses.replace(config, api_version="2.0")
    with pytest.raises(ConfigurationError, match="timeout_seconds"):
        dataclasses.replace(config, timeout_seconds=0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": "3"}, "max_attempts"),
        ({"base_delay": -1}, "base_delay"),
        ({"base_delay": 5, "max_delay": 1}, "max_delay"),
        ({"budget_seconds": 0}, "budget_seconds"),
    ],
)
def test_retry_policy_validation(kwargs, field):
    with pytest.raises(ConfigurationError) as info:
        RetryPolicy(**kwargs)
    assert info.value.field == field


def test_the_retry_default_is_three_attempts_everywhere():
    import inspect

    from airflow_dbx_async.hooks import DatabricksAsyncHook, connection_to_config
    from airflow_dbx_async.operators._operator_base import DatabricksDeferrableOperatorBase
    from airflow_dbx_async.triggers import DatabricksRunTrigger

    assert DEFAULT_RETRY_LIMIT == 3
    assert RetryPolicy().max_attempts == DEFAULT_RETRY_LIMIT
    checks: list[tuple[Callable[..., Any], str]] = [
        (DatabricksAsyncHook.__init__, "retry_limit"),
        (connection_to_config, "retry_limit"),
        (DatabricksRunTrigger.__init__, "retry_limit"),
        (DatabricksDeferrableOperatorBase.__init__, "databricks_retry_limit"),
    ]
    for callable_, name in checks:
        assert inspect.signature(callable_).parameters[name].default == DEFAULT_RETRY_LIMIT, callable_


def test_a_config_is_a_workspace_and_a_call_policy():
    auth = TokenAuth(_SECRET)
    retry = RetryPolicy(max_attempts=5)
    config = ClientConfig(
        base_url="https://h.example.com", auth=auth, api_version="2.1", retry=retry, verify_tls=False
    )
    assert config.workspace == Workspace(base_url="https://h.example.com", auth=auth, verify_tls=False)
    assert config.policy == CallPolicy(api_version="2.1", retry=retry)
    assert ClientConfig.of(config.workspace, config.policy) == config
    quicker = dataclasses.replace(
        config, retry=RetryPolicy(max_attempts=1), timeout_seconds=5, api_version="2.2"
    )
    assert quicker.workspace == config.workspace
    assert hash(quicker.workspace) == hash(config.workspace)
    assert quicker.policy != config.policy


def test_rate_ceiling_is_checked_by_the_workspace():
    with pytest.raises(ConfigurationError) as info:
        Workspace(base_url="https://h.example.com", auth=TokenAuth(_SECRET), max_requests_per_second=0)
    assert info.value.field == "max_requests_per_second"
