"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.helpers import wait_for

if TYPE_CHECKING:
    from pathlib import Path

    from airflow_dbx_async.testing import AirflowStack, EmulatorProcess

__all__ = (
    "MAX_EVENT_BYTES",
    "StateRecorder",
    "emulator_run",
    "extra_token_connection",
    "trigger_event_sizes",
)

MAX_EVENT_BYTES = 8 * 1024


def extra_token_connection(emulator: EmulatorProcess) -> str:
    """A connection to the emulator with its token in extra ``token`` instead of the password."""
    conn = json.loads(emulator.connection_json())
    extra = dict(conn.get("extra") or {})
    extra["token"] = conn.pop("password")
    conn["extra"] = extra
    return json.dumps(conn)


def trigger_event_sizes(home: Path) -> list[tuple[int, str]]:
    """``(size in bytes, log file)`` of every event the triggerer logged ("Trigger fired event")."""
    sizes: list[tuple[int, str]] = []
    for path in home.glob("logs/**/*.log.trigger.*.log"):
        for raw in path.read_text(errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("event") == "Trigger fired event":
                sizes.append((len(str(line.get("result", "")).encode()), str(path.relative_to(home))))
    return sizes


def emulator_run(emulator: EmulatorProcess, databricks_run_id: int) -> dict[str, Any]:
    """The emulator's summary of one run."""
    for run in emulator.runs():
        if run["run_id"] == databricks_run_id:
            return run
    raise AssertionError(f"the emulator knows no run {databricks_run_id}")


class StateRecorder:
    """Polls task states and records each change, to observe short-lived states such as ``deferred``."""

    def __init__(self, stack: AirflowStack, dag_id: str, run_id: str, task_ids: tuple[str, ...]) -> None:
        self.stack = stack
        self.dag_id = dag_id
        self.run_id = run_id
        self.seen: dict[str, list[str | None]] = {task_id: [] for task_id in task_ids}

    def poll(self) -> dict[str, str | None]:
        """Read every task's state once; returns the current states."""
        current: dict[str, str | None] = {}
        for task_id, seen in self.seen.items():
            state = self.stack.api.task_state(self.dag_id, self.run_id, task_id)
            if not seen or seen[-1] != state:
                seen.append(state)
            current[task_id] = state
        return current

    def wait_all(self, states: set[str], timeout: float = 180.0) -> dict[str, str | None]:
        """Poll until every task is in ``states``; returns the final states."""

        def probe() -> dict[str, str | None] | None:
            current = self.poll()
            return current if all(state in states for state in current.values()) else None

        what = f"{sorted(self.seen)} of {self.dag_id} to reach {sorted(states)}"
        result: dict[str, str | None] = wait_for(what, probe, timeout)
        return result


def derived_token(emulator: EmulatorProcess, dag_id: str, task_id: str, run_id: str, slot: int = 1) -> str:
    """The idempotency token a task on the emulator's ``databricks`` connection derives for ``slot``.

    Derived tokens are keyed with the connection's secrets (here: the emulator's token), so only the
    deployment can compute them.
    """
    from airflow_dbx_async.operators._idempotency import TaskIdentity, derive_key, make_token

    secrets = [json.loads(emulator.connection_json())["password"]]
    identity = TaskIdentity(dag_id=dag_id, task_id=task_id, run_id=run_id, key=derive_key("\n".join(secrets)))
    return make_token(identity, slot)
