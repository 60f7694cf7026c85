"""Real execution: each task runs as a subprocess of the same Python, bounded by a semaphore.

Notebook paths map to ``<workspace>/<path>.py`` or ``.ipynb``; ``spark_python_task.python_file``
(``dbfs:/``, ``file:/`` or workspace paths) maps to a file under the workspace. Task types the emulator
cannot execute fall back to simulation. Subprocesses are killed on cancel and on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airflow_dbx_async.emulator._model import Run, TaskRun, evaluate_run_if, latest_tasks
from airflow_dbx_async.emulator._retries import NewAttempt, retry_delay_ms, retry_wanted
from airflow_dbx_async.emulator._sim import sim_settings

__all__ = ("Runner", "resolve_task")

_SHIM = Path(__file__).with_name("_shim.py")
_URI_PREFIXES = ("dbfs:/", "file:/", "/Workspace/", "Workspace/")


def _now() -> int:
    return int(time.time() * 1000)


def _inside(root: Path, relative: str) -> Path | None:
    candidate = (root / relative.lstrip("/")).resolve()
    return candidate if candidate.is_relative_to(root) else None


def _notebook_file(root: Path, notebook_path: str) -> Path | None:
    path = notebook_path
    if path.startswith("/Workspace/"):
        path = path[len("/Workspace") :]
    for suffix in ("", ".py", ".ipynb"):
        candidate = _inside(root, path + suffix)
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _python_file(root: Path, uri: str) -> Path | None:
    path = uri
    for prefix in _URI_PREFIXES:
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    candidate = _inside(root, path)
    return candidate if candidate is not None and candidate.is_file() else None


def _params(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items() if v is not None and not str(k).startswith("sim_")}


def resolve_task(workspace: Path | None, spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The shim spec for a task, ``{}`` when its file is missing, None when the type is not executable."""
    notebook = spec.get("notebook_task")
    python = spec.get("spark_python_task")
    if isinstance(notebook, Mapping):
        file = (
            None if workspace is None else _notebook_file(workspace, str(notebook.get("notebook_path", "")))
        )
        params = _params(notebook.get("base_parameters"))
        return {} if file is None else {"kind": "notebook", "path": str(file), "params": params}
    if isinstance(python, Mapping):
        file = None if workspace is None else _python_file(workspace, str(python.get("python_file", "")))
        argv = [str(a) for a in python.get("parameters") or ()]
        return {} if file is None else {"kind": "python", "path": str(file), "argv": argv}
    return None


