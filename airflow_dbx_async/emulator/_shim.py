"""Task runner executed in a subprocess: runs one notebook or Python file with a ``dbutils`` shim.

This file is run by path (``python _shim.py SPEC.json``), never imported by the emulator, so it uses
the standard library only. It writes ``{"status", "result", "error", "error_trace", "cells"}`` to the
result file named in the spec; stdout and stderr are captured by the parent as the task's logs. For a
notebook, ``cells`` holds each command as it ran (source, printed output, state, error), which is what
``runs/export`` serves: a failing cell stops the notebook, later cells keep state ``input``.
"""

from __future__ import annotations

import json
import linecache
import runpy
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

__all__ = ("main", "notebook_cells", "notebook_commands")

_SEPARATOR = "# COMMAND ----------"
_HEADER = "# Databricks notebook source"


class NotebookExit(BaseException):
    """Raised by ``dbutils.notebook.exit``: ends the notebook successfully with a result."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class InputWidgetNotDefined(Exception):
    """Raised when a widget that was neither passed nor defined is read (as on Databricks)."""


class _Widgets:
    def __init__(self, params: dict[str, str]) -> None:
        self._params = params
        self._defaults: dict[str, str] = {}

    def get(self, name: str) -> str:
        if name in self._params:
            return self._params[name]
        if name in self._defaults:
            return self._defaults[name]
        raise InputWidgetNotDefined(f"No input widget named {name} is defined")

    def getArgument(self, name: str, default: str | None = None) -> str | None:  # noqa: N802
        try:
            return self.get(name)
        except InputWidgetNotDefined:
            return default

    def getAll(self) -> dict[str, str]:  # noqa: N802
        return {**self._defaults, **self._params}

    def _define(self, name: str, default: Any = "", *_args: Any, **_kwargs: Any) -> None:
        self._defaults[name] = "" if default is None else str(default)

    text = dropdown = combobox = multiselect = _define

    def remove(self, name: str) -> None:
        self._defaults.pop(name, None)

    def removeAll(self) -> None:  # noqa: N802
        self._defaults.clear()


class _Notebook:
    def exit(self, value: Any) -> None:
        raise NotebookExit("" if value is None else str(value))

    def run(self, path: str, timeout_seconds: int = 0, arguments: Any = None) -> str:
        raise NotImplementedError("dbutils.notebook.run is not supported by the emulator")


class _Stub:
    """Harmless stand-in for objects the emulator does not provide (``spark``, ``dbutils.fs``)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> _Stub:
        return _Stub(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> _Stub:
        return self

    def __repr__(self) -> str:
        return f"<emulator stub {self._name}>"


class DBUtils:
    """The subset of Databricks ``dbutils`` the emulator supports."""

    def __init__(self, params: dict[str, str]) -> None:
        self.widgets = _Widgets(params)
        self.notebook = _Notebook()
        self.fs = _Stub("dbutils.fs")
        self.secrets = _Stub("dbutils.secrets")

    def getArgument(self, name: str, default: str | None = None) -> str | None:  # noqa: N802
        return self.widgets.getArgument(name, default)


class _Outputs:
    """What the running command shows, in order: text (``ansi``), ``html`` and ``table`` results."""

    items: list[dict[str, Any]] = []

    @classmethod
    def text(cls, text: str) -> None:
        if cls.items and cls.items[-1]["type"] == "ansi":
            cls.items[-1]["data"] += text
        else:
            cls.items.append({"type": "ansi", "data": text})


def _display_html(html: Any) -> None:
    _Outputs.items.append({"type": "html", "data": str(html)})


def _display(value: Any = None, *_args: Any, **_kwargs: Any) -> None:
    """A list of dicts shows as a table (as a DataFrame would); anything else as its text."""
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        names = list(dict.fromkeys(k for row in value for k in row))
        rows = [[row.get(n) for n in names] for row in value]
        schema = [{"name": str(n), "type": '"string"', "metadata": "{}"} for n in names]
        _Outputs.items.append({"type": "table", "data": rows, "schema": schema, "truncated": False})
    else:
        print(value)


def _ipynb_commands(path: Path) -> list[tuple[str, str]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    commands = []
    for cell in doc.get("cells", []):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        if cell.get("cell_type") == "code":
            code = "\n".join(ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!")))
            commands.append((src, code))
        elif cell.get("cell_type") == "markdown":
            commands.append(("%md\n" + src, ""))
    return commands


def _source_commands(path: Path) -> list[tuple[str, str]]:
    commands = []
    for chunk in path.read_text(encoding="utf-8").split(_SEPARATOR):
        lines = [ln for ln in chunk.splitlines() if ln.strip() != _HEADER]
        while lines and not lines[0].strip():
            lines.pop(0)
        shown = [ln[len("# MAGIC") :].removeprefix(" ") if ln.startswith("# MAGIC") else ln for ln in lines]
        code = [ln for ln in lines if not ln.startswith("# MAGIC")]
        commands.append(("\n".join(shown).strip("\n"), "\n".join(code)))
    return commands


def notebook_commands(path: Path) -> list[tuple[str, str]]:
    """``(source as shown, Python code to run)`` per command of a ``.py`` or ``.ipynb`` notebook.

    ``# MAGIC`` lines (``%md``, ``%sql``...) are shown without the prefix but not run.
    """
    return _ipynb_commands(path) if path.suffix == ".ipynb" else _source_commands(path)


def notebook_cells(path: Path) -> list[str]:
    """The Python code of each command of a notebook."""
    return [code for _, code in notebook_commands(path)]


class _Tee:
    """A text stream feeding the command's outputs and the process output (the task's logs)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        _Outputs.text(text)
        return int(self._stream.write(text))

    def flush(self) -> None:
        self._stream.flush()


def _run_command(
    number: int, name: str, source: str, code: str, env: dict[str, Any]
) -> tuple[dict[str, Any], BaseException | None]:
    """Run one command with its outputs captured: its record and the exception that ended it, if any."""
    _Outputs.items = []
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    stopped: BaseException | None = None
    try:
        with redirect_stdout(_Tee(sys.stdout)), redirect_stderr(_Tee(sys.stderr)):
            exec(compile(code, name, "exec"), env)  # noqa: S102 - running user notebooks is the point
    except BaseException as exc:  # noqa: BLE001 - handed back to the caller, which decides
        stopped = exc
    record = {"position": number, "command": source, "state": "finished", "results": _Outputs.items}
    return record, stopped


def _run_notebook(path: Path, env: dict[str, Any], cells: list[dict[str, Any]]) -> None:
    """Run the commands in order into ``cells``; the exception of a failing command propagates."""
    commands = notebook_commands(path)
    for number, (source, _) in enumerate(commands, start=1):
        cells.append({"position": number, "command": source, "state": "input", "results": []})
    for number, (source, code) in enumerate(commands, start=1):
        if not code.strip():
            cells[number - 1]["state"] = "finished"
            continue
        record, stopped = _run_command(number, f"{path.name} (cell {number})", source, code, env)
        cells[number - 1] = record
        if stopped is not None:
            if not isinstance(stopped, NotebookExit) and not _clean_exit(stopped):
                record.update(state="error", **_describe(stopped))
            raise stopped


def _is_runner_frame(filename: str) -> bool:
    return filename in (__file__, runpy.__file__) or filename.startswith("<frozen runpy")


def _trace(exc: BaseException) -> str:
    """The traceback without the runner's own frames."""
    tb = exc.__traceback__
    while tb is not None and _is_runner_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _clean_exit(exc: BaseException) -> bool:
    return isinstance(exc, SystemExit) and exc.code in (None, 0)


def _describe(exc: BaseException) -> dict[str, str]:
    """``error`` (one line) and ``error_trace`` of a failure of user code."""
    if isinstance(exc, SystemExit):
        return {"error": f"SystemExit: {exc.code}", "error_trace": _trace(exc)}
    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return {"error": error, "error_trace": _trace(exc)}


def _environment(spec: dict[str, Any]) -> dict[str, Any]:
    dbutils = DBUtils({str(k): str(v) for k, v in (spec.get("params") or {}).items()})
    return {
        "__name__": "__main__",
        "dbutils": dbutils,
        "spark": _Stub("spark"),
        "sc": _Stub("sc"),
        "display": _display,
        "displayHTML": _display_html,
        "getArgument": dbutils.getArgument,
    }


def _execute(spec: dict[str, Any]) -> dict[str, Any]:
    env = _environment(spec)
    path = Path(spec["path"])
    cells: list[dict[str, Any]] = []
    outcome: dict[str, Any] = {"status": "SUCCESS", "result": None}
    try:
        if spec["kind"] == "notebook":
            _run_notebook(path, env, cells)
        else:
            sys.argv = [str(path), *[str(a) for a in spec.get("argv") or ()]]
            del env["__name__"]
            runpy.run_path(str(path), init_globals=env, run_name="__main__")
    except NotebookExit as done:
        outcome["result"] = done.value
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is the task's failure
        if not _clean_exit(exc):
            outcome = {"status": "FAILED", **_describe(exc)}
    if spec["kind"] == "notebook":
        outcome["cells"] = cells
    return outcome


def main(argv: list[str]) -> int:
    """Run the task described by the spec file ``argv[1]``."""
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    outcome = _execute(spec)
    sys.stdout.flush()
    sys.stderr.flush()
    Path(spec["result_file"]).write_text(json.dumps(outcome, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
