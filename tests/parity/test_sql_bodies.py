"""The SQL statement operator and sensor and the warehouse operators, run by the official classes and ours.

The constructions are those of the official provider's unit tests (7.23.0: ``test_databricks.py``'s
SQL statements tests, ``test_warehouse.py`` and the sensor tests), executed against one emulator of
this module's own (statements on SQLite; warehouse transitions of 0.08 s, a transition a case starts
in held over that case's first two warehouse requests, whatever the machine's load). Compared per case: the
outcome (finished, deferred, or refused), every request in order, and the XCom keys. Requests are
compared as the workspace reads them: a ``null`` field is one left out, statement ids are
placeholders, a warehouse start or stop carries the state the warehouse was in when it arrived, and
repeated polls count once (how many polls a wait takes depends on timing, not on the provider). A
case whose ``differs`` is set must differ (else its note is stale); any other must not.

Waiting is made quick on both sides without changing what is sent: the official classes sleep at most
10 ms between polls (their own tests mock ``time.sleep``), ours poll every 10 ms.
"""

from __future__ import annotations

import inspect
import itertools
import json
import os
import re
import time
import types
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from aiohttp import web
from airflow.providers.databricks.operators import databricks as official_sql
from airflow.providers.databricks.operators import warehouse as official_warehouse
from airflow.providers.databricks.sensors import databricks as official_sensor
from airflow.providers.databricks.utils import mixins as official_mixins

from airflow_dbx_async import operators as ours
from airflow_dbx_async import sensors as ours_sensors
from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer
from airflow_dbx_async.emulator._warehouse_store import add_warehouse, stop_warehouse, warehouse_state
from airflow_dbx_async.triggers import _sql as our_triggers
from tests.compat import TaskDeferred
from tests.parity.conftest import CONN_ENV, ParityTI

pytestmark = pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")

Kind = Literal["statement", "sensor", "start", "stop"]
OFFICIAL: dict[Kind, type] = {
    "statement": official_sql.DatabricksSQLStatementsOperator,
    "sensor": official_sensor.DatabricksSQLStatementsSensor,
    "start": official_warehouse.DatabricksStartWarehouseOperator,
    "stop": official_warehouse.DatabricksStopWarehouseOperator,
}
OURS: dict[Kind, type] = {
    "statement": ours.DatabricksSQLStatementsOperator,
    "sensor": ours_sensors.DatabricksSQLStatementsSensor,
    "start": ours.DatabricksStartWarehouseOperator,
    "stop": ours.DatabricksStopWarehouseOperator,
}
SQL_WAREHOUSE = "warehouse_id"  # the official SQL tests' WAREHOUSE_ID
WAREHOUSE = "wh-1"  # the official warehouse tests' WAREHOUSE_ID
STATEMENT = "select * from test.test;"  # no such table on the emulator: both fail on the answer
QUICK = "SELECT 1"
PARAMETERS = [{"name": "dest", "value": "dest_table"}, {"name": "src", "value": "source_table"}]
_STATEMENT_PATH = re.compile(r"/sql/statements/[0-9a-f-]{36}")
_GIVEN = "<given statement>"
_TRANSITION = re.compile(r"/sql/warehouses/([^/]+)/(?:start|stop)$")

NO_GET_BEFORE_DEFERRING = (
    "ours defers on the first state the submit itself answers (wait_timeout 0s); the official operator "
    "asks GET for it first"
)
SENSOR_WAITS = (
    "the official sensor with deferrable=False returns right after submitting (it never polls); ours "
    "waits in the worker with the trigger's code, as its operator does"
)
START_AFTER_STOP = (
    "the official operator sends the start while the warehouse is STOPPING; ours waits for STOPPED, "
    "then starts it (from the trigger, in the worker with deferrable=False)"
)
DELETED_REFUSED = (
    "ours fails before sending a start to a deleted warehouse; the official operator sends it and "
    "Databricks refuses it"
)