class Runner:
    """Executes runs of the real mode; one asyncio task per run, one subprocess per running task."""

    def __init__(
        self,
        workspace: Path | None,
        max_concurrency: int,
        defaults: tuple[float, str],
        retry: NewAttempt,
        may_start: Callable[[Run], bool],
    ) -> None:
        self._workspace = workspace
        self._retry = retry
        self._may_start = may_start
        self._changed: asyncio.Condition | None = None
        self._max = max_concurrency
        self._defaults = defaults
        self._slots: asyncio.Semaphore | None = None
        self._jobs: dict[int, set[asyncio.Task[None]]] = {}
        self.processes: dict[int, asyncio.subprocess.Process] = {}

    def start(self, run: Run, tasks: list[TaskRun]) -> None:
        """Start executing ``tasks`` (new attempts of ``run``)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max)
        job = asyncio.get_running_loop().create_task(self._execute(run, tasks))
        jobs = self._jobs.setdefault(run.run_id, set())
        jobs.add(job)

        def forget(done: asyncio.Task[None]) -> None:
            jobs.discard(done)
            if not jobs:
                self._jobs.pop(run.run_id, None)

        job.add_done_callback(forget)

    def cancel(self, run: Run) -> None:
        """Cancel the run's executions; their subprocesses are killed."""
        for job in list(self._jobs.get(run.run_id, ())):
            job.cancel()

    async def shutdown(self) -> None:
        """Cancel every execution and wait until all subprocesses are gone."""
        jobs = [job for group in self._jobs.values() for job in group]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    async def _execute(self, run: Run, tasks: list[TaskRun]) -> None:
        if self._changed is None:
            self._changed = asyncio.Condition()
        try:
            if run.queue_reason is not None and run.queued_until_ms is None:
                await self._wait_turn(run, self._changed)
            await self._run_tasks(run, tasks)
        finally:
            async with self._changed:
                self._changed.notify_all()

    async def _wait_turn(self, run: Run, changed: asyncio.Condition) -> None:
        """Wait in the job's queue until a run of the job ends and it is this run's turn."""
        try:
            async with changed:
                await changed.wait_for(lambda: self._may_start(run))
        except asyncio.CancelledError:
            self._finish_open(run.tasks, "CANCELED")
            raise
        run.queued_until_ms = _now()

    async def _run_tasks(self, run: Run, tasks: list[TaskRun]) -> None:
        events = {t.task_key: asyncio.Event() for t in tasks}
        children = [asyncio.ensure_future(self._task(run, t, events)) for t in tasks]
        try:
            await asyncio.wait_for(asyncio.gather(*children), run.timeout_seconds or None)
        except (TimeoutError, asyncio.CancelledError) as stop:
            for child in children:
                child.cancel()
            # Wait for the children so their subprocesses are really killed before the run ends.
            await asyncio.gather(*children, return_exceptions=True)
            self._finish_open(
                run.tasks, "CANCELED" if isinstance(stop, asyncio.CancelledError) else "TIMEDOUT"
            )
            if isinstance(stop, asyncio.CancelledError):
                raise

    @staticmethod
    def _finish_open(tasks: list[TaskRun], outcome: str) -> None:
        now = _now()
        for task in tasks:
            if task.end_ms is None:
                task.finish(now, outcome)

    async def _task(self, run: Run, task: TaskRun, events: Mapping[str, asyncio.Event]) -> None:
        try:
            for key in task.depends_on:
                if key in events:
                    await events[key].wait()
            latest = {t.task_key: t for t in latest_tasks(run)}
            upstream = [latest[k].outcome for k in task.depends_on if k in latest]
            task.ready_ms = _now()
            skip = evaluate_run_if(task.spec.get("run_if"), upstream)
            if skip is not None:
                task.finish(_now(), skip)
                return
            await self._attempts(run, task)
        finally:
            events[task.task_key].set()

    async def _attempts(self, run: Run, task: TaskRun) -> None:
        """Run the task, then its retries after their interval."""
        assert self._slots is not None
        while True:
            async with self._slots:
                await self._attempt(task)
            if not retry_wanted(task):
                return
            task = self._retry(run, task, _now())
            await asyncio.sleep(retry_delay_ms(task) / 1000)

    async def _attempt(self, task: TaskRun) -> None:
        task.pending_ms = task.running_ms = _now()
        if task.blocked is not None:
            task.running_ms = None
            task.error = task.blocked
            task.finish(task.pending_ms, "NOT_FOUND", task.blocked)
            return
        shim = resolve_task(self._workspace, task.spec)
        if shim is None:
            duration, outcome, error = sim_settings(task.spec, *self._defaults)
            await asyncio.sleep(duration / 1000)
            task.error = error
            task.finish(_now(), outcome)
            return
        if not shim:
            task.error = "Notebook or file not found in the emulated workspace."
            task.finish(_now(), "NOT_FOUND", task.error)
            return
        timeout = float(task.spec.get("timeout_seconds") or 0) or None
        with tempfile.TemporaryDirectory(prefix="dbx-task-") as tmp:
            result_file = Path(tmp) / "result.json"
            spec_file = Path(tmp) / "spec.json"
            spec_file.write_text(json.dumps({**shim, "result_file": str(result_file)}), encoding="utf-8")
            await self._spawn(task, spec_file, result_file, limit=timeout)

    async def _spawn(self, task: TaskRun, spec_file: Path, result_file: Path, *, limit: float | None) -> None:
        creating = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                sys.executable,
                str(_SHIM),
                str(spec_file),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                cwd=str(self._workspace) if self._workspace else None,
            )
        )
        try:
            proc = await asyncio.shield(creating)
        except asyncio.CancelledError:
            # Cancelled while the process was being created: let it start, then kill it (no orphan).
            await _kill(await creating)
            raise
        self.processes[task.run_id] = proc
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), limit)
        except TimeoutError:
            await _kill(proc)
            task.finish(_now(), "TIMEDOUT")
            return
        except asyncio.CancelledError:
            await _kill(proc)
            raise
        finally:
            self.processes.pop(task.run_id, None)
        task.terminating_ms = _now()
        _record(task, out, result_file, proc.returncode)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the task's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    try:
        # Reading to EOF as well as reaping lets the pipe transports close (no ResourceWarning later).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.communicate(), 5)
    finally:
        # Also when that wait ran out or was cancelled (a shutdown during a cancel): never leave the
        # process's transport to the garbage collector. asyncio's Process has no public close().
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()


def _record(task: TaskRun, out: bytes, result_file: Path, returncode: int | None) -> None:
    logs = out.decode("utf-8", errors="replace")
    task.logs = logs.rstrip("\n") + "\n" if logs else ""
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = {"status": "FAILED", "error": f"Process exited with code {returncode} without a result."}
    task.result = result.get("result")
    task.cells = result.get("cells")
    if result.get("status") == "SUCCESS":
        task.finish(_now(), "SUCCESS")
        return
    task.error = result.get("error")
    task.error_trace = result.get("error_trace")
    task.finish(_now(), "FAILED")
