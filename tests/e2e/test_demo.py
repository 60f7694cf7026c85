"""The one-command demo in ``--exit`` mode: it runs, shows what it promises and leaves nothing running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _processes_with_env(needle: bytes) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_demo_runs_and_stops_everything() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST_"))}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--exit", "--timeout", "180"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert re.search(r"databricks_dag\.submit_run: \S+ -> deferred", out)
    assert re.search(r"databricks_dag\.run_now: \S+ -> success", out)
    assert re.search(r"databricks_failing_dag\.failing_notebook: \S+ -> failed", out)
    assert "ValueError: Input data is empty" in out
    assert "Traceback (most recent call last)" in out
    assert "Starting the failing notebook" in out
    assert "Airflow UI:" in out

    home = re.search(r"logs of every component in (\S+)\)", out)
    assert home is not None
    assert _processes_with_env(f"AIRFLOW_HOME={home.group(1)}\0".encode()) == []
