from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from airflow_dbx_async.client import ConfigurationError, JobsClient
from airflow_dbx_async.client._pool import SessionPool
from tests.integration.conftest import make_config


def _paged(pages: dict[str, dict[str, object]]):
    """Serve ``pages`` keyed by the request's page_token ('' for the first page)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(pages[request.query.get("page_token", "")])

    return handler


def _job(job_id: int, name: str) -> dict[str, object]:
    return {"job_id": job_id, "settings": {"name": name}}


@pytest.mark.asyncio
async def test_list_jobs_follows_every_page(fake, client):
    fake.on(
        "GET",
        "/api/2.2/jobs/list",
        _paged(
            {
                "": {"jobs": [_job(1, "a"), _job(2, "b")], "next_page_token": "t2"},
                "t2": {"jobs": [_job(3, "c")], "next_page_token": "t3"},
                "t3": {"next_page_token": ""},
            }
        ),
    )
    jobs = await client.list_jobs()
    assert [j["job_id"] for j in jobs] == [1, 2, 3]
    assert [r.query.get("page_token") for r in fake.requests] == [None, "t2", "t3"]


@pytest.mark.asyncio
async def test_iter_runs_follows_every_page(fake, client):
    fake.on(
        "GET",
        "/api/2.2/jobs/runs/list",
        _paged(
            {
                "": {"runs": [{"run_id": 3}, {"run_id": 2}], "next_page_token": "n1"},
                "n1": {"runs": [{"run_id": 1}]},
            }
        ),
    )
    runs = [run.run_id async for run in client.iter_runs(job_id=9, completed_only=True, limit=2)]
    assert runs == [3, 2, 1]
    assert fake.requests[1].query == {
        "job_id": "9",
        "active_only": "false",
        "completed_only": "true",
        "limit": "2",
        "expand_tasks": "false",
        "page_token": "n1",
    }


@pytest.mark.asyncio
async def test_get_run_merges_paginated_tasks(fake, client):
    state = {"life_cycle_state": "RUNNING"}
    first = {
        "run_id": 7,
        "state": state,
        "tasks": [{"run_id": 100 + i, "task_key": f"t{i}"} for i in range(100)],
        "job_clusters": [{"job_cluster_key": "c1"}],
        "next_page_token": "p2",
    }
    second = {
        "run_id": 7,
        "state": state,
        "tasks": [{"run_id": 200 + i, "task_key": f"u{i}"} for i in range(100)],
        "job_clusters": [],
        "next_page_token": "p3",
    }
    third = {"run_id": 7, "state": state, "tasks": [{"run_id": 300, "task_key": "last"}]}
    fake.on("GET", "/api/2.2/jobs/runs/get", _paged({"": first, "p2": second, "p3": third}))
    run = await client.get_run(7)
    assert len(run.tasks) == 201
    assert run.tasks[-1].task_key == "last"
    raw = await client.get_run_json(7)
    assert raw["job_clusters"] == [{"job_cluster_key": "c1"}]
    assert "next_page_token" not in raw
    assert [r.query for r in fake.requests[:3]] == [
        {"run_id": "7"},
        {"run_id": "7", "page_token": "p2"},
        {"run_id": "7", "page_token": "p3"},
    ]


@pytest.mark.asyncio
async def test_get_job_merges_paginated_arrays(fake, client):
    first = {"job_id": 5, "settings": {"name": "n"}, "tasks": [{"task_key": "a"}], "next_page_token": "x"}
    second = {"job_id": 5, "settings": {"name": "n"}, "tasks": [{"task_key": "b"}], "has_more": False}
    fake.on("GET", "/api/2.2/jobs/get", _paged({"": first, "x": second}))
    job = await client.get_job(5)
    assert [t["task_key"] for t in job["tasks"]] == ["a", "b"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        ([_job(1, "ETL"), _job(2, "etl ")], 1),
        ([], "no Databricks job is named 'ETL'"),
        ([_job(2, "etl")], "no Databricks job is named 'ETL'"),
        ([_job(1, "ETL"), _job(3, "ETL")], r"2 Databricks jobs are named 'ETL' \(job ids 1, 3\)"),
    ],
)
async def test_find_job_id_by_name(fake, client, jobs, expected):
    fake.on("GET", "/api/2.2/jobs/list", {"jobs": jobs} if jobs else {})
    if isinstance(expected, int):
        assert await client.find_job_id_by_name("ETL") == expected
    else:
        with pytest.raises(ConfigurationError, match=expected) as info:
            await client.find_job_id_by_name("ETL")
        assert info.value.field == "job_name"
    assert fake.requests[0].query == {"limit": "100", "name": "ETL"}


@pytest.mark.asyncio
async def test_pooled_leases_reuse_one_connection(fake):
    fake.on("GET", "/api/2.2/jobs/runs/get", {"run_id": 1, "state": {"life_cycle_state": "RUNNING"}})
    pool = SessionPool()
    config = make_config(fake)

    async def trigger(polls: int) -> None:
        for _ in range(polls):
            async with pool.lease(config.workspace) as session, JobsClient(config, session=session) as client:
                await client.get_run(1)

    async with pool.lease(config.workspace) as held:
        for _ in range(3):
            await trigger(5)
        await asyncio.gather(trigger(1))
    assert held.closed
    assert len(fake.requests) == 16
    assert len({r.peer for r in fake.requests}) == 1
