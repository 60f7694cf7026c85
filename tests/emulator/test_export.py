"""``runs/export``: the executed notebook as Databricks' HTML export, decoded as users decode a real one.

Reference: https://docs.databricks.com/api/workspace/jobs/exportrun (``views[]`` with ``content``,
``name``, ``type``); the page embeds ``var __DATABRICKS_NOTEBOOK_MODEL = '<base64 of URL-encoded JSON>'``.
get-output has no ``logs`` for notebook tasks: https://docs.databricks.com/api/workspace/jobs/getrunoutput
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from typing import TYPE_CHECKING

import pytest

from tests.emulator.conftest import export_model, notebook

if TYPE_CHECKING:
    from pathlib import Path

    from tests.emulator.conftest import MakeApi

pytestmark = pytest.mark.asyncio

_CELLS = (
    'print("first line")\nprint("second line")',
    'print("third line")',
    'raise ValueError("bad input")',
    'print("never printed")',
)


async def test_export_decodes_like_a_real_export(make_api: MakeApi, workspace: Path) -> None:
    path = notebook(workspace, "three_prints", *_CELLS)
    _, api = await make_api(workspace=workspace)
    run = await api.wait_run(
        (await api.post("jobs/runs/submit", {"notebook_task": {"notebook_path": path}}))["run_id"]
    )
    task_run_id = run["tasks"][0]["run_id"]
    output = await api.get("jobs/runs/get-output", run_id=task_run_id)
    assert "logs" not in output
    assert output["error"] == "ValueError: bad input"

    body = await api.get("jobs/runs/export", run_id=task_run_id, views_to_export="CODE")
    (view,) = body["views"]
    assert (view["name"], view["type"]) == ("three_prints", "NOTEBOOK")
    # The steps users take on a real export: find the variable, base64-decode, URL-unquote, parse.
    encoded = re.search(r"var __DATABRICKS_NOTEBOOK_MODEL = '([^']+)';", view["content"])
    assert encoded is not None
    model = json.loads(urllib.parse.unquote(base64.b64decode(encoded.group(1)).decode("utf-8")))

    commands = sorted(model["commands"], key=lambda c: c["position"])
    assert [c["command"] for c in commands] == list(_CELLS)
    assert [c["state"] for c in commands] == ["finished", "finished", "error", "input"]
    assert commands[0]["results"]["type"] == "ansi"
    assert commands[0]["results"]["data"] == "first line\nsecond line\n"
    assert commands[1]["results"]["data"] == "third line\n"
    failing = commands[2]
    assert failing["results"] is None
    assert failing["errorSummary"] == "ValueError: bad input"
    assert failing["errorTraceType"] == "ansi"
    assert "Traceback (most recent call last)" in failing["error"]
    assert "\x1b[0;31mValueError\x1b[0m: bad input" in failing["error"]
    assert commands[3]["results"] is None
    assert commands[3]["error"] is None


async def test_export_result_types_and_views(make_api: MakeApi, workspace: Path) -> None:
    path = notebook(
        workspace,
        "mixed",
        'print("before")\ndisplay([{"id": 1, "name": "a"}])\ndisplayHTML("<b>bold</b>")\nprint("after")',
        "dbutils.notebook.exit('done')",
    )
    _, api = await make_api(workspace=workspace)
    body = {"tasks": [{"task_key": "m", "notebook_task": {"notebook_path": path}}]}
    run = await api.wait_run((await api.post("jobs/runs/submit", body))["run_id"])
    task_run_id = run["tasks"][0]["run_id"]
    results = (await export_model(api, task_run_id))["commands"][0]["results"]
    assert results["type"] == "listResults"
    assert [(r["type"], r["data"]) for r in results["data"]] == [
        ("ansi", "before\n"),
        ("table", [[1, "a"]]),
        ("html", "<b>bold</b>"),
        ("ansi", "after\n"),
    ]
    assert [c["name"] for c in results["data"][1]["schema"]] == ["id", "name"]
    assert await api.get("jobs/runs/export", run_id=task_run_id, views_to_export="DASHBOARDS") == {}
    assert len((await api.get("jobs/runs/export", run_id=task_run_id, views_to_export="ALL"))["views"]) == 1
    status, error = await api.call(
        "GET", "jobs/runs/export", params={"run_id": str(task_run_id), "views_to_export": "X"}
    )
    assert (status, error["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "views_to_export" in error["message"]
    status, error = await api.call("GET", "jobs/runs/export", params={"run_id": str(run["run_id"])})
    assert (status, error["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


async def test_simulated_notebook_export_and_python_task_refused(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True, sim_duration_seconds=0.05)
    tasks = [
        {
            "task_key": "nb",
            "notebook_task": {
                "notebook_path": "/x/sim",
                "base_parameters": {"sim_print": "hi\n", "sim_error": "KeyError: k"},
            },
        },
        {"task_key": "py", "spark_python_task": {"python_file": "dbfs:/x.py"}},
    ]
    run = await api.wait_run((await api.post("jobs/runs/submit", {"tasks": tasks}))["run_id"])
    by_key = {t["task_key"]: t["run_id"] for t in run["tasks"]}
    (command,) = (await export_model(api, by_key["nb"]))["commands"]
    assert (command["state"], command["errorSummary"]) == ("error", "KeyError: k")
    assert command["results"]["data"] == "hi\n"
    python_output = await api.get("jobs/runs/get-output", run_id=by_key["py"])
    assert python_output["logs_truncated"] is False
    assert "logs" in python_output
    status, error = await api.call("GET", "jobs/runs/export", params={"run_id": str(by_key["py"])})
    assert status == 400
    assert "notebook" in error["message"]
