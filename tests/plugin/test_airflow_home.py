"""The ``databricks_airflow`` fixture never migrates the user's own Airflow home (``~/airflow``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_TEST = """
import os
from pathlib import Path


def test_migrates_a_temporary_home(databricks_airflow):
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    assert databricks_airflow.home == home
    assert home != Path.home() / "airflow"
    assert (home / "airflow.db").is_file()
    (Path.home() / "home_used").write_text(str(home))
"""


def test_without_airflow_home_the_fixture_leaves_the_default_home_untouched(tmp_path: Path) -> None:
    user_home, project = tmp_path / "user", tmp_path / "project"
    user_home.mkdir()
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (project / "test_home.py").write_text(_TEST, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST", "_AIRFLOW"))}
    env["HOME"] = str(user_home)  # AIRFLOW_HOME unset: Airflow's default would be this ~/airflow

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-W", "ignore::DeprecationWarning"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert not (user_home / "airflow").exists()
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    used = Path((user_home / "home_used").read_text())
    assert not used.exists()  # the temporary home is removed at the end of the session
