"""The chaos harness's plan, records and verdict: what each task try must end with, and the checks.

Kept apart from the driver in :mod:`bench.chaos` so that the rules a chaos run is judged by read
on their own.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_dbx_async.operators._idempotency import TaskIdentity, derive_key, make_token

__all__ = (
    "DAG_ID",
    "FAULT_KINDS",
    "JOB_FAIL",
    "JOB_FAIL_ERROR",
    "JOB_OK",
    "RUN_ID",
    "ChaosReport",
    "ChaosSettings",
    "TaskSpec",
    "TryRecord",
    "judge_chaos",
    "plan_tasks",
)

DAG_ID = "chaos"
RUN_ID = "manual__chaos"
FAULT_KINDS = ("429", "500", "503", "drop", "stall")
JOB_OK, JOB_FAIL = 901, 902
JOB_FAIL_ERROR = "ValueError: chaos job failed on purpose"


@dataclass(frozen=True, kw_only=True)
class ChaosSettings:
    """Knobs of one chaos run."""

    tries: int = 200
    fault_rate: float = 0.2
    stall_seconds: float = 1.5
    client_timeout: float = 1.0
    min_duration: float = 0.2
    max_duration: float = 1.5
    seed: int = 1
    phase_seconds: float = 0.25
    start_spread: float = 0.02
    workers: int = 16
    retry_limit: int = 8
    retry_delay: float = 0.05
    polling_period: float = 0.5
    token: str = "dapi-chaos-0000000000000000"


@dataclass(frozen=True)
class TaskSpec:
    """One task: its kind, which operator, how long its run lasts and whether it fails."""

    index: int
    kind: str
    operator: str
    duration: float
    fails: bool

    @property
    def task_id(self) -> str:
        return f"t{self.index:05d}"

    @property
    def identity(self) -> TaskIdentity:
        return TaskIdentity(dag_id=DAG_ID, task_id=self.task_id, run_id=RUN_ID)

    @property
    def error_text(self) -> str:
        if self.operator != "submit":
            return JOB_FAIL_ERROR
        return f"ValueError: chaos task {self.index} failed on purpose"

    @property
    def tries(self) -> int:
        return 1 if self.kind == "plain" else 2


@dataclass
class TryRecord:
    """What one task try did."""

    spec: TaskSpec
    try_number: int
    started_ms: int
    outcome: str = ""
    message: str = ""
    run_id: int | None = None
    watched: bool = True
    deferred: bool = False
    events: int = 0


@dataclass
class ChaosReport:
    """The result of a chaos run; ``ok`` when every check passed."""

    settings: ChaosSettings
    tasks: int = 0
    tries: int = 0
    correct: int = 0
    duplicate_submits: int = 0
    runs_total: int = 0
    runs_left_active: int = 0
    bad_event_counts: int = 0
    requests_total: int = 0
    wall_seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    faults_by_phase: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.correct == self.tries

    def table(self) -> str:
        s = self.settings
        kinds = ", ".join(f"{k}: {self.faults[k]}" for k in FAULT_KINDS)
        phases = ", ".join(f"{p}: {self.faults_by_phase[p]}" for p in ("before", "after"))
        rows = [
            (
                "fault rate / stall / client timeout",
                f"{s.fault_rate:.0%} / {s.stall_seconds} s / {s.client_timeout} s",
            ),
            ("API requests (emulator count)", str(self.requests_total)),
            ("faults injected by kind", f"{kinds} (total {sum(self.faults.values())})"),
            ("faults injected by phase", phases),
            ("tasks / task tries", f"{self.tasks} / {self.tries}"),
            ("outcomes correct", f"{self.correct} / {self.tries}"),
            ("runs created", str(self.runs_total)),
            ("duplicate submits", str(self.duplicate_submits)),
            ("runs left active", str(self.runs_left_active)),
            ("triggers without exactly one event", str(self.bad_event_counts)),
            ("wall time", f"{self.wall_seconds:.1f} s"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"| {'metric'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
        return "\n".join(lines)


def plan_tasks(settings: ChaosSettings) -> list[TaskSpec]:
    """Tasks adding up to ``settings.tries`` tries: about 80 % plain, 10 % retry and 10 % reattach tries."""
    rng = random.Random(settings.seed)
    specs: list[TaskSpec] = []
    tries = 0
    while tries < settings.tries:
        index = len(specs)
        roll = rng.random()
        kind = (
            "plain" if roll < 0.8 or settings.tries - tries < 2 else ("retry" if roll < 0.9 else "reattach")
        )
        operator = rng.choice(("submit", "submit", "run_now_id", "run_now_name"))
        fails = index % 2 == 1
        duration = rng.uniform(settings.min_duration, settings.max_duration)
        if kind == "reattach":
            duration = settings.max_duration  # the run should still be going when the second try probes
        specs.append(TaskSpec(index, kind, operator, round(duration, 2), fails))
        tries += specs[-1].tries
    return specs


def _check_outcome(record: TryRecord) -> str | None:
    spec = record.spec
    if not record.watched:
        return None if record.outcome in ("abandoned", "success", "failed") else f"{record.outcome}"
    if record.deferred and record.events != 1:
        return f"trigger yielded {record.events} events"
    if spec.fails:
        if record.outcome == "failed" and spec.error_text in record.message:
            return None
    elif record.outcome == "success":
        return None
    return f"outcome {record.outcome!r}: {record.message[:300]}"


def _check_runs(spec: TaskSpec, records: list[TryRecord], runs: list[dict[str, Any]]) -> str | None:
    """Slots 1..k used, one run each; a second slot only when the first run ended before try 2."""
    by_slot = {run["slot"]: run for run in runs}
    slots = sorted(by_slot)
    if slots != list(range(1, len(slots) + 1)) or not slots:
        return f"slots used {slots}"
    expected = {"plain": (1,), "retry": (2,), "reattach": (1, 2)}[spec.kind]
    if len(slots) not in expected:
        return f"{len(slots)} runs for a {spec.kind} task"
    if len(slots) == 2:
        ended = by_slot[1]["end_time"]
        if not ended or ended > by_slot[2]["start_time"]:
            return "a second run was started while the first was still active"
    last = by_slot[slots[-1]]["run_id"]
    if records[-1].run_id is not None and records[-1].run_id != last:
        return f"the last try watched run {records[-1].run_id}, not {last}"
    return None


def judge_chaos(
    report: ChaosReport,
    specs: list[TaskSpec],
    records: list[TryRecord],
    runs: list[dict[str, Any]],
    connection_token: str = ChaosSettings.token,
) -> None:
    key = derive_key(connection_token)  # the operators key their tokens with the connection's secret
    owners = {
        make_token(replace(s.identity, key=key), slot): (s.index, slot) for s in specs for slot in (1, 2, 3)
    }
    per_token = Counter(run.get("idempotency_token") for run in runs)
    report.duplicate_submits = sum(n - 1 for n in per_token.values() if n > 1)
    runs_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        owner = owners.get(run.get("idempotency_token") or "")
        if owner is None:
            report.problems.append(f"run {run['run_id']} has an unknown idempotency token")
            continue
        runs_of[owner[0]].append({**run, "slot": owner[1]})
    tries_of: dict[int, list[TryRecord]] = defaultdict(list)
    for record in records:
        tries_of[record.spec.index].append(record)
        problem = _check_outcome(record)
        report.correct += problem is None
        report.bad_event_counts += record.deferred and record.watched and record.events != 1
        if problem:
            report.problems.append(f"{record.spec.task_id} try {record.try_number}: {problem}")
    for spec in specs:
        problem = _check_runs(spec, tries_of[spec.index], runs_of[spec.index])
        if problem:
            report.problems.append(f"{spec.task_id} ({spec.kind}): {problem}")
