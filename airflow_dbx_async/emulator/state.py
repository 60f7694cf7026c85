"""In-memory state of the emulator: jobs, runs, idempotency tokens, clusters, warehouses and counters.

Runs are created here and either scheduled in full at once (simulated mode) or handed to the
:class:`~airflow_dbx_async.emulator._runner.Runner` (real mode). Every "does not exist" answer goes through
:meth:`EmulatorState.not_found` so the 400-vs-404 switch lives in one place.
"""

from __future__ import annotations

import heapq
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.emulator._cluster_store import check_clusters, load_clusters
from airflow_dbx_async.emulator._jobs import (
    apply_run_parameters,
    check_parameter_slots,
    job_settings,
    merge_settings,
    normalise_tasks,
    select_only,
    strip_nulls,
)
from airflow_dbx_async.emulator._model import TERMINAL, Run, TaskRun, latest_tasks, run_phase
from airflow_dbx_async.emulator._paging import decode_token, encode_token
from airflow_dbx_async.emulator._params import ApiFailure, get_int, get_str, invalid
from airflow_dbx_async.emulator._pipeline_store import PipelineStore
from airflow_dbx_async.emulator._queue import admit, may_start
from airflow_dbx_async.emulator._repair import plan_repair
from airflow_dbx_async.emulator._runner import Runner
from airflow_dbx_async.emulator._sim import schedule_simulated
from airflow_dbx_async.emulator._statements import StatementStore
from airflow_dbx_async.emulator._warehouse_store import Warehouse, load_warehouses

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow_dbx_async.emulator.config import EmulatorConfig

__all__ = ("EmulatorState", "Stats", "decode_token", "encode_token")

_RUN_ID_BASE = 912_000_000_000_001
_JOB_ID_BASE = 580_000_000_000_001


@dataclass
class Stats:
    """Counters served by ``/_emulator/stats``."""

    requests: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    submits: int = 0
    submits_by_token: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)


