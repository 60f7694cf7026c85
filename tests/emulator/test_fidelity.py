"""Fidelity to the Jobs API reference: retries, concurrency and queueing, ``only``, cancel-all, bad bodies.

References: https://docs.databricks.com/api/workspace/jobs/create (``max_retries``,
``min_retry_interval_millis``, ``retry_on_timeout``, ``max_concurrent_runs``, ``queue``),
https://docs.databricks.com/api/workspace/jobs/runnow (``only``, ``queue``),
https://docs.databricks.com/api/workspace/jobs/cancelallruns (``all_queued_runs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.emulator.conftest import Api, MakeApi

pytestmark = pytest.mark.asyncio

NB = {"notebook_path": "/Users/me/nb"}


def _task(key: str, **extra: Any) -> dict[str, Any]:
    return {"task_key": key, "notebook_task": NB, "sim_duration_seconds": 0.05, **extra}


async def _job(api: Api, *tasks: dict[str, Any], **settings: Any) -> int:
    body = {"name": "job", "tasks": list(tasks), **settings}
    job_id: int = (await api.post("jobs/create", body))["job_id"]
    return job_id


async def _run_now(api: Api, job_id: int, **extra: Any) -> int:
    run_id: int = (await api.post("jobs/run-now", {"job_id": job_id, **extra}))["run_id"]
    return run_id


async def test_retries_are_new_task_runs_with_attempt_numbers(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    flaky = _task(
        "flaky", max_retries=3, min_retry_interval_millis=100, sim_failing_attempts=2, sim_error="OSError: x"
    )
    always = _task("always", max_retries=1, sim_result="FAILED")
    job_id = await _job(api, flaky, always)
    run = await api.wait_run(await _run_now(api, job_id))
    attempts = [(t["task_key"], t["attempt_number"], t["state"]["result_state"]) for t in run["tasks"]]
    assert sorted(attempts) == [
        ("always", 0, "FAILED"),
        ("always", 1, "FAILED"),
        ("flaky", 0, "FAILED"),
        ("flaky", 1, "FAILED"),
        ("flaky", 2, "SUCCESS"),
    ]
    flaky_runs = sorted(
        (t for t in run["tasks"] if t["task_key"] == "flaky"), key=lambda t: t["attempt_number"]
    )
    assert flaky_runs[1]["start_time"] - flaky_runs[0]["end_time"] >= 100  # min_retry_interval_millis
    assert len({t["run_id"] for t in run["tasks"]}) == 5
    assert run["state"]["result_state"] == "FAILED"
    retried = await api.get("jobs/runs/get", run_id=flaky_runs[2]["run_id"])
    assert retried["attempt_number"] == 2


async def test_timeouts_retry_only_with_retry_on_timeout_and_submit_runs_alike(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    slow = {"sim_duration_seconds": 3, "timeout_seconds": 1, "max_retries": 1}
    job_id = await _job(api, _task("a", **slow), _task("b", **slow, retry_on_timeout=True))
    run = await api.wait_run(await _run_now(api, job_id))
    assert sorted((t["task_key"], t["attempt_number"]) for t in run["tasks"]) == [
        ("a", 0),
        ("b", 0),
        ("b", 1),
    ]
    # runs/submit's SubmitTask has max_retries too (https://docs.databricks.com/api/workspace/jobs/submit)
    submitted = await api.post(
        "jobs/runs/submit", {"tasks": [_task("s", max_retries=2, sim_result="FAILED")]}
    )
    attempts = (await api.wait_run(submitted["run_id"]))["tasks"]
    assert sorted(t["attempt_number"] for t in attempts) == [0, 1, 2]


async def test_waiting_for_retry_between_attempts(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    job_id = await _job(api, _task("t", max_retries=1, min_retry_interval_millis=60_000, sim_result="FAILED"))
    run_id = await _run_now(api, job_id)

    async def waiting() -> dict[str, Any]:
        while True:
            run: dict[str, Any] = await api.get("jobs/runs/get", run_id=run_id)
            if len(run["tasks"]) == 2:
                return run

    run = await waiting()
    retry = next(t for t in run["tasks"] if t["attempt_number"] == 1)
    assert retry["state"]["life_cycle_state"] == "WAITING_FOR_RETRY"
    assert retry["status"]["state"] == "WAITING"
    assert run["state"]["life_cycle_state"] == "RUNNING"
    await api.post("jobs/runs/cancel", {"run_id": run_id})
    assert (await api.wait_run(run_id))["state"]["result_state"] == "CANCELED"


async def test_max_concurrent_runs_skip_queue_and_zero(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    long = _task("t", sim_duration_seconds=0.5)
    skip_job = await _job(api, long, queue={"enabled": False})  # the default of jobs created with 2.1
    first = await _run_now(api, skip_job)
    skipped = await api.wait_run(await _run_now(api, skip_job))
    assert skipped["state"]["life_cycle_state"] == "SKIPPED"
    assert skipped["state"]["result_state"] == "MAXIMUM_CONCURRENT_RUNS_REACHED"
    assert skipped["state"]["state_message"] == (
        "Skipping this run because the limit of 1 maximum concurrent runs has been reached."
    )
    assert skipped["status"]["termination_details"]["code"] == "MAX_CONCURRENT_RUNS_EXCEEDED"

    queue_job = await _job(api, long, queue={"enabled": True})
    await _run_now(api, queue_job)
    second = await _run_now(api, queue_job)
    queued = await api.get("jobs/runs/get", run_id=second)
    assert queued["state"]["life_cycle_state"] == "QUEUED"
    assert queued["state"]["queue_reason"] == "Queued due to reaching maximum concurrent runs of 1."
    assert queued["status"]["queue_details"]["code"] == "MAX_CONCURRENT_RUNS_REACHED"
    assert (await api.wait_run(second))["state"]["result_state"] == "SUCCESS"

    never = await _job(api, long, max_concurrent_runs=0, queue={"enabled": True})
    assert (await api.wait_run(await _run_now(api, never)))["state"]["life_cycle_state"] == "SKIPPED"
    assert (await api.wait_run(first))["state"]["result_state"] == "SUCCESS"


async def test_queue_on_by_default_for_jobs_created_with_2_2(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    job_id = await _job(api, _task("t", sim_duration_seconds=0.5))
    assert (await api.get("jobs/get", job_id=job_id))["settings"]["queue"] == {"enabled": True}
    await _run_now(api, job_id)
    second = await _run_now(api, job_id, queue={"enabled": False})
    assert (await api.wait_run(second))["state"]["life_cycle_state"] == "SKIPPED"


async def test_numbers_and_booleans_sent_as_text_are_kept_as_numbers_and_booleans(make_api: MakeApi) -> None:
    """Protobuf's JSON mapping reads ``"3"`` for an int field and writes 3 (templated bodies send text)."""
    _, api = await make_api(simulate=True)
    task = _task("t", timeout_seconds="60", max_retries="2", retry_on_timeout="true")
    job_id = await _job(api, task, max_concurrent_runs="3", timeout_seconds="600", queue={"enabled": "false"})
    settings = (await api.get("jobs/get", job_id=job_id))["settings"]
    assert (settings["max_concurrent_runs"], settings["timeout_seconds"], settings["queue"]) == (
        3,
        600,
        {"enabled": False},
    )
    (kept,) = settings["tasks"]
    assert (kept["timeout_seconds"], kept["max_retries"], kept["retry_on_timeout"]) == (60, 2, True)
    await api.post("jobs/update", {"job_id": job_id, "new_settings": {"max_concurrent_runs": "5"}})
    assert (await api.get("jobs/get", job_id=job_id))["settings"]["max_concurrent_runs"] == 5
    await api.post("jobs/reset", {"job_id": job_id, "new_settings": {"name": "j", "timeout_seconds": "7"}})
    assert (await api.get("jobs/get", job_id=job_id))["settings"]["timeout_seconds"] == 7


