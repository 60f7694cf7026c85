"""Reading a Databricks connection into a client configuration, and running the client from the hook."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_dbx_async.client import (
    AzureServicePrincipalAuth,
    BasicAuth,
    ConfigurationError,
    JobsClient,
    OAuthM2MAuth,
    TokenAuth,
)
from airflow_dbx_async.client._pool import SESSION_POOL
from airflow_dbx_async.client._workspace import WORKSPACES
from airflow_dbx_async.hooks import DatabricksAsyncHook, connection_to_config
from tests.fake_databricks import TOKEN
from tests.fixtures import CLUSTER, Emulated
from tests.helpers import CONN_ID

SECRET = "s3cret-value-xyz"


def conn(**fields: Any) -> Connection:
    extra = fields.pop("extra", None)
    text = extra if isinstance(extra, str) else json.dumps(extra) if extra else None
    return Connection(conn_id="c", conn_type="databricks", extra=text, **fields)


HOSTS = [
    ({"host": "adb-1.azuredatabricks.net"}, "https://adb-1.azuredatabricks.net"),
    ({"host": "https://adb-1.azuredatabricks.net/"}, "https://adb-1.azuredatabricks.net"),
    ({"host": "xx.cloud.databricks.com", "port": 8443}, "https://xx.cloud.databricks.com:8443"),
    ({"host": "127.0.0.1", "schema": "http", "port": 8765}, "http://127.0.0.1:8765"),
    ({"host": "http://localhost:8765"}, "http://localhost:8765"),
    (
        {"host": "", "extra": {"host": "https://from-extra.cloud.databricks.com"}},
        "https://from-extra.cloud.databricks.com",
    ),
    ({"host": "http://10.0.0.5:8080", "extra": {"allow_insecure_http": True}}, "http://10.0.0.5:8080"),
]


@pytest.mark.parametrize(("fields", "base_url"), HOSTS)
def test_host_forms(fields: dict[str, Any], base_url: str) -> None:
    fields.setdefault("password", SECRET)
    assert connection_to_config(conn(**fields)).base_url == base_url


AUTHS: list[tuple[dict[str, Any], type, dict[str, Any]]] = [
    ({"password": SECRET}, TokenAuth, {"token": SECRET}),
    ({"extra": {"token": SECRET}}, TokenAuth, {"token": SECRET}),
    ({"login": "me", "password": SECRET}, BasicAuth, {"login": "me", "password": SECRET}),
    (
        {"login": "app-id", "password": SECRET, "extra": {"service_principal_oauth": True}},
        OAuthM2MAuth,
        {"client_id": "app-id", "client_secret": SECRET},
    ),
    (
        {"login": "app-id", "password": SECRET, "extra": {"azure_tenant_id": "tenant"}},
        AzureServicePrincipalAuth,
        {"tenant_id": "tenant", "client_id": "app-id", "client_secret": SECRET, "resource_id": None},
    ),
    (
        {
            "login": "app",
            "password": SECRET,
            "extra": {"azure_tenant_id": "t", "azure_resource_id": "/subs/x"},
        },
        AzureServicePrincipalAuth,
        {"resource_id": "/subs/x"},
    ),
]


@pytest.mark.parametrize(("fields", "kind", "attrs"), AUTHS)
def test_auth_kinds(fields: dict[str, Any], kind: type, attrs: dict[str, Any]) -> None:
    config = connection_to_config(conn(host="adb-1.azuredatabricks.net", **fields))
    auth = getattr(config.auth, "inner", config.auth)  # tokens obtained at run time are masked
    assert isinstance(auth, kind)
    for name, value in attrs.items():
        assert getattr(auth, name) == value
    assert SECRET not in repr(config)


def test_tls_extras_and_retry_settings() -> None:
    config = connection_to_config(
        conn(host="localhost", password=SECRET, extra={"ca_file": "ca.pem", "verify_tls": "false"}),
        retry_limit=5,
        retry_delay=2,
        api_version="2.1",
    )
    assert config.ca_file == "ca.pem"
    assert config.verify_tls is False
    assert config.api_version == "2.1"
    assert config.retry.max_attempts == 5
    assert config.retry.base_delay == 2


ERRORS = [
    ({"host": "", "password": SECRET}, "host"),
    ({"host": "http://dbx.example.com", "password": SECRET}, "host"),
    ({"host": "dbx.example.com"}, "password"),
    ({"host": "dbx.example.com", "login": "me"}, "password"),
    ({"host": "dbx.example.com", "schema": "default", "password": SECRET}, "schema"),
    ({"host": "dbx.example.com", "login": "id", "extra": {"service_principal_oauth": True}}, "password"),
    ({"host": "dbx.example.com", "login": "id", "extra": {"azure_tenant_id": "t"}}, "password"),
    (
        {"host": "dbx.example.com", "login": "id", "password": "p", "extra": {"azure_tenant_id": ""}},
        "azure_tenant_id",
    ),
    ({"host": "dbx.example.com", "password": SECRET, "extra": "[1]"}, "extra"),
]


@pytest.mark.parametrize(("fields", "field"), ERRORS)
def test_configuration_errors_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        connection_to_config(conn(**fields))
    assert raised.value.field == field
    assert SECRET not in str(raised.value)


def test_missing_connection_names_the_conn_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_ABSENT", raising=False)
    with pytest.raises(ConfigurationError, match="'absent' is not defined") as raised:
        DatabricksAsyncHook("absent").get_config()
    assert raised.value.field == "databricks_conn_id"


def test_hook_identity_and_repr_hide_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_DBX_TEST",
        json.dumps({"conn_type": "databricks", "host": "h.cloud.databricks.com", "password": TOKEN}),
    )
    hook = DatabricksAsyncHook(CONN_ID)
    assert (hook.conn_name_attr, hook.default_conn_name, hook.conn_type, hook.hook_name) == (
        "databricks_conn_id",
        "databricks_default",
        "databricks",
        "Databricks (async)",
    )
    assert TOKEN not in repr(hook)
    assert TOKEN not in repr(hook.get_config())


def _submit(emulator: Emulated) -> int:
    task = {"task_key": "nb", "existing_cluster_id": CLUSTER, "notebook_task": {"notebook_path": "/nb"}}
    return emulator.state.submit({"run_name": "hook", "tasks": [task]})


def test_run_sync_runs_one_client(emulator: Emulated) -> None:
    run_id = _submit(emulator)
    emulator.advance(300)  # half-way through the simulated run

    async def read(client: JobsClient) -> str:
        return (await client.get_run(run_id)).state.life_cycle_state.value

    assert DatabricksAsyncHook(CONN_ID).run_sync(read) == "RUNNING"


@pytest.mark.asyncio
async def test_run_sync_refuses_a_running_loop(emulator: Emulated) -> None:
    async def nothing(client: Any) -> None:
        return None

    with pytest.raises(RuntimeError):
        DatabricksAsyncHook(CONN_ID).run_sync(nothing)


@pytest.mark.asyncio
async def test_borrowers_of_one_workspace_share_one_session(emulator: Emulated) -> None:
    first, second = _submit(emulator), _submit(emulator)
    one_config = await DatabricksAsyncHook(CONN_ID).aget_config()
    other_config = await DatabricksAsyncHook(CONN_ID, retry_limit=1).aget_config()
    async with WORKSPACES.borrow(one_config) as one, WORKSPACES.borrow(other_config) as two:
        assert one.shared is two.shared  # one session, rate ceiling and poller per workspace and loop
        assert len(WORKSPACES.active()) == 1
        assert SESSION_POOL.session_count() == 1
        assert one.client.config.retry.max_attempts == 3
        assert two.client.config.retry.max_attempts == 1  # each borrower keeps its own policy
        await one.client.cancel_run(first)
        await two.client.cancel_run(second)
    assert [body["run_id"] for body in emulator.calls("runs/cancel")] == [first, second]
    assert emulator.requests_to("POST /api/2.2/jobs/runs/cancel") == 2
    assert emulator.run_state(first) == emulator.run_state(second) == ("TERMINATED", "CANCELED")
    assert WORKSPACES.active() == []
    assert SESSION_POOL.session_count() == 0


@pytest.mark.asyncio
async def test_many_hooks_build_one_config_per_policy(
    emulator: Emulated, caplog: pytest.LogCaptureFixture
) -> None:
    # A triggerer starting 500 triggers reads and parses the connection once per call policy.
    with caplog.at_level(logging.INFO, logger="airflow_dbx_async.hooks"):
        configs = [await DatabricksAsyncHook(CONN_ID).aget_config() for _ in range(500)]
        slow = await DatabricksAsyncHook(CONN_ID, retry_limit=7).aget_config()
    assert all(config is configs[0] for config in configs)
    assert slow is not configs[0]
    assert slow.retry.max_attempts == 7
    assert configs[0].retry.max_attempts == 3
    assert slow.workspace == configs[0].workspace
    built = [r for r in caplog.records if "Databricks connection" in r.getMessage()]
    assert len(built) == 2  # one line per config built, not one per trigger
