"""Task runner executed in a subprocess: runs one notebook or Python file with a ``dbutils`` shim.

This file is run by path (``python _shim.py SPEC.json``), never imported by the emulator, so it uses
the standard library only. It writes ``{"status", "result", "error", "error_trace"}`` to the result
file named in the spec; stdout and stderr are captured by the parent as the task's logs.
"""

from __future__ import annotations

import json
import linecache
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

__all__ = ("main", "notebook_cells")

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


def _display(*args: Any, **_kwargs: Any) -> None:
    print(*args)


def notebook_cells(path: Path) -> list[str]:
    """Code cells of a notebook in Databricks source format (``.py``) or Jupyter format (``.ipynb``)."""
    if path.suffix == ".ipynb":
        doc = json.loads(path.read_text(encoding="utf-8"))
        cells = []
        for cell in doc.get("cells", []):
            if cell.get("cell_type") == "code":
                src = cell.get("source", "")
                src = "".join(src) if isinstance(src, list) else str(src)
                cells.append(
                    "\n".join(ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!")))
                )
        return cells
    text = path.read_text(encoding="utf-8")
    cells = []
    for chunk in text.split(_SEPARATOR):
        lines = [ln for ln in chunk.splitlines() if not ln.startswith("# MAGIC") and ln.strip() != _HEADER]
        cells.append("\n".join(lines))
    return cells


def _run_notebook(path: Path, env: dict[str, Any]) -> None:
    for number, source in enumerate(notebook_cells(path), start=1):
        name = f"{path.name} (cell {number})"
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        exec(compile(source, name, "exec"), env)  # noqa: S102 - running user notebooks is the point


def _is_runner_frame(filename: str) -> bool:
    return filename in (__file__, runpy.__file__) or filename.startswith("<frozen runpy")


def _trace(exc: BaseException) -> str:
    """The traceback without the runner's own frames."""
    tb = exc.__traceback__
    while tb is not None and _is_runner_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _execute(spec: dict[str, Any]) -> dict[str, Any]:
    params = {str(k): str(v) for k, v in (spec.get("params") or {}).items()}
    dbutils = DBUtils(params)
    env: dict[str, Any] = {
        "__name__": "__main__",
        "dbutils": dbutils,
        "spark": _Stub("spark"),
        "sc": _Stub("sc"),
        "display": _display,
        "displayHTML": _display,
        "getArgument": dbutils.getArgument,
    }
    path = Path(spec["path"])
    try:
        if spec["kind"] == "notebook":
            _run_notebook(path, env)
        else:
            sys.argv = [str(path), *[str(a) for a in spec.get("argv") or ()]]
            del env["__name__"]
            runpy.run_path(str(path), init_globals=env, run_name="__main__")
    except NotebookExit as done:
        return {"status": "SUCCESS", "result": done.value}
    except SystemExit as stop:
        if stop.code in (None, 0):
            return {"status": "SUCCESS", "result": None}
        return {"status": "FAILED", "error": f"SystemExit: {stop.code}", "error_trace": _trace(stop)}
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is the task's failure
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return {"status": "FAILED", "error": error, "error_trace": _trace(exc)}
    return {"status": "SUCCESS", "result": None}


def main(argv: list[str]) -> int:
    """Run the task described by the spec file ``argv[1]``."""
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    outcome = _execute(spec)
    sys.stdout.flush()
    sys.stderr.flush()
    Path(spec["result_file"]).write_text(json.dumps(outcome), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
