"""Notebook output through the operators against the emulator running real notebooks.

What a notebook printed comes from ``runs/export`` (``runs/get-output`` has no ``logs`` for notebook
tasks on Databricks); its exit value from ``notebook_output``; the connection's token, printed or
raised by a notebook, shows as ``***`` in every log line, the exception and the XComs.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from airflow.sdk import BaseHook
from airflow.sdk._shared.secrets_masker import reset_secrets_masker
from asgiref.sync import async_to_sync as bridge

from airflow_dbx_async.client import JobsClient
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.hooks import DatabricksAsyncHook
from airflow_dbx_async.operators import DatabricksRunFailedError, DatabricksSubmitRunOperator
from tests.reliability.conftest import exception_texts, run_try

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, MutableMapping
    from pathlib import Path

CONN_ID = "dbx_notebooks"
TOKEN = "dapi-notebook-output-5c1e9a7b3d2f4e6a"
PRINTS = """# Databricks notebook source
print("first line")

# COMMAND ----------

print("second line")
print("third line")

# COMMAND ----------

dbutils.notebook.exit("exit-value-42")
"""
FAILS = """# Databricks notebook source
print("first line")

# COMMAND ----------

print("second line")
print("third line")

# COMMAND ----------

rows = []
raise ValueError("no rows in the input")
"""
LEAKS = f"""# Databricks notebook source
print("the token is {TOKEN}")

# COMMAND ----------

dbutils.notebook.exit("exit {TOKEN}")
"""
RAISES_SECRET = f"""# Databricks notebook source
print("the token is {TOKEN}")

# COMMAND ----------

