"""runs/list: newest first, filters, and keyset page tokens in both directions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.emulator.conftest import Api

pytestmark = pytest.mark.asyncio


async def _submit(api: Api, n: int, duration: float = 30.0) -> list[int]:
    task = {"task_key": "t", "notebook_task": {"notebook_path": "/x"}, "sim_duration_seconds": duration}
    return [
        (await api.post("jobs/runs/submit", {"run_name": f"r{i}", "tasks": [task]}))["run_id"]
        for i in range(n)
    ]


async def _all_pages(api: Api, **params: Any) -> tuple[list[int], int]:
    ids: list[int] = []
    pages, token = 0, ""
    while True:
        page = await api.get("jobs/runs/list", limit=25, page_token=token, **params)
        pages += 1
        ids += [r["run_id"] for r in page.get("runs", [])]
        token = page.get("next_page_token", "")
        if not token:
            return ids, pages


async def test_pages_cover_every_run_once_newest_first(sim: tuple[object, Api]) -> None:
    _, api = sim
    submitted = await _submit(api, 60)
    ids, pages = await _all_pages(api)
    assert ids == sorted(submitted, reverse=True)
    assert pages == 3
    first = await api.get("jobs/runs/list", limit=25)
    assert "has_more" not in first  # removed in 2.2
    second = await api.get("jobs/runs/list", limit=25, page_token=first["next_page_token"])
    back = await api.get("jobs/runs/list", limit=25, page_token=second["prev_page_token"])
    assert [r["run_id"] for r in back["runs"]] == [r["run_id"] for r in first["runs"]]


async def test_active_only_and_completed_only_filter(sim: tuple[object, Api]) -> None:
    _, api = sim
    long_runs = await _submit(api, 3, duration=60.0)
    short = await _submit(api, 2, duration=0.01)
    for run_id in short:
        await api.wait_run(run_id)
    active, _ = await _all_pages(api, active_only="true")
    done, _ = await _all_pages(api, completed_only="true")
    assert active == sorted(long_runs, reverse=True)
    assert done == sorted(short, reverse=True)
    status, body = await api.call(
        "GET", "jobs/runs/list", params={"active_only": "true", "completed_only": "true"}
    )
    assert status == 400
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"


async def test_limit_above_the_maximum_is_refused(sim: tuple[object, Api]) -> None:
    _, api = sim
    status, body = await api.call("GET", "jobs/runs/list", params={"limit": "27"})
    assert status == 400
    assert body["message"] == "Invalid limit 27 - it has to be no more than 26."


async def test_bad_page_token_is_a_clear_400(sim: tuple[object, Api]) -> None:
    _, api = sim
    status, body = await api.call("GET", "jobs/runs/list", params={"page_token": "not-a-token"})
    assert status == 400
    assert "page_token" in body["message"]
