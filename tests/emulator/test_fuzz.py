"""Type-mangled requests never get a 5xx: every malformed body is a Databricks-shaped 400.

Each endpoint's valid request is mangled one field at a time (every nested field, replaced by values of
other JSON types, or removed), plus whole-body mangles; a seeded sample of at least 2,000 requests goes to
a simulated emulator, which must answer none with 5xx and still serve a valid run afterwards.
"""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

import pytest

from airflow_dbx_async.emulator._warehouse_store import DEFAULT_WAREHOUSE_ID as WAREHOUSE
from tests.emulator.conftest import Api

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.emulator.conftest import MakeApi

pytestmark = pytest.mark.asyncio

SEED = 20261202
REQUESTS = 2_400
_ODD: list[Any] = ["x", "", "٥", -1, 0, 1.5, 10**30, True, [], ["a"], [{"a": 1}], {}, {"a": {"b": 1}}, None]
_REMOVE = object()


def _valid(
    job_id: int, run_id: int, task_run_id: int, statement_id: str, pipeline_id: str, repo_id: int
) -> list[tuple[str, str, Any]]:
    task = {
        "task_key": "a",
        "notebook_task": {"notebook_path": "/Users/me/nb", "base_parameters": {"p": "1"}},
        "libraries": [{"pypi": {"package": "requests"}}, {"whl": "dbfs:/x.whl"}],
        "timeout_seconds": 60,
        "max_retries": 1,
        "min_retry_interval_millis": 0,
        "retry_on_timeout": False,
        "run_if": "ALL_SUCCESS",
        "sim_duration_seconds": 0.01,
        "job_cluster_key": "jc",
    }
    downstream = {
        "task_key": "b",
        "depends_on": [{"task_key": "a"}],
        "spark_python_task": {"python_file": "dbfs:/b.py", "parameters": ["1"]},
    }
    settings = {
        "name": "fuzz",
        "tasks": [task, downstream],
        "job_clusters": [{"job_cluster_key": "jc", "new_cluster": {"num_workers": 1}}],
        "parameters": [{"name": "k", "default": "v"}],
        "max_concurrent_runs": 2,
        "queue": {"enabled": True},
        "tags": {"team": "data"},
    }
    submit_task = {k: v for k, v in task.items() if k != "job_cluster_key"}
    statement = {
        "statement": "SELECT :a AS a, :b AS b",
        "warehouse_id": WAREHOUSE,
        "parameters": [{"name": "a", "value": "1", "type": "INT"}, {"name": "b", "value": "x"}],
        "wait_timeout": "5s",
        "on_wait_timeout": "CONTINUE",
        "disposition": "EXTERNAL_LINKS",
        "format": "CSV",
        "row_limit": 10,
        "byte_limit": 1000,
        "catalog": "main",
        "schema": "fuzz",
        "query_tags": [{"key": "team", "value": "data"}],
    }
    warehouse = {"name": "fuzz", "cluster_size": "Small", "auto_stop_mins": 10, "max_num_clusters": 2}
    params = {"notebook_params": {"a": "b"}, "python_params": ["x"]}
    acl = [
        {"user_name": "owner@example.com", "permission_level": "IS_OWNER"},
        {"group_name": "g", "permission_level": "CAN_VIEW"},
        {"service_principal_name": "sp", "permission_level": "CAN_MANAGE_RUN"},
    ]
    pipeline = {
        "name": "fuzz",
        "allow_duplicate_names": True,
        "libraries": [{"notebook": {"path": "/Users/me/dlt"}}],
        "configuration": {"k": "v"},
        "continuous": False,
        "parameters": {"p": "1"},
    }
    return [
        ("POST", "jobs/create", settings),
        ("POST", "jobs/reset", {"job_id": job_id, "new_settings": settings}),
        (
            "POST",
            "jobs/update",
            {
                "job_id": job_id,
                "new_settings": {"name": "n", "tasks": [downstream]},
                "fields_to_remove": ["tags"],
            },
        ),
        (
            "POST",
            "jobs/run-now",
            {
                "job_id": job_id,
                **params,
                "only": ["a"],
                "idempotency_token": "t",
                "queue": {"enabled": False},
            },
        ),
        ("POST", "jobs/run-now", {"job_id": job_id, "job_parameters": {"k": "v"}}),
        ("POST", "jobs/run-now", {"job_id": job_id, "jar_params": ["j"], "python_params": ["p"]}),
        ("POST", "jobs/runs/submit", {"run_name": "r", "tasks": [submit_task], "timeout_seconds": 100}),
        (
            "POST",
            "jobs/runs/submit",
            {
                "run_name": "legacy",
                "spark_python_task": {"python_file": "dbfs:/a.py", "parameters": ["1"]},
                "libraries": [{"maven": {"coordinates": "a:b:1"}}],
            },
        ),
        (
            "POST",
            "jobs/runs/repair",
            {"run_id": run_id, "rerun_tasks": ["a"], "rerun_dependent_tasks": True, **params},
        ),
        ("POST", "jobs/runs/cancel", {"run_id": run_id}),
        ("POST", "jobs/runs/cancel-all", {"job_id": job_id, "all_queued_runs": True}),
        ("POST", "jobs/runs/delete", {"run_id": run_id}),
        ("POST", "jobs/delete", {"job_id": job_id}),
        ("GET", "jobs/get", {"job_id": job_id}),
        ("GET", "jobs/list", {"limit": 5, "name": "fuzz", "expand_tasks": True, "offset": 0}),
        ("GET", "jobs/runs/get", {"run_id": run_id, "include_history": True}),
        ("GET", "jobs/runs/get-output", {"run_id": task_run_id}),
        ("GET", "jobs/runs/export", {"run_id": task_run_id, "views_to_export": "CODE"}),
        ("GET", "jobs/runs/list", {"job_id": job_id, "limit": 5, "active_only": True, "start_time_from": 1}),
        ("GET", "/api/2.0/clusters/get", {"cluster_id": "c"}),
        (
            "POST",
            "/api/2.0/libraries/install",
            {"cluster_id": "c", "libraries": [{"pypi": {"package": "x"}}]},
        ),
        ("POST", "/api/2.0/sql/statements", statement),
        ("GET", f"/api/2.0/sql/statements/{statement_id}", {}),
        ("POST", f"/api/2.0/sql/statements/{statement_id}/cancel", {}),
        ("GET", f"/api/2.0/sql/statements/{statement_id}/result/chunks/0", {}),
        ("POST", "/api/2.0/sql/warehouses", warehouse),
        ("POST", f"/api/2.0/sql/warehouses/{WAREHOUSE}/edit", warehouse),
        ("POST", f"/api/2.0/sql/warehouses/{WAREHOUSE}/stop", {}),
        ("POST", f"/api/2.0/sql/warehouses/{WAREHOUSE}/start", {}),
        ("GET", f"/api/2.0/sql/warehouses/{WAREHOUSE}", {}),
        ("GET", "/api/2.0/sql/warehouses", {}),
        ("POST", "jobs/create", {**settings, "access_control_list": acl}),
        ("PUT", f"/api/2.0/permissions/jobs/{job_id}", {"access_control_list": acl}),
        ("PATCH", f"/api/2.0/permissions/jobs/{job_id}", {"access_control_list": acl[1:]}),
        ("GET", f"/api/2.0/permissions/jobs/{job_id}", {}),
        ("POST", "/api/2.0/pipelines", pipeline),
        (
            "GET",
            "/api/2.0/pipelines",
            {"filter": "name LIKE 'fu%'", "max_results": 5, "order_by": "name desc"},
        ),
        ("GET", f"/api/2.0/pipelines/{pipeline_id}", {}),
        ("DELETE", f"/api/2.0/pipelines/{pipeline_id}", {}),
        (
            "POST",
            "/api/2.0/repos",
            {"url": "https://github.com/me/r.git", "provider": "gitHub", "path": "/Repos/me/r"},
        ),
        ("PATCH", f"/api/2.0/repos/{repo_id}", {"branch": "dev"}),
        ("PATCH", f"/api/2.0/repos/{repo_id}", {"tag": "v1"}),
        ("GET", f"/api/2.0/repos/{repo_id}", {}),
        ("DELETE", f"/api/2.0/repos/{repo_id}", {}),
        ("GET", "/api/2.0/workspace/get-status", {"path": "/Repos/me/r"}),
    ]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


