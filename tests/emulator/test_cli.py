"""The command line prints the ready lines, serves, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from airflow_dbx_async.emulator.__main__ import build_config, parse_args


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, object], dict[str, object]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_dbx_async.emulator", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready_line = proc.stdout.readline()
    conn_line = proc.stdout.readline()
    assert ready_line.startswith("EMULATOR_READY "), ready_line
    assert conn_line.startswith("AIRFLOW_CONN_DATABRICKS='")
    assert conn_line.rstrip().endswith("'")
    ready = json.loads(ready_line.split(" ", 1)[1])
    conn = json.loads(conn_line.split("=", 1)[1].strip().strip("'"))
    return proc, ready, conn


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=20)
    if proc.stdout is not None:
        proc.stdout.close()
    return code


def _get(url: str, token: str, context: ssl.SSLContext | None = None) -> int:
    request = urllib.request.Request(
        url + "/api/2.1/jobs/runs/list", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10, context=context) as resp:
        return int(resp.status)


def test_cli_simulated_ready_line_and_sigterm() -> None:
    proc, ready, conn = _start("--simulate", "--token", "tok-cli", "--sim-duration", "0.1")
    try:
        assert str(ready["url"]).startswith("http://127.0.0.1:")
        assert ready["token"] == "tok-cli"
        assert ready["ca_file"] is None
        assert ready["workspace_id"] == 1234567890123456
        assert conn["conn_type"] == "databricks"
        assert conn["host"] == ready["url"]
        assert conn["password"] == "tok-cli"
        assert conn["schema"] == "http"
        assert str(ready["url"]).endswith(f":{conn['port']}")
        assert _get(str(ready["url"]), "tok-cli") == 200
    finally:
        code = _stop(proc)
    assert code == 0


def test_cli_ipv6_host_prints_a_bracketed_url() -> None:
    proc, ready, conn = _start("--simulate", "--host", "::1")
    try:
        assert str(ready["url"]) == f"http://[::1]:{conn['port']}"
        assert conn["host"] == ready["url"]
        assert _get(str(ready["url"]), str(ready["token"])) == 200
    finally:
        assert _stop(proc) == 0


def test_cli_tls() -> None:
    proc, ready, _ = _start("--simulate", "--tls")
    try:
        ca_file = str(ready["ca_file"])
        assert Path(ca_file).is_file()
        context = ssl.create_default_context(cafile=ca_file)
        assert _get(str(ready["url"]), str(ready["token"]), context) == 200
    finally:
        assert _stop(proc) == 0
    assert not Path(ca_file).exists()


def test_cli_arguments_map_to_config() -> None:
    args = parse_args(
        [
            "--port",
            "8765",
            "--workspace",
            "ws",
            "--fault-rate",
            "0.2",
            "--fault-kinds",
            "429,drop",
            "--fault-seed",
            "4",
        ]
        + ["--max-concurrency", "2", "--sim-duration", "0.5", "--token", "a", "--token", "b"]
    )
    config = build_config(args)
    assert (config.port, config.workspace, config.max_concurrency, config.sim_duration_seconds) == (
        8765,
        "ws",
        2,
        0.5,
    )
    assert config.tokens == ("a", "b")
    assert config.faults is not None
    assert (config.faults.rate, config.faults.kinds, config.faults.seed) == (0.2, ("429", "drop"), 4)
    with pytest.raises(SystemExit):
        parse_args(["--not-found-status", "500"])


def test_cli_sigterm_kills_running_notebooks(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid.txt"
    code = f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    (tmp_path / "Sleeper.py").write_text("# Databricks notebook source\n" + code, encoding="utf-8")
    proc, ready, _ = _start("--workspace", str(tmp_path))
    try:
        body = json.dumps({"run_name": "s", "notebook_task": {"notebook_path": "/Sleeper"}}).encode()
        headers = {"Authorization": f"Bearer {ready['token']}", "Content-Type": "application/json"}
        request = urllib.request.Request(
            f"{ready['url']}/api/2.2/jobs/runs/submit", data=body, headers=headers
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
        deadline = time.monotonic() + 20
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int(pid_file.read_text())
    finally:
        assert _stop(proc) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_cli_beyond_loopback_warns_in_one_line_on_stderr() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_dbx_async.emulator", "--simulate", "--host", "0.0.0.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("EMULATOR_READY ")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "beyond loopback" in lines[0]


def test_cli_on_loopback_prints_no_warning() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_dbx_async.emulator", "--simulate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("EMULATOR_READY ")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert stderr.strip() == ""
