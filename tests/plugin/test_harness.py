"""The harness pieces that need no Airflow: process groups, the emulator process, log flattening."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from airflow_dbx_async.testing import EmulatorProcess, ManagedProcess, connection_json, flatten_log
from tests.helpers import wait_for

if TYPE_CHECKING:
    from pathlib import Path


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    # A leader that ignores SIGTERM and a grandchild: only the group-wide SIGKILL gets both.
    script = "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    script += (
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); print('up', flush=True); "
    )
    script += "time.sleep(60)"
    proc = ManagedProcess("sleeper", [sys.executable, "-c", script], env={}, log_path=tmp_path / "out.log")
    wait_for("the leader to start", lambda: "up" in (tmp_path / "out.log").read_text(), 10, 0.05)
    assert proc.alive()
    proc.stop(grace=0.5)
    assert not proc.alive()
    assert proc.popen.returncode is not None


def test_kill_is_immediate_and_group_wide(tmp_path: Path) -> None:
    script = "import subprocess, sys, time; "
    script += "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    script += "print('up', flush=True); time.sleep(60)"
    proc = ManagedProcess("sleeper", [sys.executable, "-c", script], env={}, log_path=tmp_path / "out.log")
    wait_for("the leader to start", lambda: "up" in (tmp_path / "out.log").read_text(), 10, 0.05)
    proc.kill()
    assert not proc.alive()
    assert proc.popen.returncode == -9


def test_emulator_process_reports_ready_and_stops(tmp_path: Path) -> None:
    with EmulatorProcess(simulate=True, log_dir=tmp_path) as emulator:
        assert emulator.url.startswith("http://127.0.0.1:")
        assert emulator.stats()["submits"] == 0
        assert emulator.runs() == []
        conn = json.loads(emulator.connection_json())
        assert conn == {"conn_type": "databricks", "host": emulator.url, "password": emulator.token}
        process = emulator.process
    assert process is not None
    assert not process.alive()


def test_connection_json_carries_the_ca_file() -> None:
    conn = json.loads(connection_json("https://127.0.0.1:8443", "t0k", "/ca.pem"))
    assert conn["extra"] == {"ca_file": "/ca.pem"}


def test_flatten_log_renders_levels_loggers_sources_and_tracebacks() -> None:
    events = [
        {"event": "::group::Log message source details", "sources": ["a.log", "a.log.trigger.2.log"]},
        {
            "level": "info",
            "logger": "airflow_dbx_async.triggers",
            "event": "Databricks run 1 is RUNNING",
            "k": 1,
        },
        {
            "level": "error",
            "logger": "task",
            "event": "Task failed with exception",
            "error_detail": [
                {
                    "exc_type": "ValueError",
                    "exc_value": "boom",
                    "frames": [{"filename": "dag.py", "lineno": 3, "name": "execute"}],
                }
            ],
        },
        "plain text line",
    ]
    assert flatten_log(events) == [
        "::group::Log message source details",
        "  source: a.log",
        "  source: a.log.trigger.2.log",
        "[info] airflow_dbx_async.triggers: Databricks run 1 is RUNNING k=1",
        "[error] task: Task failed with exception",
        "Traceback (most recent call last):",
        '  File "dag.py", line 3, in execute',
        "ValueError: boom",
        "plain text line",
    ]
