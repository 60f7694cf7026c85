"""The committed locks: current, exact, hashed, and a stale one stops the test command at once."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.locks import LOCK_COMMAND, declared_minimums, specs, stale

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", re.MULTILINE)


def _pins(path: Path) -> dict[str, str]:
    return {name.lower(): version for name, version in _PIN.findall(path.read_text())}


def _copy_of_the_repository(tmp_path: Path) -> Path:
    """The files the lock check reads, as a clean clone has them."""
    copy = tmp_path / "repo"
    for name in ("pyproject.toml", "scripts", "locks", "constraints", "tests/lowest/requirements.txt"):
        source, target = ROOT / name, copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return copy


def test_every_committed_lock_matches_pyproject() -> None:
    assert stale(ROOT) == []


def test_a_changed_bound_without_relocking_fails_the_test_command_with_one_line(tmp_path: Path) -> None:
    copy = _copy_of_the_repository(tmp_path)
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    assert '"aiohttp>=3.10.11"' in text
    pyproject.write_text(text.replace('"aiohttp>=3.10.11"', '"aiohttp>=3.11.0"'))

    result = subprocess.run(
        ["bash", "scripts/test.sh"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )

    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 1
    assert output.count("\n") == 0, output
    assert output.endswith(f"run `{LOCK_COMMAND}`")
    assert "locks/main-py3.11.txt" in output
    assert "locks/lowest-py3.11.txt" in output
    # Nothing was installed or run before the check answered.
    assert not (copy / ".venv").exists()
    assert not (copy / ".venv-tools").exists()


def test_a_changed_test_tool_of_the_lowest_leg_makes_only_its_lock_stale(tmp_path: Path) -> None:
    copy = _copy_of_the_repository(tmp_path)
    requirements = copy / "tests/lowest/requirements.txt"
    requirements.write_text(requirements.read_text() + "hypothesis>=6\n")
    assert stale(copy) == ["locks/lowest-py3.11.txt"]


def test_the_lowest_lock_pins_the_declared_minimums() -> None:
    pinned = _pins(ROOT / specs()["lowest"].path)
    for name, version in declared_minimums().items():
        assert pinned[name] == version


@pytest.mark.parametrize("name", ["main", "lowest", "newest", "tools"])
def test_every_distribution_of_a_lock_is_exact_and_hashed(name: str) -> None:
    text = (ROOT / specs()[name].path).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9._-]+==)", text)
    requirements = [entry for entry in entries if _PIN.match(entry)]
    assert len(requirements) == len(_pins(ROOT / specs()[name].path)) > 0
    for entry in requirements:
        assert "--hash=sha256:" in entry, entry.splitlines()[0]


@pytest.mark.parametrize("name", ["constraints-3.11", "constraints-3.12", "constraints-3.13"])
def test_constraints_files_hold_the_tested_versions(name: str) -> None:
    spec = specs()[name]
    assert spec.bound_to is not None
    constraints = _pins(ROOT / spec.path)
    tested = _pins(ROOT / specs()[spec.bound_to].path)
    assert {"apache-airflow", "aiohttp", "asgiref"} <= set(constraints)
    assert "pytest" not in constraints  # runtime only: the test tools are not the users' business
    if spec.python == specs()[spec.bound_to].python:
        assert {n: v for n, v in constraints.items() if n in tested} == constraints
