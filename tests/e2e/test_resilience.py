"""A triggerer crash and a lost worker: every task finishes right and no Databricks run is duplicated."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.e2e.helpers import StateRecorder, derived_token

if TYPE_CHECKING:
    from airflow_dbx_async.testing import AirflowStack, EmulatorProcess


def _runs_named(emulator: EmulatorProcess, name: str) -> list[dict[str, object]]:
    return [run for run in emulator.runs() if run.get("run_name") == name]


def test_triggerer_crash_loses_no_task(stack: AirflowStack, emulator: EmulatorProcess) -> None:
    dag_id, tasks = "e2e_parallel_dag", ("sleep_1", "sleep_2", "sleep_3")
    run_id = stack.api.trigger_dag(dag_id)
    recorder = StateRecorder(stack, dag_id, run_id, tasks)
    recorder.wait_all({"deferred"}, timeout=120)

    old = stack.triggerers[-1]
    try:
        old.kill()
        assert not old.alive(), "the killed triggerer's process group is still alive"
    finally:
        stack.start_triggerer()  # the tests after this one need a triggerer whatever happens here

    final = recorder.wait_all({"success", "failed"}, timeout=180)
    assert set(final.values()) == {"success"}, (recorder.seen, stack.describe_failure())
    submits = emulator.stats()["submits_by_token"]
    for task_id in tasks:
        assert len(_runs_named(emulator, f"e2e-parallel-{task_id}-{run_id}")) == 1
        token = derived_token(emulator, dag_id, task_id, run_id)
        assert submits.get(token) == 1, (task_id, submits)


def test_retry_after_lost_worker_reattaches(stack: AirflowStack, emulator: EmulatorProcess) -> None:
    dag_id, task_id = "e2e_reattach_dag", "reattach"
    run_id = stack.api.trigger_dag(dag_id)
    state = stack.api.wait_task_state(dag_id, run_id, task_id, {"success", "failed"}, timeout=240)
    assert state == "success", stack.describe_failure()

    tries = stack.api.task_tries(dag_id, run_id, task_id)
    assert [t["state"] for t in tries] == ["failed", "success"], tries
    runs = _runs_named(emulator, f"e2e-reattach-{run_id}")
    assert len(runs) == 1, runs
    assert runs[0]["result_state"] == "SUCCESS"
    # Two submit requests (one per try) carried the same token; Databricks started one run.
    token = derived_token(emulator, dag_id, task_id, run_id)
    assert emulator.stats()["submits_by_token"].get(token) == 2
    second = stack.api.task_log(dag_id, run_id, task_id, 2)
    assert any(f"Re-attached to Databricks run {runs[0]['run_id']}" in line for line in second), second
