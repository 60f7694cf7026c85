"""Real execution: notebooks and Python files run in subprocesses with a dbutils shim."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.emulator._runner import _kill
from tests.emulator.conftest import DEMO, Api, export_model, notebook, printed

if TYPE_CHECKING:
    from pathlib import Path

    from tests.emulator.conftest import MakeApi

pytestmark = pytest.mark.asyncio


async def _task_output(api: Api, run_id: int, index: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    run = await api.wait_run(run_id)
    out = await api.get("jobs/runs/get-output", run_id=run["tasks"][index]["run_id"])
    return run, out


async def test_demo_quickstart_job_with_widget(make_api: MakeApi) -> None:
    _, api = await make_api(workspace=DEMO)
    run_id = (await api.post("jobs/run-now", {"job_id": 5, "notebook_params": {"Variable": "hello"}}))[
        "run_id"
    ]
    run, out = await _task_output(api, run_id)
    assert run["state"]["result_state"] == "SUCCESS"
    assert out["notebook_output"] == {"result": "ok", "truncated": False}
    assert "logs" not in out  # notebook prints are in the run export, not in get-output
    assert "Variable = hello" in printed(await export_model(api, run["tasks"][0]["run_id"]))
    assert "error" not in out


async def test_failing_notebook_reports_exception(make_api: MakeApi) -> None:
    _, api = await make_api(workspace=DEMO)
    body = {
        "run_name": "failing",
        "notebook_task": {"notebook_path": "/Users/airflow@example.com/Failing_Notebook"},
    }
    run, out = await _task_output(api, (await api.post("jobs/runs/submit", body))["run_id"])
    assert run["state"]["result_state"] == "FAILED"
    assert out["error"] == "ValueError: Input data is empty: expected at least one row"
    assert out["error_trace"].startswith("Traceback (most recent call last):")
    assert 'raise ValueError("Input data is empty' in out["error_trace"]
    assert "_shim" not in out["error_trace"]
    assert "logs" not in out
    model = await export_model(api, run["tasks"][0]["run_id"])
    assert printed(model) == "Starting the failing notebook\nChecking the input data\n"
    assert out["notebook_output"] == {}


async def test_widgets_defaults_and_missing_widget(make_api: MakeApi, workspace: Path) -> None:
    path = notebook(
        workspace,
        "widgets",
        'dbutils.widgets.text("a", "default-a")\ndbutils.widgets.dropdown("b", "x", ["x", "y"])',
        "# MAGIC %md ignored\n"
        'print(dbutils.widgets.get("a"), dbutils.widgets.get("b"), getArgument("c", "none"))',
        'dbutils.notebook.exit(dbutils.widgets.get("missing"))',
    )
    _, api = await make_api(workspace=workspace)
    task = {"notebook_path": path, "base_parameters": {"b": "y", "sim_result": "FAILED"}}
    run, out = await _task_output(
        api, (await api.post("jobs/runs/submit", {"notebook_task": task}))["run_id"]
    )
    assert printed(await export_model(api, run["tasks"][0]["run_id"])) == "default-a y none\n"
    assert out["error"] == "InputWidgetNotDefined: No input widget named missing is defined"


async def test_exit_value_and_display_stub(make_api: MakeApi, workspace: Path) -> None:
    path = notebook(
        workspace, "exits", "display(spark.range(3))\ndbutils.notebook.exit('x')\nraise RuntimeError"
    )
    _, api = await make_api(workspace=workspace)
    run, out = await _task_output(
        api, (await api.post("jobs/runs/submit", {"notebook_task": {"notebook_path": path}}))["run_id"]
    )
    assert run["state"]["result_state"] == "SUCCESS"
    assert out["notebook_output"]["result"] == "x"


async def test_ipynb_notebook(make_api: MakeApi, workspace: Path) -> None:
    cells = [
        {"cell_type": "markdown", "source": ["# title"]},
        {"cell_type": "code", "source": ["%pip install nothing\n", "print('from ipynb')\n"]},
        {"cell_type": "code", "source": "dbutils.notebook.exit('nb')"},
    ]
    (workspace / "Users" / "me" / "jupyter.ipynb").write_text(json.dumps({"cells": cells}), encoding="utf-8")
    _, api = await make_api(workspace=workspace)
    body = {"tasks": [{"task_key": "j", "notebook_task": {"notebook_path": "/Workspace/Users/me/jupyter"}}]}
    run, out = await _task_output(api, (await api.post("jobs/runs/submit", body))["run_id"])
    model = await export_model(api, run["tasks"][0]["run_id"])
    assert [c["command"] for c in model["commands"]] == [
        "%md\n# title",
        "%pip install nothing\nprint('from ipynb')\n",
        "dbutils.notebook.exit('nb')",
    ]
    assert printed(model) == "from ipynb\n"
    assert out["notebook_output"]["result"] == "nb"


async def test_spark_python_task_with_argv_and_python_params(make_api: MakeApi) -> None:
    _, api = await make_api(workspace=DEMO)
    body = {
        "run_name": "etl",
        "spark_python_task": {"python_file": "dbfs:/scripts/etl.py", "parameters": ["a", "1"]},
    }
    run, out = await _task_output(api, (await api.post("jobs/runs/submit", body))["run_id"])
    assert run["state"]["result_state"] == "SUCCESS"
    assert "etl.py started with arguments: ['a', '1']" in out["logs"]
    assert out["logs_truncated"] is False
    assert "notebook_output" not in out
    task = {"task_key": "etl", "spark_python_task": {"python_file": "file:/scripts/etl.py"}}
    job_id = (await api.post("jobs/create", {"name": "etl", "tasks": [task]}))["job_id"]
    run_id = (await api.post("jobs/run-now", {"job_id": job_id, "python_params": ["--fail"]}))["run_id"]
    run, out = await _task_output(api, run_id)
    assert out["error"] == "RuntimeError: ETL failed because --fail was given"


async def test_missing_notebook_is_internal_error(make_api: MakeApi, workspace: Path) -> None:
    _, api = await make_api(workspace=workspace)
    body = {"notebook_task": {"notebook_path": "/Users/me/nope"}}
    run, out = await _task_output(api, (await api.post("jobs/runs/submit", body))["run_id"])
    assert run["state"]["life_cycle_state"] == "INTERNAL_ERROR"
    assert "not found" in out["error"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _wait_for(predicate: Any, limit: float = 10.0) -> None:
    async def loop() -> None:
        while not predicate():  # noqa: ASYNC110 - polling an OS condition (a file, a process) with a timeout
            await asyncio.sleep(0.05)

    await asyncio.wait_for(loop(), limit)


def _sleeper(workspace: Path) -> tuple[str, Path]:
    pid_file = workspace / "pid.txt"
    code = f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)"
    return notebook(workspace, "sleeper", code), pid_file


async def test_cancel_kills_the_subprocess(make_api: MakeApi, workspace: Path) -> None:
    path, pid_file = _sleeper(workspace)
    _, api = await make_api(workspace=workspace)
    run_id = (await api.post("jobs/runs/submit", {"notebook_task": {"notebook_path": path}}))["run_id"]
    await _wait_for(lambda: pid_file.exists() and pid_file.read_text())
    pid = int(pid_file.read_text())
    running = await api.get("jobs/runs/get", run_id=run_id)
    assert running["state"]["life_cycle_state"] == "RUNNING"
    await api.post("jobs/runs/cancel", {"run_id": run_id})
    run = await api.wait_run(run_id)
    assert (run["state"]["result_state"], run["status"]["termination_details"]["code"]) == (
        "CANCELED",
        "USER_CANCELED",
    )
    await _wait_for(lambda: not _alive(pid))


async def test_timeout_and_shutdown_kill_subprocesses(make_api: MakeApi, workspace: Path) -> None:
    path, pid_file = _sleeper(workspace)
    server, api = await make_api(workspace=workspace)
    task = {"task_key": "t", "timeout_seconds": 1, "notebook_task": {"notebook_path": path}}
    run = await api.wait_run((await api.post("jobs/runs/submit", {"tasks": [task]}))["run_id"])
    assert run["state"]["result_state"] == "TIMEDOUT"
    pid_file.unlink()
    await api.post("jobs/runs/submit", {"notebook_task": {"notebook_path": path}})
    await _wait_for(lambda: pid_file.exists() and pid_file.read_text())
    pid = int(pid_file.read_text())
    await server.stop()
    await _wait_for(lambda: not _alive(pid))


async def test_a_kill_cancelled_while_reaping_still_closes_the_process_transport() -> None:
    """A second cancel (a shutdown during a run's cancel) must not leave the transport to the garbage
    collector, which would report it as a ResourceWarning in whichever test runs next."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import time; time.sleep(60)",
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    killing = asyncio.ensure_future(_kill(proc))
    await asyncio.sleep(0)  # it has signalled the process and waits to reap it
    killing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await killing
    assert proc._transport.is_closing()  # type: ignore[attr-defined]
    await proc.wait()


async def test_max_concurrency_queues_runs(make_api: MakeApi, workspace: Path) -> None:
    path, pid_file = _sleeper(workspace)
    _, api = await make_api(workspace=workspace, max_concurrency=1)
    first = (await api.post("jobs/runs/submit", {"notebook_task": {"notebook_path": path}}))["run_id"]
    second = (await api.post("jobs/runs/submit", {"notebook_task": {"notebook_path": path}}))["run_id"]
    await _wait_for(lambda: pid_file.exists() and pid_file.read_text())
    queued = await api.get("jobs/runs/get", run_id=second)
    assert queued["state"]["life_cycle_state"] == "QUEUED"
    assert queued["status"]["queue_details"]["code"] == "ACTIVE_RUNS_LIMIT_REACHED"
    stats = await api.ok("GET", "/_emulator/stats")
    assert stats["active_runs"] == 2
    for run_id in (first, second):
        await api.post("jobs/runs/cancel", {"run_id": run_id})
    assert (await api.wait_run(second))["state"]["result_state"] == "CANCELED"
