"""Wire-contract tests of the Jobs endpoints (simulated mode, real HTTP on loopback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

PY = {"python_file": "dbfs:/scripts/task.py"}

if TYPE_CHECKING:
    from tests.emulator.conftest import Api, MakeApi

pytestmark = pytest.mark.asyncio

NB = {"notebook_path": "/Users/me/nb"}


def _tasks(n: int) -> list[dict[str, object]]:
    return [{"task_key": f"t{i}", "notebook_task": NB, "sim_duration_seconds": 0.05} for i in range(n)]


async def test_job_create_get_list_reset_update_delete(sim: tuple[object, Api]) -> None:
    _, api = sim
    job_id = (await api.post("jobs/create", {"name": "Alpha", "tasks": _tasks(1)}))["job_id"]
    other = (await api.post("jobs/create", {"name": "Beta", "tasks": _tasks(1)}))["job_id"]
    assert job_id > 2**32
    job = await api.get("jobs/get", job_id=job_id)
    assert job["settings"]["name"] == "Alpha"
    assert job["settings"]["tasks"][0]["run_if"] == "ALL_SUCCESS"
    assert job["settings"]["tasks"][0]["notebook_task"]["source"] == "WORKSPACE"
    listed = await api.get("jobs/list", name="alpha", limit=25, expand_tasks="False", page_token="")
    assert [j["job_id"] for j in listed["jobs"]] == [job_id]
    assert "tasks" not in listed["jobs"][0]["settings"]
    assert "has_more" not in listed
    assert await api.post("jobs/reset", {"job_id": str(job_id), "new_settings": {"name": "Gamma"}}) == {}
    assert (await api.get("jobs/get", job_id=job_id))["settings"]["name"] == "Gamma"
    await api.post("jobs/update", {"job_id": job_id, "new_settings": {"tags": {"a": "b"}}})
    assert (await api.get("jobs/get", job_id=job_id))["settings"]["tags"] == {"a": "b"}
    assert await api.post("jobs/delete", {"job_id": other}) == {}
    status, body = await api.call("GET", "jobs/get", params={"job_id": str(other)})
    assert (status, body) == (
        400,
        {"error_code": "INVALID_PARAMETER_VALUE", "message": f"Job {other} does not exist."},
    )


async def test_jobs_list_pagination_with_page_token_and_has_more_on_21(sim: tuple[object, Api]) -> None:
    _, api = sim
    ids = [(await api.post("jobs/create", {"name": f"j{i}", "tasks": _tasks(1)}))["job_id"] for i in range(5)]
    api.version = "2.1"
    first = await api.get("jobs/list", limit=2)
    assert [j["job_id"] for j in first["jobs"]] == ids[::-1][:2]
    assert first["has_more"] is True
    seen = [j["job_id"] for j in first["jobs"]]
    token = first["next_page_token"]
    while token:
        page = await api.get("jobs/list", limit=2, page_token=token)
        seen += [j["job_id"] for j in page["jobs"]]
        token = page.get("next_page_token")
    assert seen == ids[::-1]
    assert (await api.get("jobs/list", limit=2, offset=4))["has_more"] is False


async def test_legacy_single_task_submit_gets_run_name_task_key(sim: tuple[object, Api]) -> None:
    _, api = sim
    body = {
        "run_name": "my_task",
        "notebook_task": NB,
        "new_cluster": {"num_workers": "2"},
        "timeout_seconds": "0",
    }
    run_id = (await api.post("jobs/runs/submit", body))["run_id"]
    run = await api.get("jobs/runs/get", run_id=run_id)
    assert run["run_type"] == "SUBMIT_RUN"
    assert isinstance(run["job_id"], int)
    assert [t["task_key"] for t in run["tasks"]] == ["my_task"]
    task = run["tasks"][0]
    assert task["run_id"] != run_id
    for key in ("start_time", "attempt_number", "state", "run_page_url"):
        assert key in task
    assert run["run_page_url"].endswith(f"/?o=1234567890123456#job/{run['job_id']}/run/{run_id}")
    assert run["run_page_url"].startswith(api.session._base_url.human_repr().rstrip("/"))  # type: ignore[union-attr]


async def test_get_params_from_json_body_and_string_numbers(sim: tuple[object, Api]) -> None:
    _, api = sim
    run_id = (await api.post("jobs/runs/submit", {"tasks": _tasks(1)}))["run_id"]
    run = await api.ok("GET", "jobs/runs/get", json={"run_id": str(run_id)})
    assert run["run_id"] == run_id
    assert run["run_name"] == "Untitled"


async def test_unknown_run_400_and_missing_run_id(sim: tuple[object, Api]) -> None:
    _, api = sim
    status, body = await api.call("GET", "jobs/runs/get", params={"run_id": "42"})
    assert (status, body) == (
        400,
        {"error_code": "INVALID_PARAMETER_VALUE", "message": "Run 42 does not exist."},
    )
    status, body = await api.call("GET", "jobs/runs/get-output", params={"run_id": "42"})
    assert status == 400
    status, body = await api.call("GET", "jobs/runs/get", json={})
    assert status == 400
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    status, body = await api.call("POST", "jobs/run-now", json={"job_id": 0})
    assert (status, body["message"]) == (400, "Job 0 does not exist.")


async def test_not_found_status_switch_gives_404(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True, not_found_status=404)
    status, body = await api.call("GET", "jobs/runs/get", params={"run_id": "42"})
    assert status == 404
    assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST"


async def test_get_output_on_parent_is_400_and_task_output_works(sim: tuple[object, Api]) -> None:
    _, api = sim
    body = {"run_name": "one", "tasks": [{"task_key": "a", "notebook_task": NB, "sim_output": "done"}]}
    run_id = (await api.post("jobs/runs/submit", body))["run_id"]
    run = await api.wait_run(run_id)
    status, err = await api.call("GET", "jobs/runs/get-output", params={"run_id": str(run_id)})
    assert status == 400
    assert err["message"].startswith("Retrieving the output of runs with multiple tasks is not supported.")
    out = await api.get("jobs/runs/get-output", run_id=run["tasks"][0]["run_id"])
    assert out["notebook_output"] == {"result": "done", "truncated": False}
    assert out["metadata"]["task_key"] == "a"
    assert out["metadata"]["job_run_id"] == run_id


async def test_runs_get_on_task_run_id_returns_task_in_run_shape(sim: tuple[object, Api]) -> None:
    _, api = sim
    run_id = (await api.post("jobs/runs/submit", {"tasks": _tasks(2)}))["run_id"]
    run = await api.get("jobs/runs/get", run_id=run_id)
    task_run_id = run["tasks"][1]["run_id"]
    task = await api.get("jobs/runs/get", run_id=task_run_id)
    assert task["run_id"] == task_run_id
    assert task["task_key"] == "t1"
    assert task["parent_run_id"] == run_id
    assert [t["run_id"] for t in task["tasks"]] == [task_run_id]


async def test_api_22_paginates_tasks_and_21_returns_all(sim: tuple[object, Api]) -> None:
    _, api = sim
    run_id = (await api.post("jobs/runs/submit", {"tasks": _tasks(150)}))["run_id"]
    first = await api.get("jobs/runs/get", run_id=run_id)
    assert len(first["tasks"]) == 100
    second = await api.get("jobs/runs/get", run_id=run_id, page_token=first["next_page_token"])
    assert len(second["tasks"]) == 50
    assert "next_page_token" not in second
    assert second["run_id"] == run_id
    keys = {t["task_key"] for t in first["tasks"] + second["tasks"]}
    assert len(keys) == 150
    api.version = "2.1"
    full = await api.get("jobs/runs/get", run_id=run_id)
    assert len(full["tasks"]) == 150
    assert "next_page_token" not in full


async def test_runs_list_filters_and_pagination(sim: tuple[object, Api]) -> None:
    _, api = sim
    job_id = (await api.post("jobs/create", {"name": "J", "tasks": _tasks(1)}))["job_id"]
    quick = [(await api.post("jobs/run-now", {"job_id": job_id}))["run_id"] for _ in range(3)]
    slow = (
        await api.post(
            "jobs/runs/submit",
            {"tasks": [{"task_key": "s", "spark_python_task": PY, "sim_duration_seconds": 60}]},
        )
    )["run_id"]
    for run_id in quick:
        await api.wait_run(run_id)
    active = await api.get("jobs/runs/list", active_only="true")
    assert [r["run_id"] for r in active["runs"]] == [slow]
    done = await api.get("jobs/runs/list", completed_only="true", job_id=job_id)
    assert [r["run_id"] for r in done["runs"]] == quick[::-1]
    ignored = await api.get("jobs/runs/list", active_only="True")
    assert len(ignored["runs"]) == 4
    page1 = await api.get("jobs/runs/list", limit=2)
    page2 = await api.get("jobs/runs/list", limit=2, page_token=page1["next_page_token"])
    assert [r["run_id"] for r in page1["runs"] + page2["runs"]] == [slow, *quick[::-1]]
    by_offset = await api.get("jobs/runs/list", limit=1, offset=3)
    assert [r["run_id"] for r in by_offset["runs"]] == [quick[0]]
    status, body = await api.call(
        "GET", "jobs/runs/list", params={"active_only": "true", "completed_only": "true"}
    )
    assert status == 400
    status, body = await api.call("GET", "jobs/runs/list", params={"limit": "27"})
    assert body["message"] == "Invalid limit 27 - it has to be no more than 26."
    assert "tasks" not in page1["runs"][0]
    expanded = await api.get("jobs/runs/list", limit=1, expand_tasks="true")
    assert expanded["runs"][0]["tasks"][0]["task_key"] == "s"


async def test_run_now_parameters_and_job_parameters(sim: tuple[object, Api]) -> None:
    _, api = sim
    settings = {"name": "P", "tasks": _tasks(1), "parameters": [{"name": "env", "default": "dev"}]}
    job_id = (await api.post("jobs/create", settings))["job_id"]
    answer = await api.post("jobs/run-now", {"job_id": str(job_id), "job_parameters": {"env": "prod"}})
    assert answer["number_in_job"] == answer["run_id"]
    run = await api.get("jobs/runs/get", run_id=answer["run_id"])
    assert run["job_parameters"] == [{"name": "env", "default": "dev", "value": "prod"}]
    assert run["run_type"] == "JOB_RUN"
    assert run["job_id"] == job_id
    nulls = {"job_id": job_id, "jar_params": None, "notebook_params": {"x": "1"}, "python_params": None}
    run2 = await api.get("jobs/runs/get", run_id=(await api.post("jobs/run-now", nulls))["run_id"])
    assert run2["overriding_parameters"] == {"notebook_params": {"x": "1"}}
    assert run2["tasks"][0]["notebook_task"]["base_parameters"]["x"] == "1"
    status, body = await api.call(
        "POST",
        "jobs/run-now",
        json={"job_id": job_id, "job_parameters": {"a": "1"}, "notebook_params": {"b": "2"}},
    )
    assert status == 400


async def test_cancel_and_repair_with_history(sim: tuple[object, Api]) -> None:
    _, api = sim
    tasks = [
        {
            "task_key": "a",
            "spark_python_task": PY,
            "sim_duration_seconds": 0.05,
            "sim_result": "FAILED",
            "sim_error": "ValueError: x",
        },
        {
            "task_key": "b",
            "spark_python_task": PY,
            "depends_on": [{"task_key": "a"}],
            "sim_duration_seconds": 0.05,
        },
    ]
    run_id = (await api.post("jobs/runs/submit", {"run_name": "r", "tasks": tasks}))["run_id"]
    run = await api.wait_run(run_id)
    assert run["state"]["result_state"] == "FAILED"
    assert [t["state"].get("result_state") for t in run["tasks"]] == ["FAILED", "UPSTREAM_FAILED"]
    hist = await api.get("jobs/runs/get", run_id=run_id, include_history="true")
    assert [h["type"] for h in hist["repair_history"]] == ["ORIGINAL"]
    tasks[0]["sim_result"] = "SUCCESS"
    repair = await api.post(
        "jobs/runs/repair", {"run_id": run_id, "rerun_tasks": ["a"], "latest_repair_id": None}
    )
    status, body = await api.call(
        "POST", "jobs/runs/repair", json={"run_id": run_id, "rerun_all_failed_tasks": True}
    )
    assert status == 400  # still active, or latest_repair_id missing
    run = await api.wait_run(run_id)
    hist = await api.get("jobs/runs/get", run_id=run_id, include_history="true")
    assert [h["type"] for h in hist["repair_history"]] == ["ORIGINAL", "REPAIR"]
    assert hist["repair_history"][1]["id"] == repair["repair_id"]
    assert len(run["tasks"]) == 3
    again = {"run_id": run_id, "rerun_all_failed_tasks": True, "rerun_dependent_tasks": True}
    status, body = await api.call("POST", "jobs/runs/repair", json=again)
    assert status == 400
    assert "latest_repair_id" in body["message"]
    again["latest_repair_id"] = repair["repair_id"]
    await api.post("jobs/runs/repair", again)
    run = await api.wait_run(run_id)
    assert len(run["tasks"]) == 5
    slow = (
        await api.post(
            "jobs/runs/submit",
            {"tasks": [{"task_key": "s", "spark_python_task": PY, "sim_duration_seconds": 60}]},
        )
    )["run_id"]
    assert await api.post("jobs/runs/cancel", {"run_id": str(slow)}) == {}
    terminating = await api.get("jobs/runs/get", run_id=slow)  # cancellation is asynchronous
    assert terminating["state"]["life_cycle_state"] == "TERMINATING"
    cancelled = await api.wait_run(slow)
    assert cancelled["state"]["life_cycle_state"] == "TERMINATED"
    assert cancelled["state"]["result_state"] == "CANCELED"
    assert cancelled["state"]["user_cancelled_or_timedout"] is True
    assert cancelled["status"]["termination_details"]["code"] == "USER_CANCELED"
    assert await api.post("jobs/runs/cancel", {"run_id": slow}) == {}


async def test_error_shapes_for_bad_bodies_and_unknown_endpoints(sim: tuple[object, Api]) -> None:
    _, api = sim
    status, body = await api.call(
        "POST", "jobs/runs/submit", data=b"{not json", headers={"Content-Type": "x"}
    )
    assert (status, body["error_code"]) == (400, "MALFORMED_REQUEST")
    status, body = await api.call("POST", "jobs/runs/submit", json={})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, body = await api.call("POST", "jobs/runs/submit", json={"tasks": [{"task_key": "a b"}]})
    assert status == 400
    bad_dep = {"tasks": [{"task_key": "a", "spark_python_task": PY, "depends_on": [{"task_key": "zz"}]}]}
    assert (await api.call("POST", "jobs/runs/submit", json=bad_dep))[0] == 400
    status, body = await api.call("GET", "jobs/nope")
    assert (status, body["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    status, body = await api.call("POST", "jobs/runs/get", json={})
    assert status == 405
    status, body = await api.call("POST", "jobs/runs/cancel")
    assert status == 400


async def test_jobs_get_22_paginates_tasks(sim: tuple[object, Api]) -> None:
    _, api = sim
    job_id = (await api.post("jobs/create", {"name": "big", "tasks": _tasks(120)}))["job_id"]
    first = await api.get("jobs/get", job_id=job_id)
    assert len(first["settings"]["tasks"]) == 100
    second = await api.get("jobs/get", job_id=job_id, page_token=first["next_page_token"])
    assert len(second["settings"]["tasks"]) == 20
    assert "next_page_token" not in second
