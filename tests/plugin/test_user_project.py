"""A new user's project, written from docs/testing.md alone, passes under ``filterwarnings = error``.

The example files are taken from the documentation page itself (each is a bold file name followed by
a code block), written into a fresh folder outside this repository, and pytest runs on them in a
subprocess with no Airflow setting inherited from this test session.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "testing.md"
_FILE_BLOCK = re.compile(r"\*\*`(?P<path>[^`]+)`\*\*\n\n```[a-z]*\n(?P<body>.*?)```\n", re.S)
_ASYNCIO_LINE = re.compile(r"add `(asyncio_default_fixture_loop_scope = \w+)`")


def documented_project() -> dict[str, str]:
    """The files of the page's complete example, by relative path."""
    section = PAGE.read_text(encoding="utf-8").split("### A complete example", 1)[1].split("\n### ", 1)[0]
    return {m["path"]: m["body"] for m in _FILE_BLOCK.finditer(section)}


def _write(project: Path, files: dict[str, str]) -> None:
    for relative, body in files.items():
        target = project / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")


def _clean_env() -> dict[str, str]:
    """This environment without Airflow or pytest settings of the running session."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST", "_AIRFLOW"))}


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=project,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _ini_for_this_environment(files: dict[str, str]) -> None:
    """Follow the page's note on pytest-asyncio when it is installed here."""
    if importlib.util.find_spec("pytest_asyncio") is None:
        return
    found = _ASYNCIO_LINE.search(PAGE.read_text(encoding="utf-8"))
    assert found is not None, "the page no longer says what to add with pytest-asyncio"
    files["pytest.ini"] += found.group(1) + "\n"


def test_the_page_shows_a_whole_project() -> None:
    files = documented_project()
    assert set(files) == {
        "pytest.ini",
        "dags/hello_dag.py",
        "workspace/Users/me@example.com/Hello.py",
        "workspace/jobs.json",
        "workspace/clusters.json",
        "tests/test_hello_dag.py",
    }
    assert "filterwarnings = error" in files["pytest.ini"]
    assert not any("demo/" in body or "example_dags" in body for body in files.values())


def test_documented_project_passes_outside_the_repository(tmp_path: Path) -> None:
    project = tmp_path / "my_project"
    files = documented_project()
    _ini_for_this_environment(files)
    _write(project, files)

    result = _pytest(project)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert re.search(r"\b1 passed\b", result.stdout), output[-3000:]
    assert (project / ".airflow" / "airflow.db").is_file()  # the session's own Airflow home


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_port_and_workspace_are_chosen_on_the_command_line(tmp_path: Path) -> None:
    files = documented_project()
    _ini_for_this_environment(files)
    _write(tmp_path, {"pytest.ini": files["pytest.ini"], "workspace/jobs.json": files["workspace/jobs.json"]})
    port = _free_port()
    (tmp_path / "test_port.py").write_text(
        "def test_port(databricks_emulator, databricks_emulator_workspace):\n"
        f"    assert databricks_emulator.url == 'http://127.0.0.1:{port}'\n"
        "    assert databricks_emulator_workspace.name == 'other'\n"
        "    jobs = databricks_emulator.admin('GET', '/jobs')['jobs']\n"
        "    assert [job['job_id'] for job in jobs] == [42]\n",
        encoding="utf-8",
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "jobs.json").write_text(files["workspace/jobs.json"], encoding="utf-8")

    result = _pytest(
        tmp_path,
        "test_port.py",
        "-o",
        f"databricks_emulator_port={port}",
        "-o",
        "databricks_emulator_workspace=other",
    )

    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
