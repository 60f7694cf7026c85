"""Imports flow one way: the client and the emulator import in a fresh interpreter with Airflow blocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

_BLOCKER = textwrap.dedent(
    """
    import importlib.abc
    import sys

    BLOCKED = {blocked!r}


    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"layering violation: {{name}} must not be imported here")
            return None


    sys.meta_path.insert(0, Blocker())
    import {module}

    leaked = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
    assert not leaked, leaked
    print("ok")
    """
)


def _import_with_blocked(module: str, blocked: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    code = _BLOCKER.format(module=module, blocked=blocked)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("module", "blocked"),
    [
        ("airflow_dbx_async", ("airflow",)),
        ("airflow_dbx_async.client", ("airflow",)),
        ("airflow_dbx_async.emulator", ("airflow", "airflow_dbx_async.client")),
    ],
)
def test_imports_without_forbidden_layers(module, blocked):
    result = _import_with_blocked(module, blocked)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_blocker_really_blocks():
    result = _import_with_blocked("airflow_dbx_async.hooks", ("airflow",))
    assert result.returncode != 0
    assert "layering violation: airflow" in result.stderr


def _client_imports() -> dict[str, set[str]]:
    """Each client module's imports of other client modules, type-checking-only imports included."""
    import ast
    import pathlib

    import airflow_dbx_async.client as client

    graph: dict[str, set[str]] = {}
    for path in pathlib.Path(client.__path__[0]).glob("*.py"):
        name = f"airflow_dbx_async.client.{path.stem}"
        tree = ast.parse(path.read_text())
        graph[name] = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("airflow_dbx_async.client.")
        }
    return graph


def test_the_client_modules_have_no_import_cycle():
    graph = _client_imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module in done:
            return
        for imported in graph.get(module, ()):
            visit(imported, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())
