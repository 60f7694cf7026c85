"""Notebook output on a real Airflow: from the run export into the served task log, and no secret there.

One DAG run, four tasks in parallel: a notebook that prints three lines in two cells and raises in
the third; the same notebook succeeding with an exit value; and a notebook that prints and raises
with the workspace token, once with the token in the connection's password, once in extra ``token``.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client import ClientConfig, JobsClient, TokenAuth
from tests.e2e.helpers import StateRecorder
from tests.helpers import wait_for

if TYPE_CHECKING:
    from airflow_dbx_async.testing import AirflowStack, EmulatorProcess

DAG_ID = "e2e_notebook_output_dag"
TASKS = ("prints_and_fails", "prints_and_exits", "token_in_password", "token_in_extra")
DONE = {"success", "failed", "upstream_failed"}
PRINTED = ("first printed line", "second printed line", "third printed line")


def _error_values(events: list[Any]) -> list[str]:
    values = []
    for event in events:
        if isinstance(event, dict):
            values += [str(exc.get("exc_value")) for exc in event.get("error_detail") or ()]
    return values


def _served_log(stack: AirflowStack, run_id: str, task_id: str, marker: str) -> str:
    """The served task log once it holds ``marker`` (the API may serve it a moment after the state)."""
    text = ""

    def probe() -> bool:
        nonlocal text
        text = "\n".join(stack.api.task_log(DAG_ID, run_id, task_id, 1))
        return marker in text

    try:
        wait_for(f"{marker!r} in the served log of {task_id}", probe, timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}:\n{text}") from None
    return text


async def _raw_output(emulator: EmulatorProcess, run_id: int) -> dict[str, Any]:
    """The emulator's ``runs/get-output`` body for the single task run of ``run_id``."""
    config = ClientConfig(base_url=emulator.info.url, auth=TokenAuth(emulator.token))
    async with JobsClient(config) as client:
        task_run_id = (await client.get_run(run_id)).latest_attempts()[0].run_id
        return await client._call("GET", "jobs/runs/get-output", params={"run_id": task_run_id})


def test_notebook_output_reaches_the_task_log_without_secrets(
    stack: AirflowStack, emulator: EmulatorProcess
) -> None:
    run_id = stack.api.trigger_dag(DAG_ID)
    final = StateRecorder(stack, DAG_ID, run_id, TASKS).wait_all(DONE)
    assert final == {
        "prints_and_fails": "failed",
        "prints_and_exits": "success",
        "token_in_password": "failed",
        "token_in_extra": "failed",
    }, stack.describe_failure()

    # The failing notebook: its printed lines, the failing cell and its traceback, from runs/export;
    # the emulator, like Databricks, gives no `logs` for a notebook task in get-output.
    log = _served_log(stack, run_id, "prints_and_fails", "cell traceback:")
    assert "printed output (from the run export):" in log, log
    for line in PRINTED:
        assert f"    | {line}" in log
    assert "failing cell: cell 3 of 3" in log
    assert "    | if fail:" in log
    assert '    |     raise ValueError("the third cell fails on purpose")' in log
    assert "cell error: ValueError: the third cell fails on purpose" in log
    assert "cell traceback:" in log
    assert 'File "Output_Notebook.py (cell 3)"' in log
    databricks_run_id = int(stack.api.xcom(DAG_ID, run_id, "prints_and_fails", "run_id"))
    output = asyncio.run(_raw_output(emulator, databricks_run_id))
    assert "logs" not in output, output
    assert output["error"] == "ValueError: the third cell fails on purpose"

    # The successful notebook: what it printed is in its log, its exit value in XCom.
    log = _served_log(stack, run_id, "prints_and_exits", "    | third printed line")
    assert "printed (from the run export):" in log, log
    for line in PRINTED:
        assert f"    | {line}" in log
    assert stack.api.xcom(DAG_ID, run_id, "prints_and_exits", "notebook_result") == "e2e-exit-value"
    assert stack.api.xcom(DAG_ID, run_id, "prints_and_exits", "notebook_result_truncated") is False

    # The token, printed and raised by the notebook, is *** in every served line and in the exception.
    for task_id in ("token_in_password", "token_in_extra"):
        served = _served_log(stack, run_id, task_id, "cell traceback:")
        events = stack.api.task_log_events(DAG_ID, run_id, task_id, 1)
        served += json.dumps(events)
        served += "\n".join(stack.trigger_log_lines(DAG_ID, run_id, task_id, 1))
        assert emulator.token not in served, task_id
        assert "the token is ***" in served, served
        errors = _error_values(events)
        assert any("RuntimeError: bad token ***" in value for value in errors), errors