@dataclass(frozen=True)
class SqlCase:
    """One construction, executed by both classes; ``warehouse`` is the warehouse's state first."""

    id: str
    kind: Kind
    kwargs: dict[str, Any]
    differs: str = ""
    warehouse: str | None = None


def _stmt(id: str, differs: str = "", **kwargs: Any) -> SqlCase:
    return SqlCase(id, "statement", {"warehouse_id": SQL_WAREHOUSE, **kwargs}, differs)


def _sensor(id: str, differs: str = "", **kwargs: Any) -> SqlCase:
    return SqlCase(id, "sensor", {"warehouse_id": SQL_WAREHOUSE, **kwargs}, differs)


def _wh(kind: Kind, id: str, state: str, differs: str = "", **kwargs: Any) -> SqlCase:
    return SqlCase(id, kind, {"warehouse_id": WAREHOUSE, **kwargs}, differs, state)


CASES: list[SqlCase] = [
    # DatabricksSQLStatementsOperator (TestDatabricksSQLStatementsOperator)
    _stmt("exec_failure", statement=STATEMENT),
    _stmt("exec_success", statement=QUICK),
    _stmt("no_wait_for_termination", statement=STATEMENT, wait_for_termination=False),
    _stmt("execute_task_deferred", NO_GET_BEFORE_DEFERRING, statement=QUICK, deferrable=True),
    _stmt("parametrized_query", statement="SELECT :dest AS d, :src AS s", parameters=PARAMETERS),
    _stmt("default_catalog_and_schema", statement=QUICK, catalog="default_catalog", schema="default_schema"),
    _stmt(
        "query_tags_passed", statement=QUICK, query_tags={"team": "data"}, include_airflow_query_tags=False
    ),
    _stmt("query_tags_omitted", statement=QUICK, include_airflow_query_tags=False),
    _stmt("airflow_query_tags", statement=QUICK, query_tags={"custom": "value"}),
    _stmt("custom_tags_override", statement=QUICK, query_tags={"airflow_dag_id": "overridden"}),
    _stmt("polling_period_seconds", statement=QUICK, polling_period_seconds=5),
    _stmt("retry_settings", statement=QUICK, databricks_retry_limit=5, databricks_retry_delay=2),
    _stmt("databricks_retry_args", statement=QUICK, databricks_retry_args={"reraise": True}),
    _stmt("do_xcom_push_false", statement=QUICK, do_xcom_push=False),
    _stmt("timeout", statement=QUICK, timeout=600),
    _stmt("databricks_conn_id", statement=QUICK, databricks_conn_id="databricks_default"),
    # DatabricksSQLStatementsSensor (TestDatabricksSQLStatementsSensor)
    _sensor("sensor_exec_success", SENSOR_WAITS, statement=QUICK),
    _sensor("sensor_exec_failure", SENSOR_WAITS, statement=STATEMENT),
    _sensor("sensor_statement_id", SENSOR_WAITS, statement_id=_GIVEN),
    _sensor("sensor_deferred", NO_GET_BEFORE_DEFERRING, statement=QUICK, deferrable=True),
    _sensor("sensor_statement_id_deferred", statement_id=_GIVEN, deferrable=True),
    _sensor("sensor_no_wait", statement=QUICK, wait_for_termination=False),
    _sensor(
        "sensor_query_tags_passed",
        statement=QUICK,
        query_tags={"team": "data"},
        include_airflow_query_tags=False,
        wait_for_termination=False,
    ),
    _sensor(
        "sensor_airflow_query_tags",
        statement=QUICK,
        query_tags={"custom": "value"},
        wait_for_termination=False,
    ),
    _sensor(
        "sensor_settings",
        statement=QUICK,
        catalog="default_catalog",
        schema="default_schema",
        parameters=[{"name": "dest", "value": "dest_table"}],
        databricks_conn_id="databricks_default",
        polling_period_seconds=5,
        databricks_retry_limit=5,
        databricks_retry_delay=2,
        databricks_retry_args={"reraise": True},
        timeout=600,
        wait_for_termination=False,
    ),
    _sensor("sensor_do_xcom_push_false", statement=QUICK, do_xcom_push=False, wait_for_termination=False),
    _sensor("sensor_both_given", statement=QUICK, statement_id=_GIVEN),
    _sensor("sensor_neither_given"),
    _sensor("sensor_both_empty", statement="", statement_id=""),
    SqlCase("sensor_no_warehouse", "sensor", {"warehouse_id": "", "statement": QUICK}),
    # DatabricksStartWarehouseOperator / DatabricksStopWarehouseOperator (test_warehouse.py)
    _wh("start", "starts_then_waits_until_running", "STOPPED", polling_period_seconds=0),
    _wh("start", "skips_start_when_already_running", "RUNNING"),
    _wh("start", "skips_start_when_starting_without_waiting", "STARTING", wait_for_termination=False),
    _wh("start", "starts_while_stopping", "STOPPING", START_AFTER_STOP, polling_period_seconds=0),
    _wh("start", "start_without_waiting", "STOPPED", wait_for_termination=False),
    _wh("start", "start_deferred", "STOPPED", deferrable=True),
    _wh("start", "start_deferred_while_starting", "STARTING", deferrable=True),
    _wh("start", "start_already_running_deferrable", "RUNNING", deferrable=True),
    _wh("start", "start_deleted", "DELETED", DELETED_REFUSED),
    _wh("start", "start_caps_sleep", "STARTING", polling_period_seconds=30, timeout=10),
    _wh(
        "start",
        "start_builds_hook",
        "RUNNING",
        databricks_conn_id="databricks_default",
        databricks_retry_limit=7,
        databricks_retry_delay=4,
    ),
    _wh("start", "start_retry_args", "RUNNING", databricks_retry_args={"reraise": True}),
    _wh("start", "start_empty_warehouse_id", "RUNNING", warehouse_id=""),
    _wh("start", "start_none_warehouse_id", "RUNNING", warehouse_id=None),
    _wh("stop", "stops_then_waits_until_stopped", "RUNNING", polling_period_seconds=0),
    _wh("stop", "skips_stop_when_already_stopped", "STOPPED"),
    _wh("stop", "skips_stop_when_stopping_without_waiting", "STOPPING", wait_for_termination=False),
    _wh("stop", "transition_in_progress", "STOPPING", polling_period_seconds=0),
    _wh("stop", "stop_without_waiting", "RUNNING", wait_for_termination=False),
    _wh("stop", "stop_deferred", "RUNNING", deferrable=True),
    _wh("stop", "stop_empty_warehouse_id", "RUNNING", warehouse_id=""),
    _wh(
        "stop",
        "stop_settings",
        "RUNNING",
        databricks_conn_id="databricks_default",
        timeout=600,
        databricks_retry_limit=5,
        databricks_retry_delay=2,
        databricks_retry_args={"reraise": True},
    ),
]


