"""``runs/export``: a notebook task run as Databricks' HTML export, with the notebook model embedded.

Databricks serves ``{"views": [{"content": "<html>", "name": ..., "type": "NOTEBOOK"}]}`` where the page
carries ``var __DATABRICKS_NOTEBOOK_MODEL = '<base64 of the URL-encoded JSON model>';``. The model's
``commands[]`` are the notebook's cells as they ran: source, position, state, results (text, HTML,
tables) and, for the failing cell, ``errorSummary`` / ``error``. The emulator builds it from the cells
its runner really executed, so what a client parses here is what it parses on a real workspace.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from html import escape
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._params import get_int, get_str, invalid, json_response, read_params

if TYPE_CHECKING:
    from aiohttp import web

    from airflow_dbx_async.emulator._model import TaskRun
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("decode_model", "encode_model", "export_html", "export_run", "notebook_model")

VIEWS = ("CODE", "DASHBOARDS", "ALL")
# encodeURIComponent leaves these unescaped; Python's quote() must be told (it keeps "-_.~" already).
_URI_SAFE = "!*'()"
_RED, _RESET = "\x1b[0;31m", "\x1b[0m"
_RESULT_EXTRAS: dict[str, Any] = {
    "arguments": {},
    "addedWidgets": {},
    "removedWidgets": [],
    "datasetInfos": [],
    "metadata": {},
}
_MULTI_TASK_EXPORT = (
    "Exporting runs with multiple tasks is not supported. Please export each individual task run instead."
)


def encode_model(model: dict[str, Any]) -> str:
    """``base64(encodeURIComponent(JSON))``, the encoding of ``__DATABRICKS_NOTEBOOK_MODEL``."""
    quoted = urllib.parse.quote(json.dumps(model, separators=(",", ":")), safe=_URI_SAFE)
    return base64.b64encode(quoted.encode("ascii")).decode("ascii")


def decode_model(encoded: str) -> dict[str, Any]:
    """The inverse of :func:`encode_model` (base64-decode, URL-unquote, parse JSON)."""
    model: dict[str, Any] = json.loads(urllib.parse.unquote(base64.b64decode(encoded).decode("utf-8")))
    return model


def _results(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A command's ``results``: null without output, one result, or ``listResults`` of several."""
    if not items:
        return None
    if len(items) == 1:
        return {**items[0], **_RESULT_EXTRAS}
    return {"type": "listResults", "data": [dict(item) for item in items], **_RESULT_EXTRAS}


def _coloured_trace(trace: str, summary: str) -> str:
    """The traceback with its last line's exception name in ANSI red, as notebook traces are."""
    name, sep, rest = summary.partition(":")
    lines = trace.rstrip("\n").split("\n")
    if lines and lines[-1] == summary:
        lines[-1] = f"{_RED}{name}{_RESET}{sep}{rest}"
    return "\n".join(lines) + "\n"


def _command(run_id: int, cell: dict[str, Any], times: tuple[int, int]) -> dict[str, Any]:
    position = int(cell.get("position", 0))
    ran = cell.get("state") in ("finished", "error")
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"emulator:{run_id}:{position}"))
    command: dict[str, Any] = {
        "version": "CommandV1",
        "origId": run_id * 1000 + position,
        "guid": guid,
        "subtype": "command",
        "commandType": "auto",
        "position": float(position),
        "command": str(cell.get("command", "")),
        "commandVersion": 1,
        "state": str(cell.get("state", "input")),
        "results": _results(list(cell.get("results") or ())),
        "resultDbfsStatus": "INLINED_IN_TREE",
        "resultDbfsErrorMessage": None,
        "errorSummary": None,
        "errorTraceType": None,
        "error": None,
        "startTime": times[0] if ran else 0,
        "submitTime": times[0] if ran else 0,
        "finishTime": times[1] if ran else 0,
        "collapsed": False,
        "commandTitle": "",
        "showCommandTitle": False,
        "hideCommandCode": False,
        "hideCommandResult": False,
        "nuid": guid,
    }
    if cell.get("error"):
        summary = str(cell["error"])
        trace = str(cell.get("error_trace") or summary)
        command.update(errorSummary=summary, errorTraceType="ansi", error=_coloured_trace(trace, summary))
    return command


def notebook_model(task: TaskRun, name: str) -> dict[str, Any]:
    """The ``NotebookV1`` model of a notebook task run from the cells it executed."""
    times = (task.running_ms or task.created_ms, task.terminating_ms or task.end_ms or 0)
    commands = [_command(task.run_id, cell, times) for cell in task.cells or ()]
    return {
        "version": "NotebookV1",
        "origId": task.run_id,
        "name": name,
        "language": "python",
        "commands": commands,
        "dashboards": [],
        "guid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"emulator:{task.run_id}")),
        "globalVars": {},
        "iPythonMetadata": None,
        "inputWidgets": {},
        "notebookMetadata": {},
    }


def export_html(name: str, model: dict[str, Any]) -> str:
    """The exported page: the notebook model embedded the way Databricks embeds it."""
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '  <meta name="databricks-html-version" content="1">\n'
        f"<title>{escape(name)} - Databricks</title>\n"
        '<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Type" content="text/html; charset=UTF8">\n'
        "</head>\n<body>\n  <script>\n"
        f"      var __DATABRICKS_NOTEBOOK_MODEL = '{encode_model(model)}';\n"
        "  </script>\n</body>\n</html>\n"
    )


def _notebook_name(task: TaskRun) -> str:
    notebook = task.spec.get("notebook_task")
    path = str(notebook.get("notebook_path", "")) if isinstance(notebook, dict) else ""
    return PurePosixPath(path).name or task.task_key


async def export_run(request: web.Request) -> web.Response:
    """``GET runs/export?run_id=<task run>&views_to_export=CODE|DASHBOARDS|ALL``."""
    params = await read_params(request)
    state: EmulatorState = request.app[STATE]
    run_id = get_int(params, "run_id", required=True)
    views = get_str(params, "views_to_export", "CODE")
    if views not in VIEWS:
        raise invalid(f"Invalid views_to_export {views[:40]!r}: it must be one of CODE, DASHBOARDS, ALL.")
    run, task = state.lookup(run_id)
    if task is None:
        raise invalid(_MULTI_TASK_EXPORT)
    if "notebook_task" not in task.spec:
        raise invalid(f"Run {run_id} is not a notebook task run; only notebook runs can be exported.")
    if views == "DASHBOARDS":
        return json_response({})
    name = _notebook_name(task)
    view = {"content": export_html(name, notebook_model(task, name)), "name": name, "type": "NOTEBOOK"}
    return json_response({"views": [view]})
