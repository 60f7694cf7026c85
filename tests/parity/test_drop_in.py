"""Constructions that used to break a DAG after the import swap, each run against the emulator.

Built from the official provider's own tests (7.23.0, ``tests/unit/databricks/operators/test_databricks.py``):
``test_init_with_pipeline_name_task_named_parameters`` and ``test_exec_pipeline_name`` (a pipeline
given by name is looked up with the Pipelines API), ``polling_period_seconds=0`` (accepted), and
``TestDatabricks{SubmitRun,RunNow}OperatorDurable.test_reconnects_to_active_run_without_resubmitting``:
here the official operator itself stores its run in the task state store and its worker is lost,
then the retried task, now ours, re-attaches to that run instead of submitting a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from airflow.providers.databricks.operators import databricks as official
from airflow.sdk.exceptions import TaskDeferred

from airflow_dbx_async.operators import DatabricksRunNowOperator, DatabricksSubmitRunOperator
from airflow_dbx_async.operators._payload import MIN_POLLING_PERIOD_SECONDS
from tests.helpers import messages
from tests.parity.conftest import ParityTI, parity_context

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from tests.parity.conftest import Workspace

pytestmark = pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")

TASK_ID = "databricks-operator"
SLOW_NOTEBOOK = {"notebook_path": "/test", "base_parameters": {"sim_duration_seconds": "600"}}
CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}


class WorkerLost(Exception):
    """The worker died right after the task state was written."""


@dataclass
class TaskStateStore:
    """``context["task_state_store"]`` of one task instance (Airflow 3.3): ``get`` and ``set``."""

    values: dict[str, Any] = field(default_factory=dict)
    lose_worker_on_set: bool = False

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = value
        if self.lose_worker_on_set:
            raise WorkerLost(key)


def _context(store: TaskStateStore, try_number: int = 1) -> Any:
    ti = ParityTI(dag_id="parity", task_id=TASK_ID, run_id="manual__durable", try_number=try_number)
    return {"ti": ti, "task_state_store": store}


def _requests(workspace: Workspace) -> list[tuple[str, str, Any]]:
    return [(r.method, r.path.split("/", 3)[3], r.body or r.query) for r in workspace.recorder.take()]


def test_exec_pipeline_name(workspace: Workspace) -> None:
    workspace.reset_runs()
    run = {"pipeline_task": {"pipeline_name": "A pipeline"}}
    op = DatabricksSubmitRunOperator(task_id=TASK_ID, json=run, durable=False, deferrable=False)
    op.execute(parity_context(ParityTI(task_id=TASK_ID)))
    requests = _requests(workspace)
    lookups = [query for method, path, query in requests if (method, path) == ("GET", "pipelines")]
    assert lookups == [{"max_results": "25", "filter": "name LIKE 'A pipeline'"}]
    (body,) = [body for method, path, body in requests if (method, path) == ("POST", "jobs/runs/submit")]
    body.pop("idempotency_token")
    assert body == {"pipeline_task": {"pipeline_id": "1234abcd"}, "run_name": TASK_ID}
    assert op.run_id is not None
    assert run == {"pipeline_task": {"pipeline_name": "A pipeline"}}  # the templated field is not changed


def test_init_with_pipeline_name_task_named_parameters(workspace: Workspace) -> None:
    workspace.reset_runs()
    task = {"pipeline_name": "A pipeline", "full_refresh": True}
    op = DatabricksSubmitRunOperator(task_id=TASK_ID, pipeline_task=task, deferrable=False)
    op.execute(parity_context(ParityTI(task_id=TASK_ID)))
    (body,) = [
        b for method, path, b in _requests(workspace) if (method, path) == ("POST", "jobs/runs/submit")
    ]
    assert body["pipeline_task"] == {"pipeline_id": "1234abcd", "full_refresh": True}


def test_polling_period_zero_is_accepted_with_one_warning(
    workspace: Workspace, logs: list[MutableMapping[str, Any]]
) -> None:
    op = DatabricksSubmitRunOperator(task_id=TASK_ID, notebook_task=SLOW_NOTEBOOK, polling_period_seconds=0)
    warnings = messages(logs, "warning")
    assert len(warnings) == 1
    assert "polling_period_seconds=0" in warnings[0]
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(parity_context(ParityTI(task_id=TASK_ID)))
    assert deferred.value.trigger.serialize()[1]["polling_period_seconds"] == MIN_POLLING_PERIOD_SECONDS
    workspace.handle.call(_cancel(workspace, op.run_id))


def _cancel(workspace: Workspace, run_id: int | None) -> Any:
    async def cancel() -> None:
        assert run_id is not None
        workspace.handle.server.state.cancel(run_id)

    return cancel()


def _official_try_then_ours(
    workspace: Workspace, theirs: Any, mine: Any, key: str
) -> tuple[TaskStateStore, TaskDeferred]:
    """The official operator submits and stores its run, its worker dies; the retry runs ours."""
    store = TaskStateStore(lose_worker_on_set=True)
    with pytest.raises(WorkerLost):
        theirs.execute(_context(store))
    store.lose_worker_on_set = False
    assert isinstance(store.values[key], int)
    workspace.reset_runs()
    with pytest.raises(TaskDeferred) as deferred:
        mine.execute(_context(store, try_number=2))
    return store, deferred.value


@pytest.mark.parametrize("kind", ["submit", "run_now"])
def test_reconnects_to_active_run_without_resubmitting(
    kind: str, workspace: Workspace, logs: list[MutableMapping[str, Any]]
) -> None:
    theirs_cls: Any
    mine_cls: Any
    if kind == "submit":
        args: dict[str, Any] = {"notebook_task": SLOW_NOTEBOOK, "new_cluster": CLUSTER}
        theirs_cls, mine_cls, key = (
            official.DatabricksSubmitRunOperator,
            DatabricksSubmitRunOperator,
            "databricks_run_id",
        )
    else:
        workspace.handle.server.state.create_job(
            {"name": "slow", "tasks": [{"task_key": "nb", "notebook_task": SLOW_NOTEBOOK}]}, job_id=401
        )
        args = {"job_id": 401}
        theirs_cls, mine_cls, key = (
            official.DatabricksRunNowOperator,
            DatabricksRunNowOperator,
            "databricks_run_now_id",
        )
    theirs = theirs_cls(task_id=TASK_ID, deferrable=False, **args)
    mine = mine_cls(task_id=TASK_ID, **args)
    store, deferred = _official_try_then_ours(workspace, theirs, mine, key)
    run_id = store.values[key]
    assert deferred.trigger.serialize()[1]["run_id"] == run_id
    assert mine.run_id == run_id
    assert [m for m, _, _ in _requests(workspace)] == ["GET"]  # one runs/get; nothing submitted
    info = messages(logs, "info")
    assert any(f"Re-attached to Databricks run {run_id}" in m for m in info)
    assert any(f"task state key {key!r}" in m for m in info)
    workspace.handle.call(_cancel(workspace, run_id))


def test_a_finished_stored_run_is_not_reattached(workspace: Workspace) -> None:
    store = TaskStateStore()
    done = DatabricksSubmitRunOperator(
        task_id="done", notebook_task={"notebook_path": "/nb"}, deferrable=False
    )
    done.execute(parity_context(ParityTI(task_id="done")))
    store.values["databricks_run_id"] = done.run_id
    workspace.reset_runs()
    mine = DatabricksSubmitRunOperator(
        task_id=TASK_ID, notebook_task={"notebook_path": "/nb"}, deferrable=False
    )
    mine.execute(_context(store, try_number=2))
    submitted = [body for method, path, body in _requests(workspace) if path == "jobs/runs/submit"]
    assert len(submitted) == 1
    assert mine.run_id != done.run_id


def test_a_stored_run_of_other_work_starts_a_new_run(workspace: Workspace) -> None:
    workspace.handle.server.state.create_job(
        {"name": "slow-other", "tasks": [{"task_key": "nb", "notebook_task": SLOW_NOTEBOOK}]}, job_id=402
    )
    other = DatabricksRunNowOperator(task_id="other", job_id=402, wait_for_termination=False)
    other.execute(parity_context(ParityTI(task_id="other")))
    store = TaskStateStore(values={"databricks_run_now_id": other.run_id})
    workspace.reset_runs()
    mine = DatabricksRunNowOperator(task_id=TASK_ID, job_id=101, deferrable=False)
    mine.execute(_context(store, try_number=2))  # job 101 ends at once: a new run of the right job
    assert [path for _, path, _ in _requests(workspace) if path == "jobs/run-now"] == ["jobs/run-now"]
    assert mine.run_id != other.run_id
    workspace.handle.call(_cancel(workspace, other.run_id))


def test_durable_false_never_reads_the_store(workspace: Workspace) -> None:
    store = TaskStateStore(values={"databricks_run_id": 999_999})
    workspace.reset_runs()
    op = DatabricksSubmitRunOperator(
        task_id=TASK_ID, notebook_task={"notebook_path": "/nb"}, deferrable=False, durable=False
    )
    op.execute(_context(store, try_number=2))
    assert _requests(workspace)[0][:2] == ("POST", "jobs/runs/submit")  # no runs/get of the stored run first
