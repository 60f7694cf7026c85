"""One table of the client's endpoints: what each call sends, what Databricks answers, what the call returns.

Shared by the request-shape tests over real HTTP (``test_client_requests.py``, against a recording fake
workspace) and the aioresponses tests of the lowest-versions leg (``tests/lowest``), so both check the
same list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from airflow_dbx_async.client import (
    JobsClient,
    QueryInfo,
    ResultChunk,
    Statement,
    StatementState,
    StatementStatus,
    Warehouse,
    WarehouseState,
)

__all__ = ("ENDPOINTS", "Endpoint")

_TASKS = [
    {"task_key": "t", "notebook_task": {"notebook_path": "/Users/a@b.c/nb"}, "existing_cluster_id": "c"}
]
_LIBS = [{"pypi": {"package": "requests"}}]
_SQL = "/api/2.0/sql"
_SUCCEEDED = {
    "statement_id": "s-1",
    "status": {"state": "SUCCEEDED"},
    "manifest": {
        "format": "JSON_ARRAY",
        "schema": {"column_count": 1, "columns": [{"name": "one", "position": 0}]},
        "total_chunk_count": 1,
        "total_row_count": 1,
        "truncated": False,
    },
    "result": {"chunk_index": 0, "row_offset": 0, "row_count": 1, "data_array": [["1"]]},
}
_WAREHOUSE = {
    "id": "wh-1",
    "name": "wh",
    "state": "RUNNING",
    "num_clusters": 1,
    "health": {"status": "HEALTHY"},
}
_QUERY = {
    "query_id": "s-1",
    "status": "FAILED",
    "endpoint_id": "wh-1",
    "query_text": "SELECT itme",
    "error_message": "no such column: itme",
    "query_start_time_ms": 1000,
    "execution_end_time_ms": 1400,
    "query_end_time_ms": 1500,
}
_RUNNING = Warehouse("wh-1", "wh", WarehouseState.RUNNING, 1, "HEALTHY", "", "RUNNING")


class Endpoint(NamedTuple):
    """One call: the request it must send and the result it must give for ``answer``."""

    call: Callable[[JobsClient], Awaitable[Any]]
    method: str
    path: str
    query: dict[str, str]
    body: Any
    answer: dict[str, Any]
    result: Any


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        lambda c: c.submit_run({"run_name": "r", "tasks": _TASKS}),
        "POST",
        "/api/2.2/jobs/runs/submit",
        {},
        {"run_name": "r", "tasks": _TASKS},
        {"run_id": 969479553499872},
        969479553499872,
    ),
    Endpoint(
        lambda c: c.run_now({"job_id": 5, "job_parameters": {"a": "1"}}),
        "POST",
        "/api/2.2/jobs/run-now",
        {},
        {"job_id": 5, "job_parameters": {"a": "1"}},
        {"run_id": 12, "number_in_job": 12},
        12,
    ),
    Endpoint(
        lambda c: c.get_run_json(7),
        "GET",
        "/api/2.2/jobs/runs/get",
        {"run_id": "7"},
        None,
        {"run_id": 7, "state": {"life_cycle_state": "RUNNING"}},
        {"run_id": 7, "state": {"life_cycle_state": "RUNNING"}},
    ),
    Endpoint(lambda c: c.cancel_run(9), "POST", "/api/2.2/jobs/runs/cancel", {}, {"run_id": 9}, {}, None),
    Endpoint(
        lambda c: c.repair_run({"run_id": 9, "rerun_all_failed_tasks": True}),
        "POST",
        "/api/2.2/jobs/runs/repair",
        {},
        {"run_id": 9, "rerun_all_failed_tasks": True},
        {"repair_id": 314},
        314,
    ),
    Endpoint(
        lambda c: c.get_job(5),
        "GET",
        "/api/2.2/jobs/get",
        {"job_id": "5"},
        None,
        {"job_id": 5, "settings": {"name": "n"}},
        {"job_id": 5, "settings": {"name": "n"}},
    ),
    Endpoint(lambda c: c.list_jobs(), "GET", "/api/2.2/jobs/list", {"limit": "100"}, None, {}, []),
    Endpoint(
        lambda c: c.get_cluster("c-1"),
        "GET",
        "/api/2.1/clusters/get",
        {"cluster_id": "c-1"},
        None,
        {"cluster_id": "c-1", "state": "RUNNING"},
        {"cluster_id": "c-1", "state": "RUNNING"},
    ),
    Endpoint(
        lambda c: c.start_cluster("c-1"),
        "POST",
        "/api/2.1/clusters/start",
        {},
        {"cluster_id": "c-1"},
        {},
        None,
    ),
    Endpoint(
        lambda c: c.restart_cluster("c-1"),
        "POST",
        "/api/2.1/clusters/restart",
        {},
        {"cluster_id": "c-1"},
        {},
        None,
    ),
    Endpoint(
        lambda c: c.terminate_cluster("c-1"),
        "POST",
        "/api/2.1/clusters/delete",
        {},
        {"cluster_id": "c-1"},
        {},
        None,
    ),
    Endpoint(
        lambda c: c.install_libraries("c-1", _LIBS),
        "POST",
        "/api/2.0/libraries/install",
        {},
        {"cluster_id": "c-1", "libraries": _LIBS},
        {},
        None,
    ),
    Endpoint(
        lambda c: c.uninstall_libraries("c-1", _LIBS),
        "POST",
        "/api/2.0/libraries/uninstall",
        {},
        {"cluster_id": "c-1", "libraries": _LIBS},
        {},
        None,
    ),
    Endpoint(
        lambda c: c.cluster_library_status("c-1"),
        "GET",
        "/api/2.0/libraries/cluster-status",
        {"cluster_id": "c-1"},
        None,
        {"cluster_id": "c-1", "library_statuses": []},
        {"cluster_id": "c-1", "library_statuses": []},
    ),
    # -- SQL statements and warehouses (client.sql) ----------------------------------------------
    Endpoint(
        lambda c: c.sql.execute_statement("SELECT 1", "wh-1"),
        "POST",
        f"{_SQL}/statements",
        {},
        {"statement": "SELECT 1", "warehouse_id": "wh-1", "wait_timeout": "0s"},
        {"statement_id": "s-1", "status": {"state": "PENDING"}},
        Statement("s-1", StatementStatus(StatementState.PENDING, raw_state="PENDING")),
    ),
    Endpoint(
        lambda c: c.sql.get_statement("s-1"),
        "GET",
        f"{_SQL}/statements/s-1",
        {},
        None,
        _SUCCEEDED,
        Statement(
            "s-1",
            StatementStatus(StatementState.SUCCEEDED, raw_state="SUCCEEDED"),
            total_row_count=1,
            total_chunk_count=1,
            columns=("one",),
            rows=(("1",),),
        ),
    ),
    Endpoint(
        lambda c: c.sql.cancel_statement("s-1"), "POST", f"{_SQL}/statements/s-1/cancel", {}, None, {}, None
    ),
    Endpoint(
        lambda c: c.sql.get_statement_result_chunk("s-1", 1),
        "GET",
        f"{_SQL}/statements/s-1/result/chunks/1",
        {},
        None,
        {"chunk_index": 1, "row_offset": 2, "row_count": 1, "data_array": [["3", None]]},
        ResultChunk(1, 2, 1, (("3", None),)),
    ),
    Endpoint(
        lambda c: c.sql.get_query("s-1"),
        "GET",
        f"{_SQL}/history/queries",
        {"filter_by.statement_ids": "s-1"},
        None,
        {"res": [_QUERY, {**_QUERY, "query_id": "s-2"}], "has_next_page": False},
        QueryInfo("s-1", "FAILED", "wh-1", "SELECT itme", "no such column: itme", 1000, 1500),
    ),
    Endpoint(
        lambda c: c.sql.get_warehouse("wh-1"),
        "GET",
        f"{_SQL}/warehouses/wh-1",
        {},
        None,
        _WAREHOUSE,
        _RUNNING,
    ),
    Endpoint(
        lambda c: c.sql.list_warehouses(),
        "GET",
        f"{_SQL}/warehouses",
        {},
        None,
        {"warehouses": [_WAREHOUSE]},
        (_RUNNING,),
    ),
    Endpoint(
        lambda c: c.sql.start_warehouse("wh-1"), "POST", f"{_SQL}/warehouses/wh-1/start", {}, None, {}, None
    ),
    Endpoint(
        lambda c: c.sql.stop_warehouse("wh-1"), "POST", f"{_SQL}/warehouses/wh-1/stop", {}, None, {}, None
    ),
    # pipelines, repos and permissions (JobsClient.pipelines, .repos, .permissions)
    Endpoint(
        lambda c: c.pipelines.list_pipelines(filter="name LIKE 'p'"),
        "GET",
        "/api/2.0/pipelines",
        {"max_results": "25", "filter": "name LIKE 'p'"},
        None,
        {"statuses": [{"pipeline_id": "p-1", "name": "p"}]},
        [{"pipeline_id": "p-1", "name": "p"}],
    ),
    Endpoint(
        lambda c: c.pipelines.get_pipeline("p-1"),
        "GET",
        "/api/2.0/pipelines/p-1",
        {},
        None,
        {"pipeline_id": "p-1", "state": "IDLE"},
        {"pipeline_id": "p-1", "state": "IDLE"},
    ),
    Endpoint(
        lambda c: c.repos.create_repo({"url": "https://github.com/a/b", "provider": "gitHub"}),
        "POST",
        "/api/2.0/repos",
        {},
        {"url": "https://github.com/a/b", "provider": "gitHub"},
        {"id": 42, "branch": "main"},
        {"id": 42, "branch": "main"},
    ),
    Endpoint(
        lambda c: c.repos.update_repo(42, {"tag": "v1"}),
        "PATCH",
        "/api/2.0/repos/42",
        {},
        {"tag": "v1"},
        {},
        {},
    ),
    Endpoint(lambda c: c.repos.delete_repo("42"), "DELETE", "/api/2.0/repos/42", {}, None, {}, None),
    Endpoint(
        lambda c: c.repos.repo_id_by_path("/Repos/a/b"),
        "GET",
        "/api/2.0/workspace/get-status",
        {"path": "/Repos/a/b"},
        None,
        {"object_type": "REPO", "object_id": 42, "path": "/Repos/a/b"},
        "42",
    ),
    Endpoint(
        lambda c: c.permissions.update_permissions(
            "jobs", 5, [{"group_name": "g", "permission_level": "CAN_VIEW"}]
        ),
        "PATCH",
        "/api/2.0/permissions/jobs/5",
        {},
        {"access_control_list": [{"group_name": "g", "permission_level": "CAN_VIEW"}]},
        {"object_id": "/jobs/5"},
        {"object_id": "/jobs/5"},
    ),
    Endpoint(
        lambda c: c.permissions.set_permissions("jobs", "5", []),
        "PUT",
        "/api/2.0/permissions/jobs/5",
        {},
        {"access_control_list": []},
        {"object_id": "/jobs/5"},
        {"object_id": "/jobs/5"},
    ),
    Endpoint(
        lambda c: c.permissions.get_permissions("jobs", 5),
        "GET",
        "/api/2.0/permissions/jobs/5",
        {},
        None,
        {"object_id": "/jobs/5"},
        {"object_id": "/jobs/5"},
    ),
    Endpoint(
        lambda c: c.list_jobs("n", page_token="t2", include_user_names=True),
        "GET",
        "/api/2.2/jobs/list",
        {"limit": "100", "name": "n", "page_token": "t2", "include_user_names": "true"},
        None,
        {},
        [],
    ),
)
