"""Pipelines, repos and permissions of the client: the answers they read and the input they refuse."""

from __future__ import annotations

import pytest

from airflow_dbx_async.client import ConfigurationError, NotFound, pipeline_name_filter
from tests.integration.conftest import reply

PIPELINES = "/api/2.0/pipelines"


@pytest.mark.asyncio
async def test_a_pipeline_is_found_by_its_exact_name_across_pages(fake, client):
    fake.on(
        "GET",
        PIPELINES,
        {"statuses": [{"pipeline_id": "p-1", "name": "a_b"}], "next_page_token": "2"},
        {"statuses": [{"pipeline_id": "p-2", "name": "a-b"}]},  # LIKE's "_" matches any one character
    )
    assert await client.pipelines.find_pipeline_id_by_name("a_b") == "p-1"
    assert [r.query.get("page_token") for r in fake.requests] == [None, "2"]
    assert fake.requests[0].query["filter"] == "name LIKE 'a_b'"


@pytest.mark.parametrize(
    ("statuses", "message"),
    [
        ([], "no Databricks pipeline is named 'p'"),
        ([{"pipeline_id": "1", "name": "p"}, {"pipeline_id": "2", "name": "p"}], "2 Databricks pipelines"),
    ],
)
@pytest.mark.asyncio
async def test_no_pipeline_or_several_name_the_field(fake, client, statuses, message):
    fake.on("GET", PIPELINES, {"statuses": statuses})
    with pytest.raises(ConfigurationError, match=message) as raised:
        await client.pipelines.find_pipeline_id_by_name("p")
    assert raised.value.field == "pipeline_name"


def test_a_quote_in_a_name_is_doubled() -> None:
    assert pipeline_name_filter("Bob's") == "name LIKE 'Bob''s'"


@pytest.mark.asyncio
async def test_ids_that_are_not_one_path_segment_are_refused_before_any_request(fake, client):
    for call, field in [
        (lambda: client.repos.get_repo("../jobs"), "repo_id"),
        (lambda: client.pipelines.get_pipeline("a/b"), "pipeline_id"),
        (lambda: client.permissions.get_permissions("jobs", True), "object_id"),
        (lambda: client.permissions.get_permissions("../x", 1), "object_type"),
        (lambda: client.pipelines.list_pipelines(max_results=101), "max_results"),
    ]:
        with pytest.raises(ConfigurationError) as raised:
            await call()
        assert raised.value.field == field
    assert fake.requests == []


@pytest.mark.asyncio
async def test_repo_by_path_is_none_for_a_missing_path_or_another_object(fake, client):
    path = "/api/2.0/workspace/get-status"
    fake.on("GET", path, reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"}))
    assert await client.repos.repo_id_by_path("/Repos/a/b") is None
    fake.on("GET", path, {"object_type": "DIRECTORY", "object_id": 7, "path": "/Repos/a"})
    assert await client.repos.repo_id_by_path("/Repos/a") is None
    fake.on("GET", path, reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"}))
    with pytest.raises(NotFound):
        await client.repos.get_status("/Repos/a/b")
