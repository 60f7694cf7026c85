"""Fixtures for the reliability and security tests: an emulator, a connection to it, captured logs."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
import structlog

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.triggers import DatabricksRunTrigger
from tests.compat import TaskDeferred
from tests.helpers import FakeTI
from tests.helpers import set_connection as _set_connection

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, MutableMapping

    from airflow_dbx_async.operators._operator_base import DatabricksDeferrableOperatorBase

CONN_ID = "dbx_reliability"
SECRET = "dapi-SECRET-7f3a9c1e5b2d4f6a8c0e"


def set_connection(monkeypatch: pytest.MonkeyPatch, host: str, **fields: Any) -> None:
    """Point ``CONN_ID`` at ``host`` (the secret token is the password unless ``password`` is given)."""
    _set_connection(monkeypatch, host, **{"conn_id": CONN_ID, "password": SECRET, **fields})


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    """A simulated-mode emulator that accepts ``SECRET``, on the test's loop."""
    config = EmulatorConfig(simulate=True, sim_duration_seconds=0.2, tokens=(SECRET,))
    async with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Structured log events emitted during the test."""
    with structlog.testing.capture_logs() as captured:
        yield captured


class LogLines:
    """Every log line of the test so far, structlog and stdlib (the emulator's included), as text."""

    def __init__(self, events: list[MutableMapping[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
        self._events = events
        self._caplog = caplog

    def __call__(self) -> list[str]:
        lines = [json.dumps(event, default=repr) for event in self._events]
        records = self._caplog.records
        return lines + [f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in records]


@pytest.fixture
def all_logs(logs: list[MutableMapping[str, Any]], caplog: pytest.LogCaptureFixture) -> LogLines:
    """Every log line of the test (call it to read them)."""
    caplog.set_level(logging.DEBUG)
    return LogLines(logs, caplog)


def reliability_ti(**fields: Any) -> FakeTI:
    """A task instance of the reliability DAG (``fields`` override)."""
    return FakeTI(**{"dag_id": "reliability", "run_id": "manual__reliability", **fields})


@dataclass
class TryResult:
    """What one task try did: XComs, the trigger kwargs, the trigger events and the errors raised."""

    ti: FakeTI
    trigger_kwargs: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


async def run_try(op: DatabricksDeferrableOperatorBase, clear_number: int = 0, **ti_fields: Any) -> TryResult:
    """One task try as Airflow runs it: ``execute`` in a worker thread, the trigger, ``execute_complete``.

    :param clear_number: the DAG run's clear number (how often it or a task of it was cleared).
    :param ti_fields: task instance fields to set (``run_id``, ``try_number``, ...).
    """
    result = TryResult(reliability_ti(task_id=op.task_id, **ti_fields))
    context: Any = {"ti": result.ti, "dag_run": SimpleNamespace(clear_number=clear_number)}
    try:
        await asyncio.to_thread(op.execute, context)
    except TaskDeferred as deferred:
        _, result.trigger_kwargs = deferred.trigger.serialize()
    except Exception as exc:
        result.errors.append(exc)
    if result.trigger_kwargs is None:
        return result
    trigger = DatabricksRunTrigger(**json.loads(json.dumps(result.trigger_kwargs)))
    result.events = [event.payload async for event in trigger.run()]
    try:  # in a thread, as a resumed worker runs it: outside any event loop
        await asyncio.to_thread(op.execute_complete, context, result.events[0])
    except Exception as exc:
        result.errors.append(exc)
    return result


def exception_texts(exc: BaseException) -> list[str]:
    """str, repr and the formatted traceback of ``exc`` and of every exception chained to it."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return texts
