"""A tiny scripted Databricks Jobs API for the Airflow-layer tests, following the API contract.

Each run follows a scripted list of states, one step per observation: a ``runs/get`` answer or an
entry in a ``runs/list`` page. ``runs/list`` behaves as the reference describes it
(https://docs.databricks.com/api/workspace/jobs/listruns): every run of the workspace unless
``job_id`` is given, newest first, ``active_only``/``completed_only``, ``start_time_from``/``_to``,
pages of at most 25 with ``next_page_token``, and no ``tasks`` unless ``expand_tasks``. Runs can be
hidden from the list (``FakeRun.listed``, or ``FakeDatabricks.list_visible`` for all) to exercise a
trigger's ``runs/get`` fallback. Faults can be queued per endpoint. ``ThreadedServer`` serves the
app from its own thread and loop, for synchronous tests (the operator runs the client through
``async_to_sync``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "dapi-test-secret-0123456789"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def state(lcs: str, result: str | None = None, message: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"life_cycle_state": lcs, "state_message": message}
    if result is not None:
        body["result_state"] = result
    return body


SUCCESS_SCRIPT = [
    state("PENDING", message="Waiting for cluster"),
    state("RUNNING"),
    state("TERMINATED", "SUCCESS"),
]


@dataclass
class FakeRun:
    run_id: int
    states: list[dict[str, Any]]
    tasks: list[dict[str, Any]] = field(default_factory=list)
    job_id: int = 777
    token: str | None = None
    run_name: str = "fake"
    start_time: int = field(default_factory=lambda: int(time.time() * 1000))
    step: int = 0
    listed: bool = True

    def current(self) -> dict[str, Any]:
        return self.states[min(self.step, len(self.states) - 1)]

    def active(self) -> bool:
        return self.current()["life_cycle_state"] not in _TERMINAL


_TERMINAL = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")
_PAGE_LIMIT = 25


@dataclass
class FakeDatabricks:
    """State of the fake workspace; tests script it and read what happened."""

    next_scripts: list[list[dict[str, Any]]] = field(default_factory=list)
    next_tasks: list[list[dict[str, Any]]] = field(default_factory=list)
    runs: dict[int, FakeRun] = field(default_factory=dict)
    outputs: dict[int, dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, list[int]] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_000_000_001))
    polled: asyncio.Event | None = None  # set on the first runs/get, for tests on the server's loop
    list_visible: bool = True  # False: runs/list shows no run, so triggers fall back to runs/get
    token: str = TOKEN  # the one bearer token accepted

    def add_run(self, states: list[dict[str, Any]], **kwargs: Any) -> FakeRun:
        run = FakeRun(run_id=next(self.ids), states=list(states), **kwargs)
        self.runs[run.run_id] = run
        return run

    def calls(self, path: str) -> list[Any]:
        return [body for _, p, body in self.requests if p.endswith(path)]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/{v}/jobs/runs/submit", self._submit)
        app.router.add_post("/api/{v}/jobs/run-now", self._submit)
        app.router.add_get("/api/{v}/jobs/runs/get", self._get)
        app.router.add_get("/api/{v}/jobs/runs/get-output", self._output)
        app.router.add_post("/api/{v}/jobs/runs/cancel", self._cancel)
        app.router.add_get("/api/{v}/jobs/runs/list", self._list_runs)
        app.router.add_get("/api/{v}/jobs/list", self._list_jobs)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else dict(request.query)
        self.requests.append((request.method, request.path, body))
        if self.polled is not None and request.path.endswith("runs/get"):
            self.polled.set()
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error_code": "401", "message": "bad token"}, status=401)
        queued = self.faults.get(request.path.rsplit("/", 1)[-1])
        if queued:
            status = queued.pop(0)
            return web.json_response(
                {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}, status=status
            )
        result: web.StreamResponse = await handler(request)
        return result

    def _observe(self, request: web.Request, run: FakeRun, *, tasks: bool = True) -> dict[str, Any]:
        """The run as an answer shows it; each observation moves its script one step on."""
        base = f"{request.scheme}://{request.host}"
        body: dict[str, Any] = {
            "run_id": run.run_id,
            "job_id": run.job_id,
            "run_name": run.run_name,
            "start_time": run.start_time,
            "state": run.current(),
            "run_page_url": f"{base}/?o=1#job/{run.job_id}/run/{run.run_id}",
        }
        if tasks:
            body["tasks"] = run.tasks
        run.step += 1
        return body

    async def _submit(self, request: web.Request) -> web.Response:
        body = await request.json()
        token = body.get("idempotency_token")
        for run in self.runs.values():
            if token and run.token == token:
                return web.json_response({"run_id": run.run_id})
        script = self.next_scripts.pop(0) if self.next_scripts else SUCCESS_SCRIPT
        tasks = self.next_tasks.pop(0) if self.next_tasks else []
        named: dict[str, Any] = {"run_name": str(body.get("run_name") or "fake")}
        if body.get("job_id") is not None:  # run-now: the run belongs to that job
            named = {"job_id": int(body["job_id"]), "run_name": f"job {body['job_id']}"}
        run = self.add_run(script, tasks=tasks, token=token, **named)
        return web.json_response({"run_id": run.run_id})

    async def _get(self, request: web.Request) -> web.Response:
        run = self.runs.get(int(request.query["run_id"]))
        if run is None:
            return web.json_response(
                {"error_code": "INVALID_PARAMETER_VALUE", "message": "Run 1 does not exist."}, status=400
            )
        return web.json_response(self._observe(request, run))

    async def _output(self, request: web.Request) -> web.Response:
        return web.json_response(self.outputs.get(int(request.query["run_id"]), {}))

    async def _cancel(self, request: web.Request) -> web.Response:
        run_id = int((await request.json())["run_id"])
        self.cancelled.append(run_id)
        run = self.runs.get(run_id)
        if run is not None:
            run.states = [state("TERMINATED", "CANCELED", "cancelled by user")]
        return web.json_response({})

    async def _list_runs(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("active_only") == "true" and query.get("completed_only") == "true":
            return web.json_response(
                {"error_code": "INVALID_PARAMETER_VALUE", "message": "active_only and completed_only"},
                status=400,
            )
        runs = [r for r in self.runs.values() if r.listed and self.list_visible]
        if "job_id" in query:
            runs = [r for r in runs if r.job_id == int(query["job_id"])]
        low, high = int(query.get("start_time_from") or 0), query.get("start_time_to")
        runs = [r for r in runs if r.start_time >= low and (high is None or r.start_time <= int(high))]
        if query.get("active_only") == "true":
            runs = [r for r in runs if r.active()]
        if query.get("completed_only") == "true":
            runs = [r for r in runs if not r.active()]
        runs.sort(key=lambda r: (r.start_time, r.run_id), reverse=True)
        offset, limit = int(query.get("page_token") or 0), min(int(query.get("limit") or 20), _PAGE_LIMIT)
        page = runs[offset : offset + limit]
        expand = query.get("expand_tasks") == "true"
        body: dict[str, Any] = {"has_more": offset + limit < len(runs)}
        if page:
            body["runs"] = [self._observe(request, r, tasks=expand) for r in page]
        if body["has_more"]:
            body["next_page_token"] = str(offset + limit)
        return web.json_response(body)

    async def _list_jobs(self, request: web.Request) -> web.Response:
        name = request.query.get("name")
        jobs = [j for j in self.jobs if name is None or j["settings"]["name"] == name]
        return web.json_response({"jobs": jobs})


def reply(status: int = 200, body: Any = None, *, raw: bytes | None = None, **headers: str) -> Handler:
    """A handler answering ``body`` as JSON (or ``raw`` bytes as is)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        if raw is not None:
            hdrs.setdefault("Content-Type", "text/html")
            return web.Response(status=status, body=raw, headers=hdrs)
        return web.json_response({} if body is None else body, status=status, headers=hdrs)

    return handler


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    peer: tuple[Any, ...]


@dataclass
class ScriptedRoutes:
    """Routes ``(method, path)`` to queues of handlers; the last handler of a queue repeats.

    The client's own tests answer with what no workspace sends on purpose: HTML error pages, dropped
    connections, odd ``Retry-After`` values, malformed JSON, an exact sequence of statuses. Everything
    a real workspace would answer is the emulator's job (``tests/fixtures.py``).
    """

    routes: dict[tuple[str, str], list[Handler]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    def on(self, method: str, path: str, *handlers: Handler | dict[str, Any]) -> None:
        self.routes[(method, path)] = [h if callable(h) else reply(200, h) for h in handlers]

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        peer = request.transport.get_extra_info("peername") if request.transport else ()
        self.requests.append(
            Recorded(
                request.method, request.path, dict(request.query), body, dict(request.headers), tuple(peer)
            )
        )
        queue = self.routes.get((request.method, request.path))
        if not queue:
            return web.json_response(
                {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No route for {request.path}"}, status=404
            )
        handler = queue.pop(0) if len(queue) > 1 else queue[0]
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


class ThreadedServer:
    """Serve an aiohttp app on 127.0.0.1 from a background thread with its own event loop."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner = web.AppRunner(app)
        self.url = ""

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
