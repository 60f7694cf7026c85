"""The Databricks emulator as a child process, for end-to-end tests and the demo.

``python -m airflow_dbx_async.emulator`` prints one ``EMULATOR_READY {json}`` line once it listens;
:class:`EmulatorProcess` starts it in its own process group, waits for that line and exposes the
address, the token and the admin endpoints (``/_emulator/stats``, ``/_emulator/runs``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.testing._http import request_json, ssl_context_for
from airflow_dbx_async.testing._procs import ManagedProcess

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import TracebackType

__all__ = ("EmulatorAdmin", "EmulatorInfo", "EmulatorProcess", "connection_json")

READY_PREFIX = "EMULATOR_READY "


@dataclass(frozen=True)
class EmulatorInfo:
    """Where a running emulator listens and how to authenticate to it."""

    url: str
    token: str
    ca_file: str | None = None
    workspace_id: int | None = None

    def __repr__(self) -> str:
        return f"EmulatorInfo(url={self.url!r}, ca_file={self.ca_file!r}, workspace_id={self.workspace_id!r})"


def connection_json(url: str, token: str, ca_file: str | None = None) -> str:
    """An Airflow connection (JSON env-var form) pointing at a Databricks workspace URL."""
    conn: dict[str, Any] = {"conn_type": "databricks", "host": url, "password": token}
    if ca_file:
        conn["extra"] = {"ca_file": ca_file}
    return json.dumps(conn)


class EmulatorAdmin:
    """The emulator's admin endpoints (under ``/_emulator/``, no auth), given where it listens."""

    @property
    def info(self) -> EmulatorInfo:
        """Address and token of the emulator."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return self.info.url

    @property
    def token(self) -> str:
        """A token the emulator accepts."""
        return self.info.token

    @property
    def ca_file(self) -> str | None:
        """CA bundle to trust when it serves TLS."""
        return self.info.ca_file

    def connection_json(self) -> str:
        """The Airflow connection JSON (``AIRFLOW_CONN_...`` value) for this emulator."""
        return connection_json(self.info.url, self.info.token, self.info.ca_file)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call an admin endpoint under ``/_emulator/``."""
        url = f"{self.info.url}/_emulator/{path.lstrip('/')}"
        return request_json(method, url, body, context=ssl_context_for(self.info.ca_file))

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``: requests per endpoint, connections, submits, active runs."""
        result: dict[str, Any] = self.admin("GET", "stats")
        return result

    def runs(self) -> list[dict[str, Any]]:
        """``GET /_emulator/runs``: every run with its state and idempotency token."""
        return _as_run_list(self.admin("GET", "runs"))

    def reset(self) -> None:
        """``POST /_emulator/reset``: forget every run and counter."""
        self.admin("POST", "reset", {})


class EmulatorProcess(EmulatorAdmin):
    """Run ``python -m airflow_dbx_async.emulator`` in its own process group.

    :param workspace: workspace folder(s); several are merged into one temporary folder (later wins).
    :param simulate: run tasks in simulated mode instead of executing notebooks.
    :param tls: serve HTTPS with a self-signed certificate (``ca_file`` tells clients what to trust).
    :param extra_args: further command-line arguments.
    :param log_dir: where the process output goes (a temporary folder by default).
    """

    def __init__(
        self,
        *,
        workspace: Path | Sequence[Path] | None = None,
        simulate: bool = False,
        tls: bool = False,
        extra_args: Sequence[str] = (),
        log_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._log_dir = log_dir or Path(tempfile.mkdtemp(prefix="dbx-emulator-"))
        self._workspaces = [workspace] if isinstance(workspace, Path) else list(workspace or ())
        self._argv = [
            sys.executable,
            "-m",
            "airflow_dbx_async.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]
        if simulate:
            self._argv.append("--simulate")
        if tls:
            self._argv.append("--tls")
        self._argv.extend(extra_args)
        self._env = dict(env if env is not None else os.environ)
        self._env["PYTHONUNBUFFERED"] = "1"
        self._proc: ManagedProcess | None = None
        self._info: EmulatorInfo | None = None

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def info(self) -> EmulatorInfo:
        """Address and token; only once started."""
        if self._info is None:
            raise RuntimeError("the emulator is not running")
        return self._info

    @property
    def process(self) -> ManagedProcess | None:
        """The managed child process (``None`` before start)."""
        return self._proc

    @property
    def log_path(self) -> Path:
        """File holding the emulator's output."""
        return self._log_dir / "emulator.log"

    def _workspace_dir(self) -> Path | None:
        if len(self._workspaces) <= 1:
            return self._workspaces[0] if self._workspaces else None
        merged = self._log_dir / "workspace"
        for source in self._workspaces:
            _merge_tree(source, merged)
        return merged

    def start(self, timeout: float = 30.0) -> EmulatorInfo:
        """Start the process and wait for its ready line; raises ``RuntimeError`` if it does not come."""
        argv = list(self._argv)
        workspace = self._workspace_dir()
        if workspace is not None:
            argv += ["--workspace", str(workspace)]
        self._proc = ManagedProcess("emulator", argv, env=self._env, log_path=self.log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = _parse_ready(self.log_path)
            if info is not None:
                self._info = info
                return info
            if not self._proc.running():
                break
            time.sleep(0.05)
        tail = self._proc.tail()
        self.stop()
        raise RuntimeError(f"the emulator did not become ready within {timeout} s; its output:\n{tail}")

    def stop(self, grace: float = 5.0) -> None:
        """Stop the emulator's process group; idempotent."""
        if self._proc is not None:
            self._proc.stop(grace=grace)


def _as_run_list(payload: Any) -> list[dict[str, Any]]:
    """Accept both a bare list and an object holding a ``runs`` list."""
    if isinstance(payload, dict):
        payload = payload.get("runs", [])
    return [run for run in payload or [] if isinstance(run, dict)]


def _parse_ready(log_path: Path) -> EmulatorInfo | None:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(READY_PREFIX):
            data = json.loads(line[len(READY_PREFIX) :])
            return EmulatorInfo(
                url=str(data["url"]).rstrip("/"),
                token=str(data["token"]),
                ca_file=data.get("ca_file"),
                workspace_id=data.get("workspace_id"),
            )
    return None


def _merge_tree(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