@dataclass
class Seen:
    """What one class did for one case."""

    outcome: str = "ok"
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    xcom_keys: list[str] = field(default_factory=list)


@dataclass
class Emulated:
    handle: Any
    requests: list[tuple[str, str, Any]]
    given_statement: str = ""
    held: list[int] = field(default_factory=lambda: [0])  # warehouse requests still to see the held state


@pytest.fixture(scope="module")
def sql_workspace() -> Iterator[Emulated]:
    config = EmulatorConfig(warehouses=(SQL_WAREHOUSE,), warehouse_transition_seconds=0.08)
    server = EmulatorServer(config)
    requests: list[tuple[str, str, Any]] = []
    held = [0]

    @web.middleware
    async def record(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        # A start or stop is recorded with the state the warehouse was in when it arrived.
        found = _TRANSITION.search(request.path)
        warehouse = server.state.warehouses.get(found.group(1)) if found else None
        met = {"warehouse_was": warehouse_state(server.state, warehouse)} if warehouse else None
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            if held[0] and f"/sql/warehouses/{WAREHOUSE}" in request.path:
                held[0] -= 1
                if not held[0]:
                    _release(server.state)
            if request.path.startswith("/api/"):
                raw = await request.read()
                body = json.loads(raw) if raw.strip() else met
                requests.append((request.method, request.path, body))

    server.app.middlewares.append(record)
    handle = server.start_in_thread()
    host, port = handle.url.removeprefix("http://").split(":")
    previous = os.environ.get(CONN_ENV)
    conn = {"conn_type": "databricks", "host": host, "port": int(port), "schema": "http"}
    os.environ[CONN_ENV] = json.dumps({**conn, "password": handle.token})
    body = json.dumps({"statement": QUICK, "warehouse_id": SQL_WAREHOUSE, "wait_timeout": "10s"}).encode()
    headers = {"Authorization": f"Bearer {handle.token}", "Content-Type": "application/json"}
    post = urllib.request.Request(f"{handle.url}/api/2.0/sql/statements", body, headers, method="POST")
    with urllib.request.urlopen(post, timeout=10) as answer:  # noqa: S310 - the local emulator
        given = json.loads(answer.read())["statement_id"]
    try:
        yield Emulated(handle, requests, given, held)
    finally:
        handle.stop()
        if previous is None:
            os.environ.pop(CONN_ENV, None)
        else:
            os.environ[CONN_ENV] = previous


@pytest.fixture(autouse=True)
def quick_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both sides poll every 10 ms at most; what they send is unchanged."""
    clock = types.SimpleNamespace(
        time=time.time, monotonic=time.monotonic, sleep=lambda seconds: time.sleep(min(seconds, 0.01))
    )
    monkeypatch.setattr(official_mixins, "time", clock)
    monkeypatch.setattr(official_warehouse, "time", clock)
    monkeypatch.setattr(our_triggers, "steady_delays", lambda period, rng=None: itertools.repeat(0.01))


HELD_REQUESTS = 2  # a first look, then a start, a stop or a second look: all see the transition
_HOLD_MS = 3_600_000


def _prepare(workspace: Emulated, state: str | None) -> None:
    """Put the warehouse in ``state`` for the next side of a case.

    A transition (``STOPPING``, ``STARTING``) is held until the side's first ``HELD_REQUESTS`` requests
    for the warehouse have been answered, then ends 0.08 s later: which state a request meets does not
    depend on how long the machine took between them.
    """
    if state is None:
        return
    emulator = workspace.handle.server.state
    workspace.held[0] = 0
    if state in ("STOPPING", "STARTING"):
        add_warehouse(emulator, {"id": WAREHOUSE}, status="RUNNING" if state == "STOPPING" else "STOPPED")
        warehouse = emulator.warehouses[WAREHOUSE]
        now = emulator.now_ms()
        if state == "STOPPING":
            stop_warehouse(emulator, warehouse)
        else:
            warehouse.timeline += [(now, "STARTING"), (now + 80, "RUNNING")]
        warehouse.timeline = [
            (when + _HOLD_MS if when > now else when, name) for when, name in warehouse.timeline
        ]
        workspace.held[0] = HELD_REQUESTS
    else:
        add_warehouse(emulator, {"id": WAREHOUSE}, status=state)


def _release(emulator: Any) -> None:
    """End the held transition 0.08 s from now (later entries keep their spacing)."""
    warehouse, now = emulator.warehouses[WAREHOUSE], emulator.now_ms()
    future = [when for when, _ in warehouse.timeline if when > now]
    shift = now + 80 - min(future) if future else 0
    warehouse.timeline = [(when + shift if when > now else when, name) for when, name in warehouse.timeline]


def _normalised(method: str, path: str, body: Any, given: str) -> tuple[str, str, Any]:
    path = path.replace(given, _GIVEN)
    path = _STATEMENT_PATH.sub("/sql/statements/<statement id>", path)
    if isinstance(body, dict):
        body = {key: value for key, value in body.items() if value is not None}
    return method, path, body


def _execute(cls: type, case: SqlCase, workspace: Emulated, run_id: str) -> Seen:
    kwargs = {"deferrable": False, **case.kwargs}
    if kwargs.get("statement_id") == _GIVEN:
        kwargs["statement_id"] = workspace.given_statement
    _prepare(workspace, case.warehouse)
    ti = ParityTI(task_id=case.id, run_id=run_id)
    seen = Seen()
    workspace.requests.clear()
    try:
        cls(task_id=case.id, **kwargs).execute({"ti": ti})
    except TaskDeferred:
        seen.outcome = "deferred"
    except Exception as exc:  # a refusal is an outcome to compare, not a test error
        seen.outcome = f"refused ({type(exc).__name__})"
    time.sleep(0.02)  # the recorder writes after the answer
    requests = [_normalised(m, p, b, workspace.given_statement) for m, p, b in workspace.requests]
    seen.requests = [r for i, r in enumerate(requests) if i == 0 or r != requests[i - 1]]
    seen.xcom_keys = [key for key, _ in ti.pushed]
    return seen


def _differences(theirs: Seen, mine: Seen) -> list[str]:
    refused = theirs.outcome.startswith("refused") and mine.outcome.startswith("refused")
    if refused and not (theirs.requests and mine.requests):
        return []  # both refuse, one before any request and one on the answer: the task fails alike
    found = []
    if not refused and theirs.outcome != mine.outcome:
        found.append(f"outcome: official {theirs.outcome} / ours {mine.outcome}")
    if theirs.requests != mine.requests:
        found.append(f"requests: official {theirs.requests} / ours {mine.requests}")
    if theirs.xcom_keys != mine.xcom_keys:
        found.append(f"xcom keys: official {theirs.xcom_keys} / ours {mine.xcom_keys}")
    return found


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}-{c.id}" for c in CASES])
def test_case(case: SqlCase, sql_workspace: Emulated) -> None:
    run_id = f"manual__{uuid.uuid4().hex}"
    theirs = _execute(OFFICIAL[case.kind], case, sql_workspace, run_id)
    mine = _execute(OURS[case.kind], case, sql_workspace, run_id)
    found = _differences(theirs, mine)
    if case.differs:
        assert found, f"documented difference no longer seen (stale note): {case.differs}"
    else:
        assert found == [], "undocumented difference: " + "; ".join(text[:800] for text in found)


@pytest.mark.parametrize("kind", sorted(OFFICIAL))
def test_case_table_covers_every_parameter_of_the_official_class(kind: Kind) -> None:
    cls = OFFICIAL[kind]
    init = next(vars(klass)["__init__"] for klass in cls.__mro__ if "__init__" in vars(klass))
    wanted = {n for n, p in inspect.signature(init).parameters.items() if n not in ("self", "kwargs")}
    used = {name for case in CASES if case.kind == kind for name in case.kwargs} | {"deferrable"}
    assert wanted - used == set()


def _defaults(cls: type) -> dict[str, Any]:
    """Every named parameter of ``cls`` and of its bases up to Airflow's, with its default."""
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("airflow.sdk") or klass is object:
            break
        if "__init__" in vars(klass):
            for name, param in inspect.signature(vars(klass)["__init__"]).parameters.items():
                if name not in ("self", "kwargs"):
                    found.setdefault(name, param.default)
    return found


@pytest.mark.parametrize("kind", sorted(OFFICIAL))
def test_every_official_parameter_default_and_templated_field_is_the_same(kind: Kind) -> None:
    theirs: Any = OFFICIAL[kind]
    mine: Any = OURS[kind]
    official, our = _defaults(theirs), _defaults(mine)
    assert set(official) <= set(our)
    different = {name: (d, our[name]) for name, d in official.items() if our[name] != d}
    assert different == {"deferrable": (False, True)}
    assert tuple(mine.template_fields) == tuple(theirs.template_fields)
    assert tuple(getattr(mine, "template_ext", ())) == tuple(getattr(theirs, "template_ext", ()))
    assert (mine.ui_color, mine.ui_fgcolor) == (theirs.ui_color, theirs.ui_fgcolor)
