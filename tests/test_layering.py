"""Imports flow one way: the client and the emulator import in a fresh interpreter with Airflow blocked.

Every module of the client is imported on its own (not only what ``client/__init__`` pulls in), so a
stray ``airflow`` import in any of them fails the build. The rest of the package reaches the client
only through its public surface: ``airflow_dbx_async.client`` and its public modules.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
import textwrap

import pytest

import airflow_dbx_async
import airflow_dbx_async.client as client

_PACKAGE_DIR = pathlib.Path(airflow_dbx_async.__path__[0])
_CLIENT_DIR = pathlib.Path(client.__path__[0])
_CLIENT = client.__name__

_BLOCKER = textwrap.dedent(
    """
    import importlib
    import importlib.abc
    import sys

    BLOCKED = {blocked!r}


    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"layering violation: {{name}} must not be imported here")
            return None


    sys.meta_path.insert(0, Blocker())
    failed = []
    for module in {modules!r}:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            failed.append(f"{{module}}: {{exc}}")
    assert not failed, failed

    leaked = sorted(m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED))
    assert not leaked, leaked
    print("ok")
    """
)


def _import_with_blocked(
    modules: str | tuple[str, ...], blocked: tuple[str, ...]
) -> subprocess.CompletedProcess[str]:
    names = (modules,) if isinstance(modules, str) else modules
    code = _BLOCKER.format(modules=names, blocked=blocked)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def _modules_of(package: str, folder: pathlib.Path) -> tuple[str, ...]:
    """Every module file of ``package`` (the package itself for ``__init__``), ``__main__`` left out."""
    names = []
    for path in sorted(folder.glob("*.py")):
        if path.stem == "__init__":
            names.append(package)
        elif path.stem != "__main__":
            names.append(f"{package}.{path.stem}")
    return tuple(names)


_CLIENT_MODULES = _modules_of(_CLIENT, _CLIENT_DIR)


def test_every_client_module_file_is_listed():
    assert len(_CLIENT_MODULES) == len(list(_CLIENT_DIR.glob("*.py")))
    assert f"{_CLIENT}._poller" in _CLIENT_MODULES


@pytest.mark.parametrize(
    ("modules", "blocked"),
    [
        ("airflow_dbx_async", ("airflow",)),
        (_CLIENT_MODULES, ("airflow",)),
        (
            _modules_of("airflow_dbx_async.emulator", _PACKAGE_DIR / "emulator"),
            ("airflow", _CLIENT),
        ),
    ],
    ids=["package", "client", "emulator"],
)
def test_imports_without_forbidden_layers(modules, blocked):
    result = _import_with_blocked(modules, blocked)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_blocker_really_blocks():
    result = _import_with_blocked("airflow_dbx_async.hooks", ("airflow",))
    assert result.returncode != 0
    assert "layering violation: airflow" in result.stderr


def _imported_modules(path: pathlib.Path, package: str) -> set[str]:
    """Every module ``path`` imports (dotted, relative imports resolved), type-checking-only ones too.

    ``from a.b import c`` counts as importing ``a.b`` and ``a.b.c`` (``c`` may be a module).
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _package_of(path: pathlib.Path) -> str:
    """The package a module file belongs to (what its relative imports start from)."""
    return ".".join(path.relative_to(_PACKAGE_DIR.parent).parts[:-1])


def _private_client_module(name: str) -> str | None:
    """``airflow_dbx_async.client._x`` for any name inside a private client module, else ``None``."""
    if not name.startswith(f"{_CLIENT}."):
        return None
    first = name[len(_CLIENT) + 1 :].split(".")[0]
    return f"{_CLIENT}.{first}" if first.startswith("_") else None


def test_no_module_outside_the_client_imports_a_private_client_module():
    offenders = {}
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        if _CLIENT_DIR in path.parents:
            continue
        imported = _imported_modules(path, _package_of(path))
        private = sorted({m for m in map(_private_client_module, imported) if m})
        if private:
            offenders[str(path.relative_to(_PACKAGE_DIR.parent))] = private
    assert offenders == {}, "import the client's public surface instead (airflow_dbx_async.client)"


def _private_module_of_another_package(name: str, own: str) -> str | None:
    """``airflow_dbx_async.<pkg>._x`` when ``name`` is in a private module of a package but ``own``."""
    parts = name.split(".")
    if len(parts) < 3 or parts[0] != _PACKAGE_DIR.name or not parts[2].startswith("_"):
        return None
    package = ".".join(parts[:2])
    return None if own == package or own.startswith(f"{package}.") else ".".join(parts[:3])


def test_no_package_imports_another_packages_private_module():
    # hooks, operators, triggers, outcome, workflow (and the client) meet only through their public
    # surface: a private module is its own package's business.
    offenders = {}
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        own = _package_of(path)
        imported = _imported_modules(path, own)
        found = (_private_module_of_another_package(name, own) for name in imported)
        private = sorted({module for module in found if module})
        if private:
            offenders[str(path.relative_to(_PACKAGE_DIR.parent))] = private
    assert offenders == {}


def test_no_client_module_mentions_airflow_in_an_import():
    # Also catches an import inside a function, which importing the module does not run.
    for path in sorted(_CLIENT_DIR.glob("*.py")):
        imported = _imported_modules(path, _CLIENT)
        assert not {m for m in imported if m == "airflow" or m.startswith("airflow.")}, path.name


def _client_imports() -> dict[str, set[str]]:
    """Each client module's imports of other client modules, type-checking-only imports included."""
    graph: dict[str, set[str]] = {}
    for path in _CLIENT_DIR.glob("*.py"):
        name = f"{_CLIENT}.{path.stem}"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"{_CLIENT}.")
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
