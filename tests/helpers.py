"""Helpers shared by the tests: a task instance stand-in, a connection, waiting for a condition.

One of each: :class:`FakeTI` (and its :class:`FakeStateStore`), :func:`set_connection`, :func:`wait_for`
(and its async twin :func:`async_wait_for`), :func:`first_event`, :func:`messages`,
:func:`hold_runs_until_looked_at`, and for ``dag.test()`` runs :func:`load_dag_module`,
:func:`collector_held` and :data:`DAG_TEST_LEAK_WARNINGS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import importlib.util
import json
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.fake_databricks import TOKEN

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, MutableMapping

CONN_ID = "dbx_test"


@dataclass
class FakeTI:
    """The parts of Airflow's runtime task instance that the operators use."""

    dag_id: str = "dag"
    task_id: str = "task"
    run_id: str = "manual__2026-01-01"
    map_index: int = -1
    try_number: int = 1
    start_date: datetime = field(default_factory=lambda: datetime.now(UTC))
    stats_tags: dict[str, str] = field(default_factory=dict)
    pushed: list[tuple[str, Any]] = field(default_factory=list)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))


def context(ti: FakeTI | None = None) -> Any:
    return {"ti": ti or FakeTI()}


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    *,
    conn_id: str = CONN_ID,
    password: str = TOKEN,
    **fields: Any,
) -> None:
    """Point the Airflow connection ``conn_id`` at ``host`` through its environment variable."""
    body = {"conn_type": "databricks", "host": host, "password": password, **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0, interval: float = 0.3) -> Any:
    """Poll ``probe`` until it returns something truthy; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


async def async_wait_for(
    what: str, probe: Callable[[], Any], seconds: float = 60.0, interval: float = 0.3
) -> Any:
    """:func:`wait_for` on the test's event loop (``seconds`` is its timeout)."""
    timeout = seconds
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def first_event(trigger: Any) -> Any:
    """Run a trigger as the triggerer does and return its first event, decoded."""
    from airflow_dbx_async.outcome import RunEvent

    async for event in trigger.run():
        return RunEvent.from_payload(event.payload)
    raise AssertionError("the trigger ended without an event")


def messages(captured: list[MutableMapping[str, Any]], level: str | None = None) -> list[str]:
    return [str(e["event"]) for e in captured if level is None or e.get("log_level") == level]


def load_dag_module(name: str, source: str) -> Any:
    """Write ``source`` as ``<dags folder>/<name>.py`` of a fresh metadata database and import it.

    For ``dag.test()`` runs: Airflow needs its database and finds the DAG file in its DAGs folder.
    """
    from airflow.configuration import conf
    from airflow.utils import db

    with warnings.catch_warnings():  # a third-party deprecation in Airflow's in-process execution API
        warnings.simplefilter("ignore")
        importlib.import_module("airflow.api_fastapi.execution_api.app")
    db.initdb()
    folder = Path(conf.get("core", "dags_folder"))
    folder.mkdir(parents=True, exist_ok=True)
    dag_file = folder / f"{name}.py"
    dag_file.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, dag_file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_RUN_STARTS = ("POST /api/2.2/jobs/runs/submit", "POST /api/2.2/jobs/run-now")
_RUN_LOOKS = ("GET /api/2.2/jobs/runs/get", "GET /api/2.2/jobs/runs/list")  # a run, or a page of runs


def hold_runs_until_looked_at(state: Any) -> None:
    """The emulator's clock stands still from the first run started until the second read of runs.

    A short simulated run is then still running when the operator first reads it, and the task defers
    (or re-attaches), however long a busy machine takes between the start and that read; from the
    second read on (the trigger's, or the worker's next poll) the clock runs again from where it stood.
    """
    real = state.clock
    held: dict[str, float] = {}

    def clock() -> float:
        requests = state.stats.requests
        if not any(requests.get(start) for start in _RUN_STARTS):
            return float(real())
        if sum(requests.get(look, 0) for look in _RUN_LOOKS) < 2:
            return held.setdefault("at", real())
        held.setdefault("lag", real() - held["at"])
        return float(real()) - held["lag"]

    state.clock = clock


# On Airflow 3.1 (the lowest leg) ``dag.test()`` leaves a socket pair and an event loop behind: a module
# whose tests hold the garbage collector (``collector_held``) ignores, should one of them be freed
# before the collection at the end, only those two reports (the socket pair's by its family).
DAG_TEST_LEAK_WARNINGS = [
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <socket\.socket fd=\d+, family=1"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <function BaseEventLoop\.__del__"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
]


@contextlib.contextmanager
def collector_held() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off, then collect once, here.

    Airflow 3.1's ``dag.test()`` (the lowest leg) leaves an event loop and a socket pair to the
    collector. Their finalizers' reports reach pytest's unraisable hook, which formats a traceback, and
    on Python 3.11 formatting a traceback parses source (``ast.parse``, for the carets). A collection that
    starts inside another parse (one formatting the failing task's traceback, say) thus re-enters the
    parser, and Python 3.11 fails the outer parse with ``SystemError: AST constructor recursion depth
    mismatch``. Held, the collector runs those finalizers here only, where the two ResourceWarnings of
    the leak are the only ones ignored.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "unclosed <socket.socket .*family=1", ResourceWarning)
            warnings.filterwarnings("ignore", "unclosed event loop", ResourceWarning)
            gc.collect()


@dataclass
class FakeStateStore:
    """Airflow 3.3's ``context["task_state_store"]`` of one task instance: it outlives the try."""

    values: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)