def _replace(body: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for step in path[:-1]:
        target = target[step]
    if new is _REMOVE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return copy


def _mangled(valid: list[tuple[str, str, Any]]) -> list[tuple[str, str, Any]]:
    cases: list[tuple[str, str, Any]] = []
    for method, path, body in valid:
        if not body:
            cases.append((method, path, body))
        cases += [(method, path, whole) for whole in ([], "body", 5, [body], {"": body})]
        for field in _paths(body):
            cases += [(method, path, _replace(body, field, odd)) for odd in [*_ODD, _REMOVE]]
    return cases


async def _send(api: Api, method: str, path: str, body: Any) -> int:
    if method == "GET" and isinstance(body, dict):
        query = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        status, _ = await api.call("GET", path, params=query)
        return status
    status, answer = await api.call(
        method, path, data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    if status >= 400:
        assert set(answer) >= {"error_code", "message"}, answer
    return status


async def _fixtures(api: Api) -> tuple[int, int, int, str, str, int]:
    task = {"task_key": "a", "notebook_task": {"notebook_path": "/nb"}, "sim_duration_seconds": 0.01}
    job_id = (await api.post("jobs/create", {"name": "base", "tasks": [task]}))["job_id"]
    run = await api.wait_run((await api.post("jobs/run-now", {"job_id": job_id}))["run_id"])
    body = {"statement": "SELECT 1", "warehouse_id": WAREHOUSE}
    statement = await api.post("/api/2.0/sql/statements", body)
    pipeline = await api.post("/api/2.0/pipelines", {"name": "base", "allow_duplicate_names": True})
    repo = {"url": "https://github.com/me/base.git", "provider": "gitHub", "path": f"/Repos/me/base-{job_id}"}
    repo_id = (await api.post("/api/2.0/repos", repo))["id"]
    return (
        job_id,
        run["run_id"],
        run["tasks"][0]["run_id"],
        statement["statement_id"],
        pipeline["pipeline_id"],
        repo_id,
    )


async def test_no_5xx_for_mangled_requests(make_api: MakeApi) -> None:
    _, api = await make_api(simulate=True, sim_duration_seconds=0.01, warehouse_transition_seconds=0.01)
    cases = _mangled(_valid(*await _fixtures(api)))
    sample = random.Random(SEED).choices(cases, k=REQUESTS)
    statuses = [await _send(api, method, path, body) for method, path, body in sample]
    failures = [(case, status) for case, status in zip(sample, statuses, strict=True) if status >= 500]
    assert failures == [], failures[:5]
    assert len(statuses) >= 2_000
    assert sum(400 <= s < 500 for s in statuses) > len(statuses) // 4  # most mangles are refused
    job_id, run_id, _, statement_id, pipeline_id, _ = await _fixtures(api)  # still serving, state intact
    assert (await api.get("jobs/runs/get", run_id=run_id))["state"]["result_state"] == "SUCCESS"
    assert (await api.get("jobs/get", job_id=job_id))["job_id"] == job_id
    statement = await api.get(f"/api/2.0/sql/statements/{statement_id}")
    assert statement["status"]["state"] == "SUCCEEDED"
    assert (await api.get(f"/api/2.0/pipelines/{pipeline_id}"))["state"] == "IDLE"
