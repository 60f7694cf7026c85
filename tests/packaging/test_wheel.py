"""The sdist and wheel build, pass ``twine check``, and the wheel works on its own in a fresh virtualenv.

The wheel is installed with its dependencies from the package index into a new virtualenv, resolved
against the users' constraints file for this Python (``constraints/``), and every check runs from an
empty folder, so nothing can come from the source tree. The build tools and pytest come from the main
lock, so no release published after the last re-lock can change what is checked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from scripts.locks import specs

if TYPE_CHECKING:
    from collections.abc import Mapping

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
_NAME = re.compile(r"^([A-Za-z0-9._-]+)")
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", re.MULTILINE)
CONSTRAINTS = ROOT / "constraints" / f"constraints-{sys.version_info.major}.{sys.version_info.minor}.txt"
MAIN_LOCK = ROOT / specs()["main"].path


def _run(args: list[str | Path], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    return {_normalise(name): version for name, version in _PIN.findall(path.read_text())}


@pytest.fixture(scope="module")
def locked_tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip constraints with the main lock's versions (pip takes no hashes in a constraints file)."""
    path = tmp_path_factory.mktemp("locked") / "constraints.txt"
    path.write_text("".join(f"{name}=={version}\n" for name, version in _pins(MAIN_LOCK).items()))
    return path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory, locked_tools: Path) -> Path:
    """The sdist and wheel, built as users build them (``python -m build``, isolated).

    The isolated build environment takes setuptools and wheel at the main lock's versions.
    """
    source = tmp_path_factory.mktemp("source")
    # Build from a copy of the files git knows or would add, so no virtualenv or log leaks in.
    files = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    env = os.environ | {"PIP_CONSTRAINT": str(locked_tools)}
    _run([sys.executable, "-m", "build", "--outdir", out, source], source, env)
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("airflow_dbx_async-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding the wheel and what pip installs with it, nothing else.

    Installed as users are told to: ``pip install airflow-dbx-async -c constraints/constraints-X.Y.txt``.
    """
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    _run([python, "-m", "pip", "install", "--quiet", wheel, "-c", CONSTRAINTS], home)
    return python


def _isolated_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(tmp / "airflow-home")
    return env


def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    built = sorted(p.name for p in dist.iterdir())
    assert built == [f"airflow_dbx_async-{VERSION}-py3-none-any.whl", f"airflow_dbx_async-{VERSION}.tar.gz"]
    output = _run([sys.executable, "-m", "twine", "check", "--strict", *dist.iterdir()], dist)
    assert output.count("PASSED") == 2, output


def test_wheel_holds_every_module_of_the_source_tree(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        packaged = {n for n in archive.namelist() if n.startswith("airflow_dbx_async/")}
    source = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "airflow_dbx_async").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert source - packaged == set()
    assert "airflow_dbx_async/py.typed" in packaged


def test_sdist_holds_the_sources_and_readme(dist: Path) -> None:
    (sdist,) = dist.glob("airflow_dbx_async-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "airflow_dbx_async/operators/__init__.py"} <= names


def test_installing_the_wheel_pulls_no_test_dependency(wheel: Path, fresh_venv: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    requirements = metadata.get_all("Requires-Dist") or []
    test_only = {_normalise(m.group(1)) for r in requirements if "extra ==" in r and (m := _NAME.match(r))}
    assert {"pytest", "ruff", "mypy", "databricks-sdk", "apache-airflow-providers-databricks"} <= test_only
    listing = _run([fresh_venv, "-m", "pip", "list", "--format=freeze"], fresh_venv.parent)
    installed = {_normalise(line.split("==")[0]) for line in listing.splitlines() if "==" in line}
    assert {"apache-airflow", "aiohttp", "asgiref", "airflow-dbx-async"} <= installed
    assert installed & test_only == set()


def test_the_wheel_resolves_to_the_constraints_files_versions(fresh_venv: Path) -> None:
    listing = _run([fresh_venv, "-m", "pip", "list", "--format=freeze"], fresh_venv.parent)
    installed = {_normalise(n): v for n, v in _PIN.findall(listing)}
    constrained = _pins(CONSTRAINTS)
    assert installed["apache-airflow"] == constrained["apache-airflow"]
    differing = {n: (v, constrained[n]) for n, v in installed.items() if constrained.get(n, v) != v}
    assert differing == {}
    unconstrained = set(installed) - set(constrained) - {"airflow-dbx-async", "pip", "setuptools"}
    assert unconstrained == set()


def test_operators_import_from_the_installed_wheel(fresh_venv: Path, tmp_path: Path) -> None:
    code = (
        "import airflow_dbx_async.operators as o, airflow_dbx_async.hooks, airflow_dbx_async.triggers\n"
        "print(o.__file__)\n"
        "print(o.DatabricksSubmitRunOperator.__name__, o.DatabricksRunNowOperator.__name__)\n"
    )
    output = _run([fresh_venv, "-c", code], tmp_path, _isolated_env(tmp_path))
    location, names = output.strip().splitlines()[-2:]
    assert Path(location).is_relative_to(fresh_venv.parent.parent)
    assert names == "DatabricksSubmitRunDeferrableOperator DatabricksRunNowDeferrableOperator"


def test_emulator_command_line_runs_from_the_wheel(fresh_venv: Path, tmp_path: Path) -> None:
    command: list[str | Path] = [fresh_venv, "-m", "airflow_dbx_async.emulator", "--help"]
    output = _run(command, tmp_path, _isolated_env(tmp_path))
    assert output.startswith("usage:")
    assert "--workspace" in output


_SMOKE_TEST = """
import asyncio
import os

from airflow_dbx_async.client import ClientConfig, JobsClient, TokenAuth


def test_the_fixture_serves_the_jobs_api(databricks_emulator):
    assert os.environ["AIRFLOW_CONN_DATABRICKS"] == databricks_emulator.connection_json()

    async def submit_and_read():
        config = ClientConfig(
            base_url=databricks_emulator.url,
            auth=TokenAuth(databricks_emulator.token),
            ca_file=databricks_emulator.ca_file,
        )
        async with JobsClient(config) as client:
            task = {"task_key": "t", "notebook_task": {"notebook_path": "/x"}}
            run_id = await client.submit_run({"run_name": "smoke", "tasks": [task]})
            return run_id, (await client.get_run(run_id)).run_id

    run_id, read_back = asyncio.run(submit_and_read())
    assert read_back == run_id
"""


def test_pytest_plugin_loads_from_the_wheel(fresh_venv: Path, locked_tools: Path, tmp_path: Path) -> None:
    # pytest is a test tool, not a dependency: it goes into a folder of its own, on PYTHONPATH, so the
    # virtualenv keeps only what installing the wheel brought.
    tools = tmp_path / "tools"
    install: list[str | Path] = ["pip", "install", "--quiet", "--target", tools, "-c", locked_tools]
    _run([fresh_venv, "-m", *install, "pytest"], tmp_path)
    (tmp_path / "test_smoke.py").write_text(_SMOKE_TEST)
    env = _isolated_env(tmp_path) | {"PYTHONPATH": str(tools)}
    command: list[str | Path] = [fresh_venv, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_smoke.py"]
    output = _run(command, tmp_path, env)
    assert re.search(r"^1 passed", output, re.MULTILINE), output