async def test_only_with_upstream_and_downstream_modifiers(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    tasks = [
        _task("a"),
        _task("b", depends_on=[{"task_key": "a"}]),
        _task("c", depends_on=[{"task_key": "b"}]),
        _task("d"),
    ]
    job_id = await _job(api, *tasks, max_concurrent_runs=10)
    for only, keys in (
        (["b"], ["b"]),
        (["+b"], ["a", "b"]),
        (["b+"], ["b", "c"]),
        (["+b+", "d"], ["a", "b", "c", "d"]),
    ):
        run = await api.wait_run(await _run_now(api, job_id, only=only))
        assert sorted(t["task_key"] for t in run["tasks"]) == keys
        assert run["state"]["result_state"] == "SUCCESS"
    status, error = await api.call("POST", "jobs/run-now", json={"job_id": job_id, "only": ["zz"]})
    assert status == 400
    assert "zz" in error["message"]


async def test_cancel_all_runs_only_what_the_reference_says(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True)
    long = _task("t", sim_duration_seconds=30)
    job_a = await _job(api, long, queue={"enabled": True})
    job_b = await _job(api, long, max_concurrent_runs=5, queue={"enabled": False})
    running_a, queued_a = await _run_now(api, job_a), await _run_now(api, job_a)
    running_b = await _run_now(api, job_b)
    status, error = await api.call("POST", "jobs/runs/cancel-all", json={})
    assert (status, error["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    await api.post("jobs/runs/cancel-all", {"all_queued_runs": True})  # queued runs of every job only
    assert (await api.wait_run(queued_a))["state"]["result_state"] == "CANCELED"
    assert (await api.get("jobs/runs/get", run_id=running_a))["state"]["life_cycle_state"] in (
        "PENDING",
        "RUNNING",
    )
    await api.post("jobs/runs/cancel-all", {"job_id": job_b})
    assert (await api.wait_run(running_b))["state"]["result_state"] == "CANCELED"
    assert (await api.get("jobs/runs/get", run_id=running_a))["state"]["life_cycle_state"] in (
        "PENDING",
        "RUNNING",
    )
    await api.post("jobs/runs/cancel", {"run_id": running_a})
    await api.wait_run(running_a)
    status, _ = await api.call("POST", "jobs/runs/delete", json={"run_id": running_a})
    assert status == 200
    status, error = await api.call("GET", "jobs/runs/get", params={"run_id": str(running_a)})
    assert (status, error["message"]) == (400, f"Run {running_a} does not exist.")


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        ("jobs/run-now", {"job_id": 1, "notebook_params": "a=b"}, "MALFORMED_REQUEST", "notebook_params"),
        ("jobs/run-now", {"job_id": 1, "job_parameters": ["a"]}, "MALFORMED_REQUEST", "job_parameters"),
        (
            "jobs/run-now",
            {"job_id": 1, "notebook_params": {"a": {"b": 1}}},
            "MALFORMED_REQUEST",
            "notebook_params.a",
        ),
        ("jobs/run-now", {"job_id": 1, "python_params": "x"}, "MALFORMED_REQUEST", "python_params"),
        (
            "jobs/runs/submit",
            {"tasks": [{"notebook_task": NB}]},
            "INVALID_PARAMETER_VALUE",
            "tasks[0].task_key",
        ),
        ("jobs/runs/submit", {"tasks": [{"task_key": "a"}]}, "INVALID_PARAMETER_VALUE", "tasks[0]"),
        (
            "jobs/runs/submit",
            {"tasks": [{"task_key": "a", "notebook_task": NB, "spark_python_task": {"python_file": "x"}}]},
            "INVALID_PARAMETER_VALUE",
            "notebook_task and spark_python_task",
        ),
        (
            "jobs/runs/submit",
            {"tasks": [_task("a", depends_on="b")]},
            "MALFORMED_REQUEST",
            "tasks[0].depends_on",
        ),
        (
            "jobs/runs/submit",
            {"tasks": [_task("a", libraries=[{"pypi": "x"}])]},
            "MALFORMED_REQUEST",
            "libraries[0].pypi",
        ),
        (
            "jobs/runs/submit",
            {"tasks": [_task("a", libraries=[{}])]},
            "INVALID_PARAMETER_VALUE",
            "libraries[0]",
        ),
        (
            "jobs/runs/submit",
            {"tasks": [_task("a", run_if="SOMETIMES")]},
            "INVALID_PARAMETER_VALUE",
            "run_if",
        ),
        ("jobs/update", {"job_id": 1, "new_settings": []}, "MALFORMED_REQUEST", "new_settings"),
        (
            "jobs/runs/repair",
            {"run_id": 1, "rerun_tasks": ["a", "a"]},
            "INVALID_PARAMETER_VALUE",
            "rerun_tasks",
        ),
        (
            "jobs/create",
            {"tasks": [_task("a", job_cluster_key="nope")]},
            "INVALID_PARAMETER_VALUE",
            "job_cluster_key",
        ),
    ],
)
async def test_bad_bodies_are_400_naming_the_field(
    make_api: MakeApi, path: str, body: dict[str, Any], code: str, field: str
) -> None:
    _, api = await make_api(simulate=True)
    status, error = await api.call("POST", path, json=body)
    assert (status, error["error_code"]) == (400, code)
    assert field in error["message"]