class EmulatorState:
    """All mutable state of one emulator instance."""

    def __init__(self, config: EmulatorConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.stats = Stats()
        self.jobs: dict[int, dict[str, Any]] = {}
        self.runs: dict[int, Run] = {}
        self.task_runs: dict[int, tuple[Run, TaskRun]] = {}
        self.idempotency: dict[str, tuple[int, float]] = {}
        self.deleted_runs: set[int] = set()
        self.clusters: dict[str, dict[str, Any]] = {}
        self.libraries: dict[str, list[dict[str, Any]]] = {}
        self.repos: dict[int, dict[str, Any]] = {}
        self.warehouses: dict[str, Warehouse] = {}
        self.statements = StatementStore(self)
        self.pipelines = PipelineStore(config.workspace_path, self.now_ms)
        self.oauth_tokens: dict[str, float] = {}
        # Retry attempts of simulated runs, written ahead and shown from their creation time on.
        self.future_attempts: list[tuple[int, int, Run, TaskRun]] = []
        self._ids = itertools.count(_RUN_ID_BASE)
        self._job_ids = itertools.count(_JOB_ID_BASE)
        defaults = (config.sim_duration_seconds, config.sim_result)
        self.runner = (
            None
            if config.simulate
            else Runner(
                config.workspace_path, config.max_concurrency, defaults, self._retry_attempt, self.may_start
            )
        )
        load_clusters(self)
        load_warehouses(self)
        self.load_workspace_jobs()

    # ----------------------------------------------------------------- basics
    def now_ms(self) -> int:
        """The emulator clock in epoch milliseconds."""
        return int(self.clock() * 1000)

    def not_found(self, message: str) -> ApiFailure:
        """A "does not exist" failure with the configured status."""
        if self.config.not_found_status == 404:
            return ApiFailure(404, "RESOURCE_DOES_NOT_EXIST", message)
        return invalid(message)

    def reset(self) -> None:
        """Forget runs, jobs, tokens and counters; reload ``jobs.json``."""
        self.stats = Stats()
        for container in (
            self.jobs,
            self.runs,
            self.task_runs,
            self.idempotency,
            self.clusters,
            self.libraries,
            self.repos,
            self.warehouses,
            self.future_attempts,
        ):
            container.clear()
        self.deleted_runs.clear()
        self.statements.reset()
        self.pipelines.reset()
        load_clusters(self)
        load_warehouses(self)
        self.load_workspace_jobs()

    def load_workspace_jobs(self) -> None:
        """Preload jobs from ``<workspace>/jobs.json`` (a list of JobSettings with explicit ``job_id``)."""
        root = self.config.workspace_path
        path = None if root is None else root / "jobs.json"
        if path is None or not path.is_file():
            return
        data = json.loads(path.read_text(encoding="utf-8"))
        for job in data.get("jobs", []) if isinstance(data, dict) else data:
            self.create_job(job.get("settings", job), job_id=int(job["job_id"]))

    # ------------------------------------------------------------------- jobs
    def create_job(self, body: Mapping[str, Any], *, job_id: int | None = None) -> int:
        """Store a job; returns its id."""
        new_id = next(self._job_ids) if job_id is None else job_id
        self.jobs[new_id] = {"job_id": new_id, "created_time": self.now_ms(), "settings": job_settings(body)}
        return new_id

    def job(self, job_id: int) -> dict[str, Any]:
        """A stored job or the "does not exist" failure."""
        try:
            return self.jobs[job_id]
        except KeyError:
            raise self.not_found(f"Job {job_id} does not exist.") from None

    def reset_job(self, job_id: int, new_settings: Mapping[str, Any]) -> None:
        """jobs/reset: replace the settings."""
        self.job(job_id)["settings"] = job_settings(new_settings)

    def update_job(self, job_id: int, new_settings: Mapping[str, Any], remove: list[str]) -> None:
        """jobs/update: partial update (see :func:`._jobs.merge_settings`), checked before it applies."""
        job = self.job(job_id)
        merged = merge_settings(job["settings"], strip_nulls(dict(new_settings)), remove)
        check_clusters(self, list(merged.get("tasks") or ()))
        job["settings"] = merged

    # ------------------------------------------------------------------- runs
    def _reuse_token(self, token: str | None) -> int | None:
        if token is None:
            return None
        if len(token) > 64:
            raise invalid("idempotency_token must be at most 64 characters.")
        self.stats.submits_by_token[token] += 1
        found = self.idempotency.get(token)
        if found is None:
            return None
        run_id, created = found
        if self.clock() - created > self.config.idempotency_retention_seconds:
            del self.idempotency[token]
            return None
        if run_id in self.deleted_runs:
            raise invalid(f"The run {run_id} that used this idempotency token has been deleted.")
        return run_id

    def submit(self, body: Mapping[str, Any]) -> int:
        """runs/submit: a one-time run (same idempotency token, same run)."""
        self.stats.submits += 1
        token = get_str(body, "idempotency_token") or None
        existing = self._reuse_token(token)
        if existing is not None:
            return existing
        run_name = get_str(body, "run_name", "Untitled") or "Untitled"
        specs = normalise_tasks(body, run_name)
        check_clusters(self, specs)
        extra = {k: strip_nulls(body[k]) for k in ("git_source", "description") if body.get(k) is not None}
        run = self._new_run(next(self._job_ids), run_name, "SUBMIT_RUN", body, extra)
        return self._start(run, specs, token)

    def run_now(self, body: Mapping[str, Any]) -> int:
        """run-now: a run of a saved job."""
        self.stats.submits += 1
        job_id = get_int(body, "job_id", required=True)
        token = get_str(body, "idempotency_token") or None
        job = self.job(job_id)
        check_parameter_slots(body)
        existing = self._reuse_token(token)
        if existing is not None:
            return existing
        settings = job["settings"]
        defined = {str(p["name"]): str(p.get("default", "")) for p in settings.get("parameters", [])}
        given = {str(k): str(v) for k, v in (body.get("job_parameters") or {}).items()}
        params = dict(body)
        if defined or given:
            params["job_parameters"] = {**defined, **given}
        specs = apply_run_parameters(settings.get("tasks", []), params)
        specs = select_only(specs, [str(k) for k in body.get("only") or ()])
        if not specs:
            raise invalid(f"Job {job_id} has no tasks to run.")
        run = self._new_run(job_id, str(settings.get("name", "Untitled")), "JOB_RUN", settings, {})
        admit(self, run, settings, body)
        run.job_parameters = [
            {"name": k, "default": defined.get(k, ""), "value": v}
            for k, v in sorted({**defined, **given}.items())
        ]
        run.overriding_parameters = {
            k: body[k] for k in ("notebook_params", "python_params", "jar_params") if body.get(k) is not None
        }
        return self._start(run, specs, token)

    def _new_run(
        self, job_id: int, name: str, run_type: str, body: Mapping[str, Any], extra: dict[str, Any]
    ) -> Run:
        return Run(
            run_id=next(self._ids),
            job_id=job_id,
            run_name=name,
            run_type=run_type,
            created_ms=self.now_ms(),
            timeout_seconds=get_int(body, "timeout_seconds"),
            extra=extra,
            simulated=self.config.simulate,
        )

    def _start(self, run: Run, specs: list[dict[str, Any]], token: str | None) -> int:
        tasks = [self._new_task(run, spec) for spec in specs]
        self.runs[run.run_id] = run
        run.idempotency_token = token
        if token is not None:
            self.idempotency[token] = (run.run_id, self.clock())
        self._launch(run, tasks, {})
        return run.run_id

    def _new_task(self, run: Run, spec: dict[str, Any], repair_id: int | None = None) -> TaskRun:
        task = TaskRun(next(self._ids), str(spec["task_key"]), spec, self.now_ms(), repair_id=repair_id)
        run.tasks.append(task)
        self.task_runs[task.run_id] = (run, task)
        return task

    def _retry_attempt(self, run: Run, previous: TaskRun, visible_ms: int) -> TaskRun:
        """The next attempt of ``previous``, shown in ``run`` from ``visible_ms`` on."""
        task = TaskRun(
            next(self._ids),
            previous.task_key,
            previous.spec,
            visible_ms,
            attempt_number=previous.attempt_number + 1,
            repair_id=previous.repair_id,
            blocked=previous.blocked,
        )
        if visible_ms <= self.now_ms():
            run.tasks.append(task)
            self.task_runs[task.run_id] = (run, task)
        else:
            heapq.heappush(self.future_attempts, (visible_ms, task.run_id, run, task))
        return task

    def settle(self) -> None:
        """Show the simulated retry attempts whose time has come."""
        now = self.now_ms()
        while self.future_attempts and self.future_attempts[0][0] <= now:
            _, _, run, task = heapq.heappop(self.future_attempts)
            if self.runs.get(run.run_id) is run:
                run.tasks.append(task)
                self.task_runs[task.run_id] = (run, task)

    def _launch(self, run: Run, tasks: list[TaskRun], prior: Mapping[str, tuple[str, int]]) -> None:
        for task in tasks:  # a pipeline_task fails when it starts if its pipeline does not exist
            task.blocked = self.pipelines.track(task)
        if run.skip_message is not None:
            for task in tasks:
                task.finish(self.now_ms(), "SKIPPED", run.skip_message)
        elif self.runner is None:
            defaults = (self.config.sim_duration_seconds, self.config.sim_result)
            retry = self._retry_attempt
            start = max(self.now_ms(), run.queued_until_ms or 0)
            schedule_simulated(run, tasks, start, defaults, prior, retry)
        else:
            self.runner.start(run, tasks)

    def may_start(self, run: Run) -> bool:
        """Whether a queued run may leave its job's queue now."""
        return may_start(self, run)

    def lookup(self, run_id: int) -> tuple[Run, TaskRun | None]:
        """A run or task run by id, or the "does not exist" failure."""
        run = self.runs.get(run_id)
        if run is not None:
            return run, None
        found = self.task_runs.get(run_id)
        if found is None:
            raise self.not_found(f"Run {run_id} does not exist.")
        return found

    def is_active(self, run: Run) -> bool:
        """Whether the run has not reached a terminal state."""
        return run_phase(run, self.now_ms()).life_cycle not in TERMINAL

    def cancel(self, run_id: int) -> None:
        """runs/cancel (a task run id cancels its whole run); a terminal run is left unchanged."""
        run, _ = self.lookup(run_id)
        if not self.is_active(run):
            return
        run.cancel_requested = True
        if any(entry[2] is run for entry in self.future_attempts):
            self.future_attempts = [entry for entry in self.future_attempts if entry[2] is not run]
            heapq.heapify(self.future_attempts)
        now = self.now_ms()
        grace = int(self.config.cancel_grace_seconds * 1000)
        for task in latest_tasks(run):
            if task.end_ms is None or task.end_ms > now:
                started = task.pending_ms is not None and task.pending_ms <= now
                if self.runner is None:
                    # Cancellation is asynchronous: a started task is TERMINATING for a while first.
                    task.terminating_ms = now if started else None
                    task.finish(now + grace if started else now, "CANCELED")
                    task.error = task.error_trace = task.result = None
                    task.cells = None
                elif task.running_ms is not None:
                    task.terminating_ms = now
        if self.runner is not None:
            self.runner.cancel(run)

    def cancel_all(self, job_id: int | None, all_queued_runs: bool) -> None:
        """runs/cancel-all: the active runs of ``job_id``, or with ``all_queued_runs`` alone, queued runs."""
        if job_id is None and not all_queued_runs:
            raise invalid("Either job_id or all_queued_runs must be provided.")
        if job_id is not None:
            self.job(job_id)
        now = self.now_ms()
        for run in list(self.runs.values()):
            if job_id is not None and run.job_id != job_id:
                continue
            if job_id is None and not run_phase(run, now).life_cycle == "QUEUED":
                continue
            self.cancel(run.run_id)

    def delete_run(self, run_id: int) -> None:
        """runs/delete: only non-active runs can be deleted."""
        run, task = self.lookup(run_id)
        if task is not None or self.is_active(run):
            raise invalid(f"Run {run_id} is active or is a task run and cannot be deleted.")
        del self.runs[run_id]
        for t in run.tasks:
            self.task_runs.pop(t.run_id, None)
        self.deleted_runs.add(run_id)

    def repair(self, body: Mapping[str, Any]) -> int:
        """runs/repair: re-run tasks inside the same run; returns the repair id."""
        run_id = get_int(body, "run_id", required=True)
        run, task = self.lookup(run_id)
        job = self.jobs.get(run.job_id) if run.run_type == "JOB_RUN" else None
        job_tasks = None if job is None else list(job["settings"].get("tasks") or ())
        keys, specs = plan_repair(run, task, body, active=self.is_active(run), job_tasks=job_tasks)
        repair_id = next(self._ids)
        run.cancel_requested = False
        latest = {t.task_key: t for t in latest_tasks(run)}
        new = [self._new_task(run, spec, repair_id) for spec in specs]
        prior = {k: (t.outcome, t.end_ms or 0) for k, t in latest.items() if k not in keys}
        entry = {
            "type": "REPAIR",
            "id": repair_id,
            "start_time": self.now_ms(),
            "task_run_ids": [t.run_id for t in new],
        }
        run.repair_history.append(entry)
        self._launch(run, new, prior)
        return repair_id

    def active_runs(self) -> int:
        """Number of runs not yet terminal."""
        return sum(1 for run in self.runs.values() if self.is_active(run))
