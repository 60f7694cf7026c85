"""A real, throw-away Airflow installation running as child processes.

:class:`AirflowStack` creates a fresh ``AIRFLOW_HOME``, copies DAG files into its DAGs folder,
migrates the metadata database and starts the API server, the scheduler (LocalExecutor), the DAG
processor and a triggerer, each in its own process group with its output in ``AIRFLOW_HOME``.
Airflow is only ever driven as a subprocess: this module does not import it, so the harness can't
be affected by (or affect) the Airflow configuration of the process using it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.testing._airflow_api import AirflowApi, flatten_log
from airflow_dbx_async.testing._procs import ManagedProcess, stop_all

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

__all__ = ("AirflowStack", "free_port")

# Settings that make a small, fast, test-friendly Airflow (see docs/testing.md).
_BASE_SETTINGS = {
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    # Each DAG file is parsed when it appears and not again for 10 minutes: re-parsing every file every
    # few seconds (a process per file) kept a CPU core busy per Airflow, starving the tests beside it.
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
    "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
    # A killed triggerer's triggers move to a live one once its heartbeat is this old.
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "15",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "30",
    "AIRFLOW__API__WORKERS": "1",
    # A worker waits this long for the API server before it retries a call. A retried "success" that
    # the server had already recorded is refused (409 invalid_state), and the Task SDK then fails the
    # task that succeeded; a machine this busy can take longer to answer than the default 5 s.
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_environ() -> dict[str, str]:
    """The current environment without Airflow settings, so the stack is configured only by us.

    pytest's own variables are dropped too: Airflow changes its logging when it sees them, and the
    components must behave as in production even when a test started them.
    """
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW_HOME", "PYTEST_", "_PYTEST")
        )
    }


class AirflowStack:
    """Airflow's API server, scheduler, DAG processor and triggerer on a fresh home.

    :param dag_files: DAG files copied into the DAGs folder.
    :param connections: ``{conn_id: json}`` exported as ``AIRFLOW_CONN_<ID>`` to every component.
    :param env: further environment variables (override the defaults).
    :param sql_alchemy_conn: metadata database URL; SQLite in the home folder by default
        (PostgreSQL is needed to run several triggerers at once).
    :param home: the ``AIRFLOW_HOME`` to use (a new temporary folder by default, removed on stop).
    """

    def __init__(
        self,
        dag_files: Iterable[Path] = (),
        *,
        connections: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        sql_alchemy_conn: str | None = None,
        home: Path | None = None,
    ) -> None:
        self._own_home = home is None
        self.home = home or Path(tempfile.mkdtemp(prefix="airflow-e2e-"))
        self.dags_folder = self.home / "dags"
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        for dag_file in dag_files:
            shutil.copy(dag_file, self.dags_folder / Path(dag_file).name)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api = AirflowApi(self.base_url)
        self.env = self._build_env(connections or {}, env or {}, sql_alchemy_conn)
        self.processes: list[ManagedProcess] = []
        self.triggerers: list[ManagedProcess] = []

    def _build_env(
        self, connections: Mapping[str, str], extra: Mapping[str, str], sql_alchemy_conn: str | None
    ) -> dict[str, str]:
        env = _clean_environ()
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(_BASE_SETTINGS)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn
                or f"sqlite:///{self.home}/airflow.db",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for conn_id, value in connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
        env.update(extra)
        return env

    def __enter__(self) -> AirflowStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _airflow(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    def migrate(self, timeout: float = 300.0) -> None:
        """``airflow db migrate``; raises ``RuntimeError`` with its output when it fails."""
        result = subprocess.run(
            self._airflow("db", "migrate"),
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
            check=False,
        )
        (self.home / "db-migrate.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({result.returncode}):\n{result.stderr[-3000:]}")

    def spawn(self, name: str, *args: str) -> ManagedProcess:
        """Start ``airflow <args>`` in its own process group, output in ``AIRFLOW_HOME/<name>.log``."""
        proc = ManagedProcess(
            name, self._airflow(*args), env=self.env, log_path=self.home / f"{name}.log", cwd=self.home
        )
        self.processes.append(proc)
        return proc

    def start_triggerer(self) -> ManagedProcess:
        """Start one more triggerer; its handle can be :meth:`~ManagedProcess.kill`-ed to simulate a crash."""
        proc = self.spawn(f"triggerer-{len(self.triggerers) + 1}", "triggerer", "--skip-serve-logs")
        self.triggerers.append(proc)
        return proc

    def start(self, timeout: float = 180.0) -> None:
        """Migrate, start the four components and wait until they are all healthy."""
        self.migrate()
        self.spawn(
            "api-server", "api-server", "--port", str(self.port), "--host", "127.0.0.1", "--workers", "1"
        )
        self.spawn("scheduler", "scheduler", "--skip-serve-logs")
        self.spawn("dag-processor", "dag-processor")
        self.start_triggerer()
        try:
            self.api.wait_healthy(timeout)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{self.describe_failure()}") from None

    def describe_failure(self) -> str:
        """The tail of every component's output, for an assertion message."""
        parts = [f"--- {p.name} (rc={p.popen.poll()}) ---\n{p.tail(25)}" for p in self.processes]
        return "\n".join(parts)

    def wait_dags(self, dag_ids: Iterable[str], timeout: float = 120.0) -> None:
        """Wait until the DAGs are listed (parsed by the DAG processor)."""
        try:
            self.api.wait_dag_listed(dag_ids, timeout)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{self.describe_failure()}") from None

    def trigger_log_lines(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[str]:
        """Lines the triggerer wrote for one try (``attempt=N.log.trigger.*.log``), flattened.

        Only the triggerer process writes these files, so a line found here was logged by code
        running in the triggerer.
        """
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        events: list[Any] = []
        for path in sorted(folder.glob(f"attempt={try_number}.log.trigger.*.log")):
            for raw in path.read_text(errors="replace").splitlines():
                try:
                    events.append(json.loads(raw))
                except ValueError:
                    events.append(raw)
        return flatten_log(events)

    def alive_processes(self) -> list[ManagedProcess]:
        """Components whose process group still has a live process."""
        return [proc for proc in self.processes if proc.alive()]

    def stop(self, grace: float = 10.0) -> None:
        """Stop every process group this stack started (SIGTERM, then SIGKILL); idempotent."""
        stop_all(self.processes, grace=grace)
        if self._own_home and not self.alive_processes() and os.environ.get("AIRFLOW_E2E_KEEP_HOME") != "1":
            shutil.rmtree(self.home, ignore_errors=True)
