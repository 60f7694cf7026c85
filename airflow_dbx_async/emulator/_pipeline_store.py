"""Pipelines (Lakeflow Declarative Pipelines, formerly DLT) and the updates job runs start on them.

A pipeline is declared in ``<workspace>/pipelines.json`` (``{"pipelines": [{"pipeline_id": ..., "name":
..., ...}]}`` or just the list) or created with ``POST /api/2.0/pipelines``. A job task
``pipeline_task: {pipeline_id, full_refresh}`` starts an update of its pipeline when the task starts:
the update is the task attempt itself, so its state (``latest_updates[].state``) and the pipeline's
``state`` (``RUNNING`` while an update runs, else ``IDLE``) are read from the task's timeline. A task
whose pipeline does not exist fails when it starts. References:
https://docs.databricks.com/api/workspace/pipelines/create, .../pipelines/get, .../pipelines/listpipelines
and databricks-sdk ``PipelinesAPI`` (``GetPipelineResponse``, ``PipelineStateInfo``, ``UpdateStateInfo``).
"""

from __future__ import annotations

import copy
import datetime
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.emulator._model import TERMINAL, TaskRun, task_phase
from airflow_dbx_async.emulator._params import ApiFailure, invalid

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

__all__ = ("CREATOR", "Pipeline", "PipelineStore", "missing_pipeline")

