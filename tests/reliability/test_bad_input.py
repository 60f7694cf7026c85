"""Bad input and bad answers: one clear line naming the field or the cause, and never a crashed trigger.

This completes the catalogue of the Airflow-layer validation tests: connection problems, credentials
the workspace refuses, jobs that do not exist or are ambiguous, templated values that render to
nonsense, runs that disappear while watched and malformed API answers.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from airflow.sdk.exceptions import AirflowException

from airflow_dbx_async.client import ApiError, ConfigurationError, DatabricksError, JobsClient
from airflow_dbx_async.hooks import DatabricksAsyncHook
from airflow_dbx_async.operators import DatabricksRunNowOperator, DatabricksSubmitRunOperator
from airflow_dbx_async.outcome._events import RunEvent
from airflow_dbx_async.outcome._failure_report import short_message
from airflow_dbx_async.triggers import DatabricksRunTrigger
from tests.helpers import async_wait_for, hold_runs_until_looked_at
from tests.reliability.conftest import CONN_ID, SECRET, reliability_ti, run_try, set_connection

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from airflow_dbx_async.emulator import EmulatorServer

NB = {"notebook_path": "/Shared/bad-input"}


def _one_line(text: str, *needles: str) -> None:
    assert "\n" not in text, text
    assert SECRET not in text
    for needle in needles:
        assert needle in text, text


def _trigger(run_id: int = 1, **kwargs: Any) -> DatabricksRunTrigger:
    params: dict[str, Any] = {"run_id": run_id, "databricks_conn_id": CONN_ID, "retry_limit": 1}
    params.update({"polling_period_seconds": 0.05, "retry_delay": 0.0, **kwargs})
    return DatabricksRunTrigger(**params)


async def _events(trigger: DatabricksRunTrigger) -> list[RunEvent]:
    return [RunEvent.from_payload(event.payload) async for event in trigger.run()]


async def _error_event(trigger: DatabricksRunTrigger, *needles: str) -> None:
    """The trigger ends with exactly one ``error`` event whose reason and task message are one line."""
    events = await asyncio.wait_for(_events(trigger), 20)
    assert [e.status for e in events] == ["error"]
    _one_line(events[0].reason, *needles)
    _one_line(short_message(events[0]), *needles)


def _run_now(**kwargs: Any) -> DatabricksRunNowOperator:
    return DatabricksRunNowOperator(task_id="run_now", databricks_conn_id=CONN_ID, **kwargs)


# -- connection ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unknown_connection_fails_the_task_and_ends_the_trigger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)
    result = await run_try(_run_now(job_id=5))
    (error,) = result.errors
    assert isinstance(error, ConfigurationError)
    assert error.field == "databricks_conn_id"
    _one_line(str(error), CONN_ID, "is not defined")
    await _error_event(_trigger(), "databricks_conn_id", CONN_ID)


@pytest.mark.asyncio
async def test_host_without_scheme_means_https(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, "adb-123.azuredatabricks.net")
    assert DatabricksAsyncHook(CONN_ID).get_config().base_url == "https://adb-123.azuredatabricks.net"
    # The emulator speaks plain http: a scheme-less host gets https and a TLS error, not a hang.
    set_connection(monkeypatch, emulator.url.removeprefix("http://"))
    result = await run_try(_run_now(job_id=5, databricks_retry_limit=1))
    (error,) = result.errors
    assert isinstance(error, DatabricksError)
    _one_line(str(error), "POST /api/2.2/jobs/run-now failed")
    assert "SSL" in str(error) or "ssl" in str(error)


# -- credentials -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_wrong_token_403(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, emulator.url, password="dapi-not-the-right-one-000000")
    result = await run_try(_run_now(job_id=5))
    (error,) = result.errors
    assert isinstance(error, ApiError)
    assert error.status == 403
    _one_line(str(error), "403", "Invalid access token")
    await _error_event(_trigger(), "403", "Invalid access token")


async def _unauthenticated(request: web.Request) -> web.Response:
    body = {"error_code": "401", "message": "Credential was not sent or was of an unsupported type."}
    return web.json_response(body, status=401)


@pytest.mark.asyncio
async def test_wrong_token_401(monkeypatch: pytest.MonkeyPatch) -> None:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _unauthenticated)
    async with TestServer(app, host="127.0.0.1") as server:
        set_connection(monkeypatch, str(server.make_url("")).rstrip("/"))
        result = await run_try(_run_now(job_id=5))
        await _error_event(_trigger(), "401", "Credential was not sent")
    (error,) = result.errors
    assert isinstance(error, ApiError)
    assert error.status == 401
    _one_line(str(error), "401", "POST /api/2.2/jobs/run-now")


# -- jobs ------------------------------------------------------------------------------------------


async def _add_job(url: str, job_id: int, name: str) -> None:
    body = {"job_id": job_id, "settings": {"name": name, "tasks": [{"task_key": "a", "notebook_task": NB}]}}
    async with aiohttp.ClientSession() as session, session.post(f"{url}/_emulator/jobs", json=body) as answer:
        assert answer.status == 200


@pytest.mark.asyncio
async def test_unknown_job_id(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, emulator.url)
    result = await run_try(_run_now(job_id=424242))
    (error,) = result.errors
    _one_line(str(error), "Job 424242 does not exist", "run-now")
    assert emulator.state.runs == {}


@pytest.mark.asyncio
@pytest.mark.parametrize(("jobs", "needle"), [(0, "no Databricks job is named"), (2, "2 Databricks jobs")])
async def test_job_name_matching_zero_or_several_jobs(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, jobs: int, needle: str
) -> None:
    set_connection(monkeypatch, emulator.url)
    for job_id in range(1, jobs + 1):
        await _add_job(emulator.url, job_id, "nightly")
    result = await run_try(_run_now(job_name="nightly"))
    (error,) = result.errors
    assert isinstance(error, ConfigurationError)
    assert error.field == "job_name"
    _one_line(str(error), "job_name: ", needle)
    assert emulator.state.runs == {}


# -- templated values ------------------------------------------------------------------------------

TEMPLATED: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    ({"job_id": "{{ params.job }}"}, {"job": "abc"}, "job_id"),
    ({"job_id": "{{ params.job }}"}, {"job": "-3"}, "job_id"),
    ({"job_id": 5, "notebook_params": "{{ params.np }}"}, {"np": "a=b"}, "notebook_params"),
    ({"job_id": 5, "python_params": "{{ params.pp }}"}, {"pp": "x" * 10_001}, "python_params"),
    ({"json": "{{ params.body }}"}, {"body": "{'job_id': 5, 'jar_params': 'x'}"}, "jar_params"),
]


@pytest.mark.parametrize(("kwargs", "params", "field"), TEMPLATED)
def test_invalid_templated_values_name_the_field(
    kwargs: dict[str, Any], params: dict[str, Any], field: str
) -> None:
    op = _run_now(**kwargs)
    op.render_template_fields({"params": params})
    with pytest.raises(ConfigurationError) as raised:
        op.build_payload()
    assert raised.value.field == field
    _one_line(str(raised.value), f"{field}: ")


def test_invalid_templated_submit_timeout_names_the_field() -> None:
    templated: dict[str, Any] = {"timeout_seconds": "{{ params.t }}"}
    op = DatabricksSubmitRunOperator(
        task_id="submit", databricks_conn_id=CONN_ID, notebook_task=NB, **templated
    )
    op.render_template_fields({"params": {"t": "soon"}})
    with pytest.raises(ConfigurationError) as raised:
        op.build_payload()
    assert raised.value.field == "timeout_seconds"
    _one_line(str(raised.value), "timeout_seconds: ")


# -- runs that disappear ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_run_deleted_while_polled(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, logs: list[MutableMapping[str, Any]]
) -> None:
    set_connection(monkeypatch, emulator.url)
    hook = DatabricksAsyncHook(CONN_ID)
    body = {
        "run_name": "doomed",
        "tasks": [{"task_key": "a", "notebook_task": NB, "sim_duration_seconds": 30}],
    }
    async with JobsClient(await hook.aget_config()) as client:
        run_id = await client.submit_run(body)
    watching = asyncio.ensure_future(_events(_trigger(run_id, polling_period_seconds=0.2)))
    await async_wait_for(  # the trigger has seen the run going
        "the trigger to see the run going",
        lambda: any("is RUNNING" in str(e["event"]) or "is PENDING" in str(e["event"]) for e in logs),
        seconds=10,
        interval=0.02,
    )
    async with aiohttp.ClientSession() as session, session.post(f"{emulator.url}/_emulator/reset") as answer:
        assert answer.status == 200
    (event,) = await asyncio.wait_for(watching, 20)
    assert event.status == "error"
    _one_line(event.reason, f"Run {run_id} does not exist")


@pytest.mark.asyncio
async def test_runs_get_400_does_not_exist(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, emulator.url)
    await _error_event(_trigger(777_000_111), "400", "Run 777000111 does not exist")


# -- malformed answers -----------------------------------------------------------------------------

Answer = tuple[int, str, str]  # status, body, content type
JSON = "application/json"


def _state(lcs: str, result: str | None = None) -> Answer:
    state = {"life_cycle_state": lcs, **({"result_state": result} if result else {})}
    return 200, json.dumps({"run_id": 1, "state": state}), JSON


class ScriptedWorkspace:
    """runs/get answers from a script (the last answer repeats); runs/list always lists nothing."""

    def __init__(self, script: list[Answer]) -> None:
        self.script = list(script)
        self.gets = 0
        self.cancelled: list[int] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/{version}/jobs/runs/list", self._list)
        app.router.add_get("/api/{version}/jobs/runs/get", self._get)
        app.router.add_post("/api/{version}/jobs/runs/cancel", self._cancel)
        return app

    async def _cancel(self, request: web.Request) -> web.Response:
        self.cancelled.append(int((await request.json())["run_id"]))
        return web.json_response({})

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"runs": []})

    async def _get(self, request: web.Request) -> web.Response:
        self.gets += 1
        status, body, content_type = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return web.Response(status=status, text=body, content_type=content_type)


async def _watch_scripted(
    monkeypatch: pytest.MonkeyPatch, script: list[Answer], **trigger: Any
) -> tuple[list[RunEvent], int]:
    events, fake = await _watch_fake(monkeypatch, script, **trigger)
    return events, fake.gets


async def _watch_fake(
    monkeypatch: pytest.MonkeyPatch, script: list[Answer], **trigger: Any
) -> tuple[list[RunEvent], ScriptedWorkspace]:
    fake = ScriptedWorkspace(script)
    async with TestServer(fake.app(), host="127.0.0.1") as server:
        set_connection(monkeypatch, str(server.make_url("")).rstrip("/"))
        events = await asyncio.wait_for(_events(_trigger(1, **trigger)), 20)
    return events, fake


HTML_PAGE = "<html><head><title>Access denied by proxy</title></head><body><h1>403</h1></body></html>"
MALFORMED: list[tuple[str, list[Answer], tuple[str, ...]]] = [
    ("html error page", [(403, HTML_PAGE, "text/html")], ("403", "Access denied by proxy")),
    ("empty error body", [(400, "", JSON)], ("400", "empty body")),
    (
        "non-JSON 200",
        [(200, "OK, all good", "text/plain")],
        ("HTTP 200", "not a JSON object", "OK, all good"),
    ),
    ("JSON array 200", [(200, "[1, 2]", JSON)], ("HTTP 200", "not a JSON object")),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("case", "script", "needles"), MALFORMED, ids=[c[0] for c in MALFORMED])
async def test_malformed_answers_end_in_one_error_event(
    monkeypatch: pytest.MonkeyPatch, case: str, script: list[Answer], needles: tuple[str, ...]
) -> None:
    events, gets = await _watch_scripted(monkeypatch, script)
    assert [e.status for e in events] == ["error"]
    _one_line(events[0].reason, *needles)
    _one_line(short_message(events[0]), *needles)
    assert gets == 1


@pytest.mark.asyncio
async def test_transient_html_502_from_a_proxy_keeps_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    page = "<html><title>502 Bad Gateway</title></html>"
    script = [(502, page, "text/html"), (502, page, "text/html"), _state("TERMINATED", "SUCCESS")]
    events, gets = await _watch_scripted(monkeypatch, script)
    assert [e.status for e in events] == ["success"]
    assert gets == 3


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("odd", "shown"),
    [(_state("WARP_SPEED"), "unrecognised life_cycle_state 'WARP_SPEED'"), ((200, "", JSON), "'<missing>'")],
    ids=["unknown life_cycle_state", "empty 200 body"],
)
async def test_unknown_state_keeps_polling_and_is_logged_once(
    monkeypatch: pytest.MonkeyPatch, logs: list[MutableMapping[str, Any]], odd: Answer, shown: str
) -> None:
    # Decision: a state this version does not know is neither success nor failure. The trigger says
    # so once and keeps polling (bounded by the task's execution_timeout), as for a new Databricks state.
    script = [odd, odd, _state("TERMINATED", "SUCCESS")]
    events, gets = await _watch_scripted(monkeypatch, script)
    assert [e.status for e in events] == ["success"]
    assert gets == 3
    lines = [str(e["event"]) for e in logs]
    assert sum(shown in line for line in lines) == 1, lines


# -- idempotency tokens ----------------------------------------------------------------------------
# Databricks answers a submit carrying a used token with the run that holds it, without comparing the
# request (docs/emulator.md, "Idempotency"), so the operator checks the run it gets back.


def _submit(task_id: str, **kwargs: Any) -> DatabricksSubmitRunOperator:
    if "json" not in kwargs:
        kwargs["notebook_task"] = NB
    return DatabricksSubmitRunOperator(
        task_id=task_id, databricks_conn_id=CONN_ID, polling_period_seconds=0.05, **kwargs
    )


def _collided(result: Any, token: str, run_id: int, why: str) -> None:
    (error,) = result.errors
    assert isinstance(error, AirflowException)
    assert isinstance(error, ConfigurationError)
    assert error.field == "idempotency_token"
    _one_line(str(error), f"idempotency_token: {token!r} already belongs to Databricks run {run_id} ({why})")
    assert result.trigger_kwargs is None
    assert result.ti.pushed == []


@pytest.mark.asyncio
async def test_token_shared_by_two_tasks_fails_the_second(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, emulator.url)
    first = await run_try(_submit("extract", idempotency_token="shared-token"))
    assert first.errors == []
    (run_id,) = emulator.state.runs
    second = await run_try(_submit("load", idempotency_token="shared-token"))
    _collided(second, "shared-token", run_id, "it is named 'extract', not 'load'")
    assert list(emulator.state.runs) == [run_id]


@pytest.mark.asyncio
async def test_static_token_on_a_daily_dag_fails_the_next_day(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, emulator.url)
    day1 = await run_try(_submit("daily", idempotency_token="daily-token"), run_id="scheduled__day1")
    assert day1.errors == []
    (run_id,) = emulator.state.runs
    day2 = await run_try(_submit("daily", idempotency_token="daily-token"), run_id="scheduled__day2")
    why = "it started before this task try and has already finished"
    _collided(day2, "daily-token", run_id, why)


@pytest.mark.asyncio
async def test_run_now_token_of_another_job_fails(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, emulator.url)
    await _add_job(emulator.url, 5, "five")
    await _add_job(emulator.url, 6, "six")
    first = await run_try(_run_now(job_id=5, idempotency_token="job-token", polling_period_seconds=0.05))
    assert first.errors == []
    (run_id,) = emulator.state.runs
    second = await run_try(_run_now(job_id=6, idempotency_token="job-token"))
    _collided(second, "job-token", run_id, "it runs job 5, not job 6")


@pytest.mark.asyncio
async def test_retry_reattaches_to_its_still_running_run(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, emulator.url)
    hold_runs_until_looked_at(emulator.state)
    body = {"run_name": "t", "tasks": [{"task_key": "a", "notebook_task": NB, "sim_duration_seconds": 1}]}
    lost = _submit("t", json=body, idempotency_token="retry-token", wait_for_termination=False)
    assert (await run_try(lost)).errors == []  # the try whose worker died after submitting
    (run_id,) = emulator.state.runs
    retry = await run_try(_submit("t", json=body, idempotency_token="retry-token"), try_number=2)
    assert retry.errors == []
    assert retry.trigger_kwargs is not None
    assert retry.trigger_kwargs["run_id"] == run_id
    assert [event["status"] for event in retry.events] == ["success"]
    assert list(emulator.state.runs) == [run_id]


# -- values Databricks refuses, refused before any request -----------------------------------------
# Parameter maps are string-to-string (Databricks SDK for JavaScript, ``NotebookTask.baseParameters:
# Record<string, string>``, https://databricks.github.io/sdk-js/api/interfaces/_databricks_sdk-jobs.v2.NotebookTask.html);
# library entries and dependencies follow ``compute.Library`` and ``jobs.TaskDependency`` of databricks-sdk;
# ``timeout_seconds`` is an int32 and ``job_id`` an int64.

JOB_AND_RETRY = "; Databricks parameters are strings, so pass json.dumps(...) of it and parse it in the task"
IS_NONE = 'is None; Databricks wants a string value (use "" for an empty one)'
TASKS_AB = [{"task_key": "a", "notebook_task": NB}, {"task_key": "b", "notebook_task": NB}]


def _tasks(*deps: Any) -> dict[str, Any]:
    """Tasks a, b, c with the given ``depends_on`` values (``None`` for none)."""
    tasks = [{"task_key": key, "notebook_task": NB} for key in "abc"]
    for task, dep in zip(tasks, deps, strict=False):
        if dep is not None:
            task["depends_on"] = dep
    return {"tasks": tasks}


RUN_NOW_REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"notebook_params": {"cfg": {"a": 1}}}, "notebook_params.cfg", "is a dict" + JOB_AND_RETRY),
    ({"notebook_params": {"days": [1, 2]}}, "notebook_params.days", "is a list" + JOB_AND_RETRY),
    ({"notebook_params": {"day": None}}, "notebook_params.day", IS_NONE),
    ({"job_parameters": {"cfg": {"a": 1}}}, "job_parameters.cfg", "is a dict" + JOB_AND_RETRY),
    ({"job_parameters": {"when": None}}, "job_parameters.when", IS_NONE),
    ({"job_parameters": {"ids": (1, 2)}}, "job_parameters.ids", "is a list" + JOB_AND_RETRY),
    ({"python_named_params": {"x": ["a"]}}, "python_named_params.x", "is a list" + JOB_AND_RETRY),
    ({"sql_params": {"x": None}}, "sql_params.x", IS_NONE),
    ({"job_id": "5.0"}, "job_id", "must be an integer from 1 to 9223372036854775807, got '5.0'"),
    ({"job_id": 2**63}, "job_id", f"must be an integer from 1 to 9223372036854775807, got '{2**63}'"),
    ({"job_id": True}, "job_id", "must be an integer from 1 to 9223372036854775807, got True"),
    ({"job_id": " "}, "job_id", "must be an integer from 1 to 9223372036854775807, got ' '"),
]
INT32 = "must be an integer from 0 to 2147483647"
SUBMIT_REFUSED: list[tuple[dict[str, Any], str, str]] = [
    (
        {"notebook_task": {**NB, "base_parameters": {"cfg": {"a": 1}}}},
        "notebook_task.base_parameters.cfg",
        "is a dict" + JOB_AND_RETRY,
    ),
    ({"notebook_task": {**NB, "base_parameters": {"d": None}}}, "notebook_task.base_parameters.d", IS_NONE),
    (
        {"tasks": [{"task_key": "a", "notebook_task": {**NB, "base_parameters": {"d": [1]}}}]},
        "tasks[0].notebook_task.base_parameters.d",
        "is a list" + JOB_AND_RETRY,
    ),
    (
        {
            "json": {
                "python_wheel_task": {
                    "package_name": "p",
                    "entry_point": "m",
                    "named_parameters": {"n": None},
                }
            }
        },
        "python_wheel_task.named_parameters.n",
        IS_NONE,
    ),
    (
        {"tasks": [{"task_key": "a", "run_job_task": {"job_id": 5, "job_parameters": {"p": {"q": 1}}}}]},
        "tasks[0].run_job_task.job_parameters.p",
        "is a dict" + JOB_AND_RETRY,
    ),
    ({"notebook_task": NB, "timeout_seconds": 2**31}, "timeout_seconds", f"{INT32}, got '2147483648'"),
    ({"notebook_task": NB, "timeout_seconds": "1e9"}, "timeout_seconds", f"{INT32}, got '1e9'"),
    ({"notebook_task": NB, "timeout_seconds": 60.5}, "timeout_seconds", f"{INT32}, got '60.5'"),
    (
        {"tasks": [{"task_key": "a", "notebook_task": NB, "timeout_seconds": -1}]},
        "tasks[0].timeout_seconds",
        f"{INT32}, got '-1'",
    ),
    (
        {"notebook_task": NB, "libraries": ["numpy"]},
        "libraries[0]",
        "must be a mapping such as {'pypi': {'package': 'x'}}, got 'numpy'",
    ),
    (
        {"notebook_task": NB, "libraries": [{}]},
        "libraries[0]",
        "names no library; give one of jar, egg, whl, pypi, maven, cran, requirements",
    ),
    (
        {"notebook_task": NB, "libraries": [{"pip": "numpy"}]},
        "libraries[0]",
        "names no library; give one of jar, egg, whl, pypi, maven, cran, requirements",
    ),
    (
        {"notebook_task": NB, "libraries": [{"pypi": "numpy"}]},
        "libraries[0].pypi.package",
        "is required (a non-empty string)",
    ),
    (
        {"notebook_task": NB, "libraries": [{"maven": {"coords": "a:b:1"}}]},
        "libraries[0].maven.coordinates",
        "is required (a non-empty string)",
    ),
    (
        {"notebook_task": NB, "libraries": [{"whl": ""}]},
        "libraries[0].whl",
        "must be a non-empty path or URI, got ''",
    ),
    (
        {"tasks": [{"task_key": "a", "notebook_task": NB, "libraries": [{"cran": {"package": ""}}]}]},
        "tasks[0].libraries[0].cran.package",
        "is required (a non-empty string)",
    ),
    (_tasks(None, "a"), "tasks[1].depends_on", 'must be a list such as [{"task_key": "upstream"}]'),
    (
        _tasks(None, ["a"]),
        "tasks[1].depends_on[0]",
        'must be a mapping such as {"task_key": "upstream"}, got \'a\'',
    ),
    (
        _tasks(None, [{"task": "a"}]),
        "tasks[1].depends_on[0]",
        "must be a mapping such as {\"task_key\": \"upstream\"}, got {'task': 'a'}",
    ),
    (
        _tasks(None, [{"task_key": "z"}]),
        "tasks[1].depends_on[0]",
        "names task_key 'z', which is not in tasks",
    ),
    (_tasks([{"task_key": "a"}]), "tasks[0].depends_on", "forms a cycle: a -> a"),
    (_tasks([{"task_key": "b"}], [{"task_key": "a"}]), "tasks[1].depends_on", "forms a cycle: a -> b -> a"),
    (
        _tasks([{"task_key": "c"}], [{"task_key": "a"}], [{"task_key": "b"}]),
        "tasks[1].depends_on",
        "forms a cycle: a -> c -> b -> a",
    ),
]
KNOBS_REFUSED: list[tuple[dict[str, Any], str, str]] = [
    (
        {"polling_period_seconds": float("nan")},
        "polling_period_seconds",
        "must be a finite number >= 0, got nan",
    ),
    (
        {"polling_period_seconds": float("inf")},
        "polling_period_seconds",
        "must be a finite number >= 0, got inf",
    ),
    (
        {"databricks_retry_delay": float("nan")},
        "databricks_retry_delay",
        "must be a finite number >= 0, got nan",
    ),
    (
        {"databricks_retry_delay": float("-inf")},
        "databricks_retry_delay",
        "must be a finite number >= 0, got -inf",
    ),
    ({"databricks_retry_limit": 2.5}, "databricks_retry_limit", "must be a whole number >= 1, got 2.5"),
    (
        {"databricks_retry_limit": float("nan")},
        "databricks_retry_limit",
        "must be a whole number >= 1, got nan",
    ),
]


def _refused(build: Any, field: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        build()
    assert isinstance(raised.value, AirflowException)
    assert raised.value.field == field
    assert str(raised.value) == f"{field}: {message}"
    _one_line(str(raised.value))


def _nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """No connection at all: any request would fail naming databricks_conn_id, not the field."""
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)


@pytest.mark.parametrize(("kwargs", "field", "message"), RUN_NOW_REFUSED)
def test_run_now_values_databricks_refuses(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], field: str, message: str
) -> None:
    _nowhere(monkeypatch)
    op = _run_now(**{"job_id": 5, **kwargs})
    ctx: Any = {"ti": reliability_ti(task_id="run_now")}
    _refused(lambda: op.execute(ctx), field, message)


@pytest.mark.parametrize(("kwargs", "field", "message"), SUBMIT_REFUSED)
def test_submit_values_databricks_refuses(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], field: str, message: str
) -> None:
    _nowhere(monkeypatch)
    op = DatabricksSubmitRunOperator(task_id="submit", databricks_conn_id=CONN_ID, **kwargs)
    ctx: Any = {"ti": reliability_ti(task_id="submit")}
    _refused(lambda: op.execute(ctx), field, message)


@pytest.mark.parametrize(("kwargs", "field", "message"), KNOBS_REFUSED)
def test_numbers_that_are_not_numbers(kwargs: dict[str, Any], field: str, message: str) -> None:
    _refused(lambda: _run_now(job_id=5, **kwargs), field, message)


@pytest.mark.parametrize("job_id", [" 5 ", "5\n", "٥", "05", 5])
def test_job_id_is_sent_normalised(job_id: Any) -> None:
    assert _run_now(job_id=job_id).build_payload()["job_id"] == "5"


def test_parameter_values_are_sent_as_strings() -> None:
    params = {"flag": True, "off": False, "n": 3, "x": 1.5, "s": "text"}
    sent = _run_now(job_id=5, notebook_params=params, json={"job_parameters": None}).build_payload()
    assert sent["notebook_params"] == {"flag": "true", "off": "false", "n": "3", "x": "1.5", "s": "text"}
    nb = {**NB, "base_parameters": {"flag": True, "n": 3}}
    body = DatabricksSubmitRunOperator(task_id="s", notebook_task=nb, libraries=[{"pypi": {"package": "a"}}])
    assert body.build_payload()["notebook_task"]["base_parameters"] == {"flag": "true", "n": "3"}


def test_dependencies_in_order_are_accepted() -> None:
    op = DatabricksSubmitRunOperator(task_id="s", **_tasks(None, [{"task_key": "a"}], [{"task_key": "b"}]))
    assert [t.get("depends_on") for t in op.build_payload()["tasks"]] == [
        None,
        [{"task_key": "a"}],
        [{"task_key": "b"}],
    ]


# -- connection settings ---------------------------------------------------------------------------

FLAG = "must be true or false, got"
FINITE = "must be a finite number > 0, got"
CONTROL = "of connection 'dbx_reliability' contains a control character (value not shown); remove it"
CONNECTION_REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"extra": {"verify_tls": "nope"}}, "verify_tls", f"{FLAG} 'nope'"),
    ({"extra": {"verify_tls": "ture"}}, "verify_tls", f"{FLAG} 'ture'"),
    ({"extra": {"verify_tls": "enabled"}}, "verify_tls", f"{FLAG} 'enabled'"),
    ({"extra": {"verify_tls": 2}}, "verify_tls", f"{FLAG} 2"),
    ({"extra": {"verify_tls": None}}, "verify_tls", f"{FLAG} None"),
    ({"extra": {"allow_insecure_http": "maybe"}}, "allow_insecure_http", f"{FLAG} 'maybe'"),
    ({"extra": {"service_principal_oauth": "yes please"}}, "service_principal_oauth", f"{FLAG} 'yes please'"),
    ({"extra": {"timeout_seconds": "nan"}}, "timeout_seconds", f"{FINITE} nan"),
    ({"extra": {"timeout_seconds": "inf"}}, "timeout_seconds", f"{FINITE} inf"),
    ({"extra": '{"timeout_seconds": NaN}'}, "timeout_seconds", f"{FINITE} nan"),
    ({"extra": {"timeout_seconds": "-1"}}, "timeout_seconds", f"{FINITE} -1.0"),
    ({"extra": {"timeout_seconds": True}}, "timeout_seconds", f"{FINITE} True"),
    ({"extra": {"max_requests_per_second": "nan"}}, "max_requests_per_second", f"{FINITE} nan"),
    ({"extra": '{"max_requests_per_second": Infinity}'}, "max_requests_per_second", f"{FINITE} inf"),
    ({"password": "dapi-1\r\nX-Injected: 1"}, "password", f"the password {CONTROL}"),
    ({"password": "dapi\x07bell"}, "password", f"the password {CONTROL}"),
    ({"password": "", "extra": {"token": "dapi\tx"}}, "token", f"the token {CONTROL}"),
    ({"login": "me\nyou", "password": "pw"}, "login", f"the login {CONTROL}"),
    (
        {"host": f"https://user:{SECRET}@example.cloud.databricks.com/login"},
        "host",
        "expected a bare workspace URL, got a path in 'https://***@example.cloud.databricks.com/login'",
    ),
    (
        {"host": f"https://user:{SECRET}@example.cloud.databricks.com:99999"},
        "port",
        "invalid port in 'https://***@example.cloud.databricks.com:99999'",
    ),
]


def _connection(monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any]) -> None:
    fields = dict(fields)
    if isinstance(fields.get("extra"), dict):
        fields["extra"] = json.dumps(fields["extra"])
    set_connection(monkeypatch, fields.pop("host", "https://example.cloud.databricks.com"), **fields)


@pytest.mark.parametrize(("fields", "field", "message"), CONNECTION_REFUSED)
def test_connection_settings_refused(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], field: str, message: str
) -> None:
    _connection(monkeypatch, fields)
    _refused(DatabricksAsyncHook(CONN_ID).get_config, field, message)


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"retry_limit": 2.5}, "databricks_retry_limit", "must be a whole number >= 1, got 2.5"),
        ({"retry_delay": float("inf")}, "databricks_retry_delay", "must be a finite number >= 0, got inf"),
    ],
)
def test_hook_retry_settings_refused(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], field: str, message: str
) -> None:
    _connection(monkeypatch, {})
    _refused(DatabricksAsyncHook(CONN_ID, **kwargs).get_config, field, message)


@pytest.mark.parametrize(
    ("value", "verify"),
    [(False, False), ("false", False), (" Off ", False), (0, False), ("0", False), ("TRUE", True), (1, True)],
)
def test_boolean_extras_accept_the_usual_spellings(
    monkeypatch: pytest.MonkeyPatch, value: Any, verify: bool
) -> None:
    _connection(monkeypatch, {"extra": {"verify_tls": value}})
    assert DatabricksAsyncHook(CONN_ID).get_config().verify_tls is verify


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "fields",
    [{"password": f"{SECRET}\n"}, {"password": "", "extra": json.dumps({"token": f"  {SECRET}\r\n"})}],
    ids=["password", "extra token"],
)
async def test_token_read_from_a_secret_file_works(
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: Any,
    fields: dict[str, Any],
) -> None:
    set_connection(monkeypatch, emulator.url, **fields)
    hold_runs_until_looked_at(emulator.state)
    result = await run_try(_submit("from_file"))
    assert result.errors == []
    assert [event["status"] for event in result.events] == ["success"]
    source = "extra 'token'" if "extra" in fields else "password"
    used = f"Databricks connection '{CONN_ID}': using the personal access token from {source}"
    lines = all_logs()
    assert any(used in line for line in lines), lines
    assert not any(SECRET in line for line in lines)


def test_userinfo_in_the_host_is_never_sent_or_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(monkeypatch, {"host": f"https://user:{SECRET}@example.cloud.databricks.com"})
    config = DatabricksAsyncHook(CONN_ID).get_config()
    assert config.base_url == "https://example.cloud.databricks.com"
    assert SECRET not in repr(config)


@pytest.mark.asyncio
async def test_connection_errors_are_airflow_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)
    with pytest.raises(AirflowException):
        DatabricksAsyncHook(CONN_ID).get_config()
    _connection(monkeypatch, {"extra": {"verify_tls": "nope"}})
    with pytest.raises(AirflowException):
        await DatabricksAsyncHook(CONN_ID).aget_config()


# -- when the trigger stops watching ---------------------------------------------------------------
# Decision: an ``error`` event fails the task, so with cancel_on_kill=True the trigger cancels the
# run first (as when the task is killed) instead of leaving it running unwatched. A run that does not
# exist is not cancelled, and cancel_on_kill=False leaves the run alone.

NOT_JSON = (200, "[1, 2]", JSON)


@pytest.mark.asyncio
async def test_error_event_cancels_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    events, fake = await _watch_fake(monkeypatch, [_state("RUNNING"), NOT_JSON])
    assert [e.status for e in events] == ["error"]
    assert fake.cancelled == [1]
    _one_line(events[0].reason, "the run was cancelled; ApiError: Databricks API error 200 INVALID_RESPONSE")
    _one_line(short_message(events[0]), "Could not watch Databricks run 1: the run was cancelled; ApiError")


@pytest.mark.asyncio
async def test_error_event_leaves_the_run_with_cancel_on_kill_false(monkeypatch: pytest.MonkeyPatch) -> None:
    events, fake = await _watch_fake(monkeypatch, [_state("RUNNING"), NOT_JSON], cancel_on_kill=False)
    assert [e.status for e in events] == ["error"]
    assert fake.cancelled == []
    _one_line(events[0].reason, "the run was left running (cancel_on_kill=False); ApiError")


@pytest.mark.asyncio
async def test_error_event_for_a_missing_run_cancels_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    gone = (
        400,
        json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": "Run 1 does not exist."}),
        JSON,
    )
    events, fake = await _watch_fake(monkeypatch, [gone])
    assert fake.cancelled == []
    assert events[0].reason.startswith("NotFound: Databricks API error 400"), events[0].reason


class _Jump:
    """A monotonic clock that jumps ``step`` seconds at each reading."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.mark.asyncio
async def test_giving_up_names_the_workspace_not_a_private_class(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = (503, json.dumps({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}), JSON)
    fake = ScriptedWorkspace([busy])
    async with TestServer(fake.app(), host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        set_connection(monkeypatch, url)
        trigger = _trigger(1)
        trigger._monotonic = _Jump(200.0)  # each transient error is 200 s after the previous one
        (event,) = await asyncio.wait_for(_events(trigger), 20)
    assert fake.cancelled == [1]
    assert "_" not in event.reason.split(";", 1)[1].split("(", 1)[0], event.reason  # no private name
    _one_line(event.reason, f"the run was cancelled; no answer from {url} for over 300 s (last error: ")
    _one_line(short_message(event), f"no answer from {url} for over 300 s")


@pytest.mark.parametrize("cut", [90, 118, 140])
def test_a_long_error_line_is_cut_between_words(cut: int) -> None:
    host = "adb-1234567890123456.7.azuredatabricks.net"
    reason = "x" * cut + f" Cannot connect to host {host}:443 ssl:default [Connect call failed]"
    line = short_message(RunEvent(status="error", run_id=1, run_page_url="", reason=reason))
    assert f"{host}:443" in line or host[:4] not in line, line
    assert line.endswith(" ...")
