"""Notebook, task and workflow-group constructions executed by the official classes and by ours.

Same recording emulator and comparison as :mod:`tests.parity.test_bodies`: the body of every POST in
order (our derived ``idempotency_token`` removed) and the XCom keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from airflow.providers.databricks.operators import databricks as official
from airflow.providers.databricks.operators import databricks_workflow as official_wf
from airflow.sdk import DAG

from airflow_dbx_async import task_operators as ours
from airflow_dbx_async import workflow as ours_wf
from tests.parity.conftest import ParityTI, parity_context
from tests.parity.test_bodies import Seen, _differences

if TYPE_CHECKING:
    from tests.parity.conftest import Workspace

pytestmark = pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")

CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
PACKAGES = [{"pypi": {"package": "simplejson"}}]
NOTEBOOK_CASES: dict[str, dict[str, Any]] = {
    "new-cluster": {"new_cluster": CLUSTER},
    "existing-cluster": {"existing_cluster_id": "0101-abc"},
    "params-packages": {"new_cluster": CLUSTER, "notebook_params": {"a": "1"}, "notebook_packages": PACKAGES},
    "task-key": {"new_cluster": CLUSTER, "databricks_task_key": "my_notebook"},
    "retries": {"new_cluster": CLUSTER, "max_retries": 2, "min_retry_interval_millis": 500},
    "retry-on-timeout": {"existing_cluster_id": "c1", "retry_on_timeout": "true"},
    "git-source": {"new_cluster": CLUSTER, "source": "GIT"},
    "no-cluster": {},
    "both-clusters": {"new_cluster": CLUSTER, "existing_cluster_id": "c1"},
}
TASK_CASES: dict[str, dict[str, Any]] = {
    "python": {
        "task_config": {"spark_python_task": {"python_file": "dbfs:/a.py"}},
        "existing_cluster_id": "c1",
    },
    "notebook": {"task_config": {"notebook_task": {"notebook_path": "/x"}}, "new_cluster": CLUSTER},
    "config-retries": {
        "task_config": {"notebook_task": {"notebook_path": "/x"}, "max_retries": 1},
        "new_cluster": CLUSTER,
    },
    "operator-retries": {
        "task_config": {"spark_python_task": {"python_file": "dbfs:/a.py"}},
        "new_cluster": CLUSTER,
        "max_retries": "3",
    },
}


def _run(make: Any, workspace: Workspace, task_id: str, *, ours_side: bool, dag_id: str = "parity") -> Seen:
    ti = ParityTI(dag_id=dag_id, task_id=task_id)
    seen = Seen()
    workspace.recorder.take()
    try:
        make().execute(parity_context(ti))
    except Exception as exc:  # a refusal is an outcome to compare
        seen.refused = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    for request in workspace.recorder.take():
        if request.method == "POST":
            body = {k: "<id>" if k in ("run_id", "job_id") else v for k, v in (request.body or {}).items()}
            if ours_side:
                body.pop("idempotency_token", None)
            seen.posts.append((request.path.split("/", 3)[3], body))
    seen.xcom_keys = [key for key, _ in ti.pushed]
    return seen


@pytest.mark.parametrize("case", sorted(NOTEBOOK_CASES))
def test_notebook_operator(case: str, workspace: Workspace) -> None:
    args = {
        "task_id": f"nb-{case}",
        "notebook_path": "/Shared/nb",
        "source": "WORKSPACE",
        "deferrable": False,
    }
    args.update(NOTEBOOK_CASES[case])

    def make(module: Any) -> Any:
        with DAG("parity", schedule=None):
            return module.DatabricksNotebookOperator(**args)

    theirs = _run(lambda: make(official), workspace, str(args["task_id"]), ours_side=False)
    mine = _run(lambda: make(ours), workspace, str(args["task_id"]), ours_side=True)
    assert _differences(theirs, mine) == []


@pytest.mark.parametrize("case", sorted(TASK_CASES))
def test_task_operator(case: str, workspace: Workspace) -> None:
    args: dict[str, Any] = {"task_id": f"task-{case}", "deferrable": False, **TASK_CASES[case]}

    def make(module: Any) -> Any:
        with DAG("parity", schedule=None):
            return module.DatabricksTaskOperator(**args)

    theirs = _run(lambda: make(official), workspace, str(args["task_id"]), ours_side=False)
    mine = _run(lambda: make(ours), workspace, str(args["task_id"]), ours_side=True)
    assert _differences(theirs, mine) == []


def _launch(module_ops: Any, module_wf: Any, reset: bool) -> Any:
    with DAG("parity_wf", schedule=None) as dag:
        with module_wf.DatabricksWorkflowTaskGroup(
            group_id="grp",
            databricks_conn_id="databricks_default",
            job_clusters=[{"job_cluster_key": "k", "new_cluster": CLUSTER}],
            notebook_packages=PACKAGES,
            notebook_params={"ds": "2026", "sim_duration_seconds": "30"},
            extra_job_params={"tags": {"team": "x"}} if reset else {},
            python_params=["p"],
        ):
            first = module_ops.DatabricksNotebookOperator(
                task_id="first", notebook_path="/a", source="WORKSPACE", job_cluster_key="k"
            )
            second = module_ops.DatabricksTaskOperator(
                task_id="second",
                task_config={"spark_python_task": {"python_file": "dbfs:/b.py"}},
                job_cluster_key="k",
                trigger_rule="all_done",
            )
            first >> second
    return dag.get_task("grp.launch")


@pytest.mark.parametrize("reset", [False, True], ids=["create", "reset"])
def test_workflow_launch(reset: bool, workspace: Workspace) -> None:
    """The job settings, create-or-reset and run-now bodies; ours pushes one more XCom (the task keys)."""
    state = workspace.handle.server.state
    seen = []
    for module_ops, module_wf, ours_side in ((official, official_wf, False), (ours, ours_wf, True)):
        for job_id in [j for j, job in state.jobs.items() if job["settings"].get("name") == "parity_wf.grp"]:
            del state.jobs[job_id]
        if reset:
            state.create_job({"name": "parity_wf.grp", "tasks": []})
        launch = _launch(module_ops, module_wf, reset)
        seen.append(
            _run(
                lambda launch=launch: launch, workspace, "grp.launch", ours_side=ours_side, dag_id="parity_wf"
            )
        )
    theirs, mine = seen
    assert theirs.refused is None
    assert mine.refused is None
    assert [path for path, _ in mine.posts] == ["jobs/reset" if reset else "jobs/create", "jobs/run-now"]
    assert mine.posts == theirs.posts
    assert mine.xcom_keys == [*theirs.xcom_keys, ours_wf.XCOM_TASK_KEYS_KEY]