CREATOR = "emulator@example.com"
_LIKE = re.compile(r"^\s*name\s+LIKE\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_NOTEBOOK = re.compile(r"^\s*notebook\s*=\s*'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_ORDER = re.compile(r"^\s*(id|name)(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
# Settings that live beside the spec in GetPipelineResponse rather than inside it.
_OUTSIDE_SPEC = ("parameters", "run_as", "allow_duplicate_names", "dry_run")


def missing_pipeline(pipeline_id: str) -> ApiFailure:
    """The 404 for an unknown pipeline (the wording of the Databricks CLI team's recorded answers)."""
    return ApiFailure(404, "RESOURCE_DOES_NOT_EXIST", f"The specified pipeline {pipeline_id} was not found.")


@dataclass(slots=True, eq=False)
class Pipeline:
    """One pipeline: its settings and the task attempts that ran updates on it."""

    pipeline_id: str
    settings: dict[str, Any]
    last_modified: int
    updates: list[tuple[str, TaskRun]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The pipeline's name ("" when it has none)."""
        return str(self.settings.get("name") or "")


def _iso(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _update_state(task: TaskRun, now: int) -> str:
    phase = task_phase(task, now)
    if phase.life_cycle not in TERMINAL:
        waiting = {"PENDING": "WAITING_FOR_RESOURCES", "TERMINATING": "STOPPING"}
        return waiting.get(phase.life_cycle, "RUNNING")
    return {"SUCCESS": "COMPLETED", "CANCELED": "CANCELED"}.get(task.outcome, "FAILED")


def _like(pattern: str) -> re.Pattern[str]:
    """SQL ``LIKE``: ``%`` is any text, ``_`` one character, the rest literal (``''`` is a quote)."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.replace("''", "'")]
    return re.compile("".join(parts), re.DOTALL)


class PipelineStore:
    """All pipelines of one emulator; ``clock`` gives epoch milliseconds."""

    def __init__(self, workspace: Path | None, clock: Callable[[], int]) -> None:
        self._workspace = workspace
        self._clock = clock
        self.pipelines: dict[str, Pipeline] = {}
        self.load()

    def reset(self) -> None:
        """Forget every pipeline and reload ``pipelines.json``."""
        self.pipelines.clear()
        self.load()

    def load(self) -> None:
        """Pipelines of ``<workspace>/pipelines.json``."""
        path = None if self._workspace is None else self._workspace / "pipelines.json"
        if path is None or not path.is_file():
            return
        data = json.loads(path.read_text(encoding="utf-8"))
        for spec in data.get("pipelines", []) if isinstance(data, dict) else data:
            self.create(spec, pipeline_id=str(spec.get("pipeline_id") or spec.get("id") or "") or None)

    def create(self, body: Mapping[str, Any], *, pipeline_id: str | None = None) -> str:
        """Store a pipeline; returns its id (a UUID unless given)."""
        new_id = pipeline_id or str(uuid.uuid4())
        settings = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("pipeline_id", "id", "dry_run")}
        self.pipelines[new_id] = Pipeline(new_id, settings, self._clock())
        return new_id

    def name_taken(self, name: str) -> bool:
        """Whether a pipeline already has this name."""
        return any(p.name == name for p in self.pipelines.values())

    def get(self, pipeline_id: str) -> Pipeline:
        """A pipeline, or the 404."""
        found = self.pipelines.get(pipeline_id)
        if found is None:
            raise missing_pipeline(pipeline_id[:80])
        return found

    def track(self, task: TaskRun) -> str | None:
        """Record ``task`` as an update of its pipeline; the reason it cannot start when there is none."""
        body = task.spec.get("pipeline_task")
        if not isinstance(body, dict):
            return None
        pipeline_id = str(body.get("pipeline_id", ""))
        pipeline = self.pipelines.get(pipeline_id)
        if pipeline is None:
            return missing_pipeline(pipeline_id[:80]).message
        pipeline.updates.append((str(uuid.uuid4()), task))
        return None

    def spec(self, pipeline: Pipeline) -> dict[str, Any]:
        """The ``spec`` (PipelineSpec) of a pipeline, with its ``id``."""
        spec = {k: copy.deepcopy(v) for k, v in pipeline.settings.items() if k not in _OUTSIDE_SPEC}
        spec["id"] = pipeline.pipeline_id
        return spec

    def state_info(self, pipeline: Pipeline) -> dict[str, Any]:
        """The PipelineStateInfo of a pipeline (what the list shows)."""
        now = self._clock()
        started = [(u, t) for u, t in pipeline.updates if t.pending_ms is not None and t.pending_ms <= now]
        updates = [
            {"update_id": uid, "state": _update_state(t, now), "creation_time": _iso(t.pending_ms or 0)}
            for uid, t in reversed(started)
        ]
        running = any(task_phase(t, now).life_cycle not in TERMINAL for _, t in started)
        info: dict[str, Any] = {
            "pipeline_id": pipeline.pipeline_id,
            "state": "RUNNING" if running else "IDLE",
            "creator_user_name": CREATOR,
            "run_as_user_name": CREATOR,
        }
        if pipeline.name:
            info["name"] = pipeline.name
        if updates:
            info["latest_updates"] = updates[:5]
        return info

    def details(self, pipeline: Pipeline) -> dict[str, Any]:
        """The GetPipelineResponse of a pipeline."""
        body = self.state_info(pipeline)
        body.update(spec=self.spec(pipeline), last_modified=pipeline.last_modified)
        for name in ("parameters", "run_as"):
            if pipeline.settings.get(name) is not None:
                body[name] = copy.deepcopy(pipeline.settings[name])
        return body

    def matching(self, expression: str, order_by: list[str]) -> list[Pipeline]:
        """Pipelines passing a list ``filter``, in ``order_by`` order (default ``id asc``), or a 400."""
        found = list(self.pipelines.values())
        if expression.strip():
            like, notebook = _LIKE.match(expression), _NOTEBOOK.match(expression)
            if like is not None:
                pattern = _like(like.group(1))
                found = [p for p in found if pattern.fullmatch(p.name)]
            elif notebook is not None:
                path = notebook.group(1).replace("''", "'")
                found = [p for p in found if path in _notebooks(p)]
            else:
                raise invalid(
                    f"Invalid filter {expression[:80]!r}: supported are name LIKE '<pattern>' and "
                    "notebook='<path>' (composite filters are not supported)."
                )
        keys: list[tuple[str, bool]] = []
        for entry in order_by or ["id asc"]:
            parsed = _ORDER.match(entry)
            if parsed is None:
                raise invalid(f"Invalid order_by {entry[:40]!r}: supported are id and name, asc or desc.")
            keys.append((parsed.group(1).lower(), (parsed.group(2) or "asc").lower() == "desc"))
        for key, descending in reversed(keys):
            found.sort(key=lambda p: p.pipeline_id if key == "id" else p.name, reverse=descending)
        return found


def _notebooks(pipeline: Pipeline) -> set[str]:
    paths = set()
    for library in pipeline.settings.get("libraries") or ():
        notebook = library.get("notebook") if isinstance(library, dict) else None
        if isinstance(notebook, dict) and notebook.get("path") is not None:
            paths.add(str(notebook["path"]))
    return paths