raise RuntimeError("bad token {TOKEN}")
"""


@pytest.fixture(autouse=True)
def empty_masker() -> Iterator[None]:
    reset_secrets_masker()  # a resumed worker knows no secret until the operator registers them
    yield
    reset_secrets_masker()


@pytest_asyncio.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[EmulatorServer]:
    folder = tmp_path / "Users" / "a@example.com"
    folder.mkdir(parents=True)
    for name, source in (
        ("Prints", PRINTS),
        ("Fails", FAILS),
        ("Leaks", LEAKS),
        ("RaisesSecret", RAISES_SECRET),
    ):
        (folder / f"{name}.py").write_text(source)
    async with EmulatorServer(EmulatorConfig(workspace=tmp_path, tokens=(TOKEN,))) as server:
        yield server


def _connect(monkeypatch: pytest.MonkeyPatch, url: str, variant: str) -> None:
    body: dict[str, Any] = {"conn_type": "databricks", "host": url}
    body |= {"password": TOKEN} if variant == "password" else {"extra": json.dumps({"token": TOKEN})}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(body))


def _op(notebook: str, **kwargs: Any) -> DatabricksSubmitRunOperator:
    return DatabricksSubmitRunOperator(
        task_id=f"run_{notebook.lower()}",
        databricks_conn_id=CONN_ID,
        tasks=[{"task_key": "nb", "notebook_task": {"notebook_path": f"/Users/a@example.com/{notebook}"}}],
        polling_period_seconds=0.5,
        **kwargs,
    )


def _logged(logs: list[MutableMapping[str, Any]]) -> str:
    return "\n".join(str(event.get("event")) for event in logs)


@pytest.mark.asyncio
async def test_success_logs_the_printed_lines_and_pushes_the_exit_value(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, logs: list[MutableMapping[str, Any]]
) -> None:
    _connect(monkeypatch, emulator.url, "password")
    result = await run_try(_op("Prints"))
    assert result.errors == []
    logged = _logged(logs)
    assert '[cell 1] print("first line")' in logged
    for line in ("first line", "second line", "third line"):
        assert f"    | {line}" in logged
    pushed = dict(result.ti.pushed)
    assert pushed["notebook_result"] == "exit-value-42"
    assert pushed["notebook_result_truncated"] is False


@pytest.mark.asyncio
async def test_log_notebook_output_false_skips_the_export(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, logs: list[MutableMapping[str, Any]]
) -> None:
    _connect(monkeypatch, emulator.url, "password")
    result = await run_try(_op("Prints", log_notebook_output=False))
    assert "second line" not in _logged(logs)
    assert dict(result.ti.pushed)["notebook_result"] == "exit-value-42"


@pytest.mark.asyncio
async def test_failure_report_shows_printed_lines_failing_cell_and_traceback(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, logs: list[MutableMapping[str, Any]]
) -> None:
    _connect(monkeypatch, emulator.url, "password")
    result = await run_try(_op("Fails"))
    (error,) = result.errors
    assert isinstance(error, DatabricksRunFailedError)
    assert "ValueError: no rows in the input" in str(error)
    logged = _logged(logs)
    for line in ("first line", "second line", "third line"):
        assert f"    | {line}" in logged
    assert "failing cell: cell 3 of 3" in logged
    assert '    | raise ValueError("no rows in the input")' in logged
    assert "cell error: ValueError: no rows in the input" in logged
    run_id = dict(result.ti.pushed)["run_id"]
    hook = DatabricksAsyncHook(CONN_ID)
    async with JobsClient(await hook.aget_config()) as client:
        task_run = (await client.get_run(run_id)).latest_attempts()[0].run_id
        assert (await client.get_run_output(task_run)).logs == ""  # notebook tasks have no logs


@pytest.mark.parametrize("variant", ["password", "extra-token"])
@pytest.mark.parametrize("notebook", ["Leaks", "RaisesSecret"])
@pytest.mark.asyncio
async def test_a_printed_or_raised_token_is_masked_everywhere(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    logs: list[MutableMapping[str, Any]],
    variant: str,
    notebook: str,
) -> None:
    _connect(monkeypatch, emulator.url, variant)
    result = await run_try(_op(notebook))
    texts = [json.dumps(event, default=repr) for event in logs] + [json.dumps(result.ti.pushed)]
    for exc in result.errors:
        texts += exception_texts(exc)
    assert [text for text in texts if TOKEN in text] == []
    assert "the token is ***" in _logged(logs)
    if notebook == "Leaks":
        assert dict(result.ti.pushed)["notebook_result"] == "exit ***"
    else:
        assert "bad token ***" in str(result.errors[0])


@pytest.mark.asyncio
async def test_waiting_in_the_worker_reports_and_masks_the_same(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, logs: list[MutableMapping[str, Any]]
) -> None:
    _connect(monkeypatch, emulator.url, "extra-token")
    result = await run_try(_op("RaisesSecret", deferrable=False))
    assert result.trigger_kwargs is None  # no deferral: the worker waited
    (error,) = result.errors
    texts = [json.dumps(event, default=repr) for event in logs] + exception_texts(error)
    assert [text for text in texts if TOKEN in text] == []
    assert "    | the token is ***" in _logged(logs)
    assert "bad token ***" in str(error)
    success = await run_try(_op("Prints", deferrable=False))
    assert dict(success.ti.pushed)["notebook_result"] == "exit-value-42"


@pytest.mark.asyncio
async def test_the_failure_report_reads_the_connection_once_through_one_session(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, logs: list[MutableMapping[str, Any]]
) -> None:
    """A resumed worker's report of a failed notebook run: one lookup, one session, one sync bridge."""
    _connect(monkeypatch, emulator.url, "password")
    first = await run_try(_op("Fails"))
    (event,) = first.events
    assert [task["task_type"] for task in event["failed_tasks"]] == ["notebook_task"]  # from the trigger

    counts: Counter[str] = Counter()
    lookup = BaseHook.get_connection
    enter = JobsClient.__aenter__

    def get_connection(cls: type[BaseHook], conn_id: str) -> Any:
        counts["connection lookups"] += 1
        return lookup(conn_id)

    async def aenter(self: JobsClient) -> JobsClient:
        counts["sessions"] += 1
        return await enter(self)

    def async_to_sync(fn: Any) -> Any:
        counts["async_to_sync"] += 1
        return bridge(fn)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(get_connection))
    monkeypatch.setattr(JobsClient, "__aenter__", aenter)
    monkeypatch.setattr("airflow_dbx_async.hooks._connection.async_to_sync", async_to_sync)
    resumed = _op("Fails")  # a fresh worker resumes the deferred task
    context: Any = {"ti": first.ti}
    with pytest.raises(DatabricksRunFailedError, match="no rows in the input"):
        await asyncio.to_thread(resumed.execute_complete, context, event)
    assert counts == {"connection lookups": 1, "sessions": 1, "async_to_sync": 1}
    logged = _logged(logs)
    assert "failing cell: cell 3 of 3" in logged  # the export came through the same session
    assert "cell error: ValueError: no rows in the input" in logged
