"""One emulator for the whole parity suite, with every API request recorded at the emulator.

Both providers talk to it over HTTP through one connection (``databricks_default``, read from the
environment). Runs are simulated and end at once, so the official operator's synchronous mode never
sleeps and ours completes on its fast path.
"""

from __future__ import annotations

import copy
import json
import os
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from tests.helpers import FakeTI

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from airflow_dbx_async.emulator import EmulatorHandle

CONN_ENV = "AIRFLOW_CONN_DATABRICKS_DEFAULT"
JOBS = {
    101: {"name": "nightly", "tasks": [{"task_key": "nb", "notebook_task": {"notebook_path": "/nb"}}]},
    102: {
        "name": "multi",
        "tasks": [
            {"task_key": "nb", "notebook_task": {"notebook_path": "/nb"}},
            {"task_key": "jar", "spark_jar_task": {"main_class_name": "Main"}},
        ],
    },
    103: {"name": "twin", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/a"}}]},
    104: {"name": "twin", "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/a"}}]},
    301: {
        "name": "always-fails",
        "tasks": [
            {
                "task_key": "nb",
                "notebook_task": {
                    "notebook_path": "/nb",
                    "base_parameters": {"sim_result": "FAILED", "sim_error": "ValueError: boom"},
                },
            }
        ],
    },
}


# Pipelines for pipeline_task by id or by name (the official operator looks a name up with a LIKE filter).
PIPELINES = {
    "1234abcd": "A pipeline",
    "5678efgh": "twin pipeline",
    "9abcijkl": "twin pipeline",
}


# A repo that exists before any case runs (the repos update and delete cases use it).
SEEDED_REPO = "/Repos/team/seeded"
SEEDED_REPO_URL = "https://github.com/example/seeded"


def _api(handle: EmulatorHandle, method: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        handle.url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {handle.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@dataclass
class Recorded:
    """One API request as the emulator received it."""

    method: str
    path: str
    body: Any
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorder:
    """Requests under ``/api/``, in arrival order."""

    requests: list[Recorded] = field(default_factory=list)

    def take(self) -> list[Recorded]:
        """Return the requests recorded so far and forget them."""
        taken, self.requests = self.requests, []
        return taken


def _recording(recorder: Recorder) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def record(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # After the handler: it reads the body first, and aiohttp keeps the bytes for a second read.
        try:
            return await handler(request)
        finally:
            if request.path.startswith("/api/"):
                raw = await request.read()
                body = json.loads(raw) if raw.strip() else None
                recorder.requests.append(Recorded(request.method, request.path, body, dict(request.query)))

    return record


@dataclass
class Workspace:
    """The running emulator, its recorder and a clock for fake task instances."""

    handle: EmulatorHandle
    recorder: Recorder
    seeded_repo_id: str = ""

    def reset_runs(self) -> None:
        """Forget recorded requests (runs stay; ids keep growing)."""
        self.recorder.take()

    def snapshot(self) -> tuple[dict[int, Any], dict[int, Any]]:
        """The jobs and repos as they are now (what a case that creates or changes them starts from)."""
        state = self.handle.server.state
        return copy.deepcopy(state.jobs), copy.deepcopy(state.repos)

    def restore(self, snapshot: tuple[dict[int, Any], dict[int, Any]]) -> None:
        """Put the jobs and repos back as :meth:`snapshot` saw them (new ids keep growing)."""
        state = self.handle.server.state
        for live, saved in zip((state.jobs, state.repos), snapshot, strict=True):
            live.clear()
            live.update(copy.deepcopy(saved))


@pytest.fixture(scope="session")
def workspace() -> Iterator[Workspace]:
    # Tokens are forgotten at once: both sides of a case send the same user idempotency_token, and
    # Databricks would answer the second side with the first side's run (which ours refuses).
    config = EmulatorConfig(
        simulate=True,
        sim_duration_seconds=0,
        idempotency_retention_seconds=0,
        clusters=("hook-cluster", "0923-164208-meows279"),
    )
    server = EmulatorServer(config)
    recorder = Recorder()
    server.app.middlewares.append(_recording(recorder))
    for job_id, settings in JOBS.items():
        server.state.create_job(settings, job_id=job_id)
    for pipeline_id, name in PIPELINES.items():
        server.state.pipelines.create({"name": name}, pipeline_id=pipeline_id)
    handle = server.start_in_thread()
    repo = _api(
        handle, "POST", "/api/2.0/repos", {"url": SEEDED_REPO_URL, "provider": "gitHub", "path": SEEDED_REPO}
    )
    host, port = handle.url.removeprefix("http://").split(":")
    conn = {"conn_type": "databricks", "host": host, "port": int(port), "schema": "http"}
    previous = os.environ.get(CONN_ENV)
    os.environ[CONN_ENV] = json.dumps({**conn, "password": handle.token})
    try:
        yield Workspace(handle, recorder, seeded_repo_id=str(repo["id"]))
    finally:
        handle.stop()
        if previous is None:
            os.environ.pop(CONN_ENV, None)
        else:
            os.environ[CONN_ENV] = previous


def ParityTI(**fields: Any) -> FakeTI:  # noqa: N802 - reads as the task instance it builds
    """A task instance for both providers' operators: its own DAG run unless ``run_id`` is given."""
    return FakeTI(**{"dag_id": "parity", "run_id": f"manual__{uuid.uuid4().hex}", **fields})


def parity_context(ti: FakeTI) -> Any:
    return {"ti": ti}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the parity summary line when the body comparison ran."""
    from tests.parity.test_bodies import TALLY

    if TALLY.identical or TALLY.documented or TALLY.mismatches:
        terminalreporter.write_line(TALLY.line())
        for case_id in TALLY.documented:
            terminalreporter.write_line(f"  documented difference: {case_id}")
