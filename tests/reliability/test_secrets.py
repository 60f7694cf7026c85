"""The token never leaks: not in logs, exceptions, XComs, trigger kwargs or the serialized DAG.

Also: plain http to a remote host is refused, TLS is verified by default, and notebook output that
holds a secret registered with Airflow's masker is masked where Airflow masks task logs.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from airflow.sdk import DAG
from airflow.sdk.log import mask_logs, mask_secret
from airflow.serialization.serialized_objects import DagSerialization

from airflow_dbx_async.client import ConfigurationError, JobsClient, TransportError, _tokens
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer, FaultConfig
from airflow_dbx_async.hooks import DatabricksAsyncHook
from airflow_dbx_async.operators import (
    DatabricksRunNowOperator,
    DatabricksSubmitRunOperator,
)
from airflow_dbx_async.triggers import DatabricksRunTrigger
from tests.hooks.identity_stand_ins import METHODS, OAUTH_CLIENT_SECRET, Identities, serve_identities
from tests.reliability.conftest import (
    CONN_ID,
    SECRET,
    LogLines,
    TryResult,
    exception_texts,
    run_try,
    set_connection,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, MutableMapping
    from pathlib import Path

    from structlog.typing import Processor

WRONG = "dapi-SECRET-wrong-5e6f7a8b9c0d1e2f"
NOTEBOOK_SECRET = "nb-pass-4f1d2c3b5a69"


def _assert_clean(texts: list[str]) -> None:
    for text in texts:
        assert SECRET not in text
        assert WRONG not in text


def _submit(task_id: str, **params: str) -> DatabricksSubmitRunOperator:
    notebook = {
        "notebook_path": "/Shared/secrets",
        "base_parameters": {"sim_duration_seconds": "0.2", **params},
    }
    return DatabricksSubmitRunOperator(
        task_id=task_id,
        databricks_conn_id=CONN_ID,
        tasks=[{"task_key": "main", "notebook_task": notebook}],
        polling_period_seconds=0.2,
        databricks_retry_limit=8,
        databricks_retry_delay=0.01,
    )


def _everything(results: list[TryResult]) -> list[str]:
    texts: list[str] = []
    for result in results:
        texts += [json.dumps(result.ti.pushed), json.dumps(result.trigger_kwargs), json.dumps(result.events)]
        for exc in result.errors:
            texts += exception_texts(exc)
    return texts


@pytest.mark.asyncio
async def test_submit_defer_trigger_and_failure_report_under_faults(
    monkeypatch: pytest.MonkeyPatch, all_logs: LogLines
) -> None:
    faults = FaultConfig(rate=0.3, kinds=("500", "503", "drop"), seed=4, phase="after")
    config = EmulatorConfig(simulate=True, tokens=(SECRET,), faults=faults, retry_after_seconds=0)
    async with EmulatorServer(config) as server:
        set_connection(monkeypatch, server.url)
        ok = await run_try(_submit("ok"))
        failed = await run_try(_submit("bad", sim_error="RuntimeError: the notebook broke"))
        injected = dict(server.state.stats.faults)
    assert injected.get("drop", 0) > 0, injected
    assert injected.get("500", 0) > 0, injected
    assert ok.errors == []
    assert ok.events[0]["status"] == "success"
    assert "the notebook broke" in str(failed.errors[0])
    assert ("run_id", ok.events[0]["run_id"]) in ok.ti.pushed
    _assert_clean(_everything([ok, failed]))
    assert any("Retrying" in line or "retrying" in line for line in all_logs())  # faults were met
    _assert_clean(all_logs())


async def _hostile(request: web.Request) -> web.Response:
    """A server that echoes the credential back in its error answers (as some proxies do)."""
    credential = request.headers.get("Authorization", "")
    if request.path.endswith("runs/submit"):
        body = {"error_code": "401", "message": f"Credential {credential} was not accepted"}
        return web.json_response(body, status=401)
    page = f"<html><title>403 Forbidden: {credential}</title><body>{credential}</body></html>"
    return web.Response(status=403, text=page, content_type="text/html")


@pytest.mark.asyncio
async def test_auth_failures_do_not_echo_the_token(
    monkeypatch: pytest.MonkeyPatch, all_logs: LogLines
) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _hostile)
    async with TestServer(app, host="127.0.0.1") as server:
        set_connection(monkeypatch, str(server.make_url("")).rstrip("/"))
        submit = await run_try(_submit("denied"))
        trigger = DatabricksRunTrigger(run_id=5, databricks_conn_id=CONN_ID, retry_limit=1)
        events = [event.payload async for event in trigger.run()]
    assert "401" in str(submit.errors[0])
    assert events[0]["status"] == "error"
    assert "403" in events[0]["reason"]
    _assert_clean(_everything([submit]) + [json.dumps(events)] + all_logs())


@pytest.mark.asyncio
async def test_wrong_token_403_and_refused_connection(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, all_logs: LogLines
) -> None:
    set_connection(monkeypatch, emulator.url, password=WRONG)
    denied = await run_try(_submit("wrong-token"))
    set_connection(monkeypatch, "http://127.0.0.1:9")  # nothing listens on the discard port
    refused = await run_try(_submit("refused"))
    assert "403" in str(denied.errors[0])
    assert "Invalid access token" in str(denied.errors[0])
    assert isinstance(refused.errors[0], TransportError)
    _assert_clean(_everything([denied, refused]) + all_logs())


def test_trigger_kwargs_operator_repr_and_serialized_dag_hold_no_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_connection(monkeypatch, "https://dbx.example.com")
    with DAG("secrets", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        submit = _submit("submit")
        run_now = DatabricksRunNowOperator(task_id="run_now", databricks_conn_id=CONN_ID, job_id=5)
        submit >> run_now
    hook = DatabricksAsyncHook(CONN_ID)
    config = hook.get_config()
    assert config.base_url == "https://dbx.example.com"
    trigger = DatabricksRunTrigger(run_id=1, databricks_conn_id=CONN_ID)
    serialized = json.dumps(DagSerialization.to_dict(dag), default=str)
    assert CONN_ID in serialized
    texts = [serialized, json.dumps(trigger.serialize()), repr(trigger), repr(hook), repr(config)]
    texts += [repr(config.auth), str(config), repr(JobsClient(config)), repr(submit), repr(run_now)]
    _assert_clean(texts)


@pytest.mark.parametrize("host", ["http://dbx.example.com", "http://10.1.2.3:8080"])
def test_plain_http_to_a_remote_host_is_refused(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    set_connection(monkeypatch, host)
    with pytest.raises(ConfigurationError) as raised:
        DatabricksAsyncHook(CONN_ID).get_config()
    assert raised.value.field == "host"
    assert "unencrypted" in str(raised.value)
    assert "allow_insecure_http" in str(raised.value)
    set_connection(monkeypatch, host, extra=json.dumps({"allow_insecure_http": True}))
    assert DatabricksAsyncHook(CONN_ID).get_config().base_url == host


@pytest.mark.asyncio
async def test_tls_is_verified_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    config = EmulatorConfig(simulate=True, tls=True, tokens=(SECRET,))
    async with EmulatorServer(config) as server:
        assert server.url.startswith("https://")
        assert server.ca_file
        set_connection(monkeypatch, server.url)
        hook = DatabricksAsyncHook(CONN_ID, retry_limit=1)
        async with JobsClient(await hook.aget_config()) as client:
            with pytest.raises(ConfigurationError) as raised:  # a settings problem: never retried
                await client.list_runs()
            assert client.request_count == 1
        message = str(raised.value)
        assert message.startswith("ca_file: ")
        assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message
        assert "\n" not in message
        # Another connection id: lookups of one id are shared for a few seconds, whatever the retry settings.
        body = {"conn_type": "databricks", "host": server.url, "password": SECRET}
        body["extra"] = json.dumps({"ca_file": server.ca_file})
        monkeypatch.setenv("AIRFLOW_CONN_DBX_TRUSTED", json.dumps(body))
        trusted = DatabricksAsyncHook("dbx_trusted", retry_limit=2)
        async with JobsClient(await trusted.aget_config()) as client:
            assert (await client.list_runs()).runs == ()


@pytest.mark.asyncio
async def test_notebook_output_with_a_registered_secret_is_masked_in_task_logs(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mask_secret(NOTEBOOK_SECRET)
    set_connection(monkeypatch, emulator.url)
    error = f"PermissionError: login with password {NOTEBOOK_SECRET} refused"
    # Airflow's task log pipeline formats tracebacks, then masks; the same processors here.
    processors: list[Processor] = [structlog.processors.format_exc_info, mask_logs]
    with structlog.testing.capture_logs(processors=processors) as masked:
        result = await run_try(_submit("masked", sim_error=error))
        structlog.get_logger("task").error("Task failed", exc_info=result.errors[0])
    with structlog.testing.capture_logs() as raw:
        await run_try(_submit("raw", sim_error=error))
    lines = [json.dumps(event, default=repr) for event in masked]
    assert any("PermissionError: login with password ***" in line for line in lines)
    assert not any(NOTEBOOK_SECRET in line for line in lines)
    # The operator redacts its own report too: without the pipeline's masking (dag.test()), no secret.
    assert not any(NOTEBOOK_SECRET in _text(event) for event in raw)
    assert any("PermissionError: login with password ***" in _text(event) for event in raw)


def _text(event: MutableMapping[str, Any]) -> str:
    return json.dumps(event, default=repr)


def _submit_on(conn_id: str, task_id: str, **params: str) -> DatabricksSubmitRunOperator:
    notebook = {
        "notebook_path": "/Shared/secrets",
        "base_parameters": {"sim_duration_seconds": "0.05", **params},
    }
    return DatabricksSubmitRunOperator(
        task_id=task_id,
        databricks_conn_id=conn_id,
        tasks=[{"task_key": "main", "notebook_task": notebook}],
        polling_period_seconds=0.05,
        databricks_retry_limit=2,
        databricks_retry_delay=0.01,
    )


@pytest_asyncio.fixture
async def identities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Identities]:
    """A workspace trusting the identity stand-ins (metadata service, Kubernetes API, STS)."""
    async with serve_identities(tmp_path, monkeypatch) as served:
        yield served


@pytest.mark.asyncio
@pytest.mark.parametrize("method", [*METHODS, "oauth_m2m"])
async def test_no_token_of_any_auth_method_reaches_logs_errors_or_xcoms(
    identities: Identities, monkeypatch: pytest.MonkeyPatch, all_logs: LogLines, method: str
) -> None:
    conn_id = identities.connect(monkeypatch, method)
    ok = await run_try(_submit_on(conn_id, f"{method}_ok"))
    assert ok.errors == []
    assert ok.events[0]["status"] == "success"
    # A notebook printing and raising with the credentials in use: the access tokens, the subject
    # token exchanged for one, the client secret. The worker shows both in the failure report.
    used = [cached.access_token for cached in _tokens._TOKENS.values()] + identities.subject_tokens(method)
    if method == "oauth_m2m":
        used.append(OAUTH_CLIENT_SECRET)
    assert used
    leaked = " ".join(used)
    told = await run_try(_submit_on(conn_id, f"{method}_told", sim_print=leaked, sim_error=f"E: {leaked}"))
    assert "failed" in str(told.errors[0])
    assert any(f"E: {' '.join(['***'] * len(used))}" in line for line in all_logs())
    # Then the workspace refuses the credential: the token requests and their failures.
    if method == "oauth_m2m":  # a rotated secret
        conn = json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**conn, "password": WRONG}))
    else:
        identities.trust_nothing()
    _tokens.clear_token_cache()
    refused = await run_try(_submit_on(conn_id, f"{method}_refused"))
    assert refused.trigger_kwargs is None
    assert len(refused.errors) == 1
    secrets = identities.secrets() + [WRONG]
    for text in _everything([ok, told, refused]) + all_logs():
        for secret in secrets:
            assert secret not in text
