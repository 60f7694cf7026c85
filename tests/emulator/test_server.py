"""Server plumbing: connection counting, TLS, thread handle, HTML pages, admin endpoints, clusters."""

from __future__ import annotations

import json
import ssl
import warnings
from typing import TYPE_CHECKING

import aiohttp
import pytest

from airflow_dbx_async.emulator import EmulatorConfig, EmulatorServer

PY = {"python_file": "dbfs:/scripts/task.py"}

if TYPE_CHECKING:
    from pathlib import Path

    from tests.emulator.conftest import Api, MakeApi


@pytest.mark.asyncio
async def test_keep_alive_client_is_one_connection(sim: tuple[EmulatorServer, Api]) -> None:
    server, api = sim
    for _ in range(25):
        await api.get("jobs/runs/list")
    stats = await api.ok("GET", "/_emulator/stats")
    assert stats["connections"] == 1
    assert stats["requests"]["GET /api/2.2/jobs/runs/list"] == 25
    headers = {"Authorization": f"Bearer {server.token}"}
    for _ in range(3):
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(server.url, headers=headers, connector=connector) as fresh:
            async with fresh.get("/api/2.1/jobs/runs/list") as resp:
                assert resp.status == 200
    stats = await api.ok("GET", "/_emulator/stats")
    assert stats["connections"] == 4
    assert stats["requests_total"] == 28


@pytest.mark.asyncio
async def test_tls_with_ca_file(make_api: MakeApi) -> None:
    server, _ = await make_api(simulate=True, tls=True)
    assert server.url.startswith("https://127.0.0.1:")
    assert server.ca_file is not None
    context = ssl.create_default_context(cafile=server.ca_file)
    headers = {"Authorization": f"Bearer {server.token}"}
    connector = aiohttp.TCPConnector(ssl=context)
    async with aiohttp.ClientSession(server.url, headers=headers, connector=connector) as session:
        async with session.get("/api/2.2/jobs/runs/list") as resp:
            assert resp.status == 200
    async with aiohttp.ClientSession(server.url) as untrusting:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await untrusting.get("/api/2.2/jobs/runs/list")


@pytest.mark.asyncio
async def test_admin_reset_and_jobs(sim: tuple[EmulatorServer, Api]) -> None:
    _, api = sim
    await api.ok(
        "POST",
        "/_emulator/jobs",
        json={
            "job_id": 77,
            "settings": {"name": "seeded", "tasks": [{"task_key": "a", "spark_python_task": PY}]},
        },
    )
    assert (await api.get("jobs/get", job_id=77))["settings"]["name"] == "seeded"
    run_id = (await api.post("jobs/run-now", {"job_id": 77}))["run_id"]
    assert [r["run_id"] for r in (await api.ok("GET", "/_emulator/runs"))["runs"]] == [run_id]
    assert [j["job_id"] for j in (await api.ok("GET", "/_emulator/jobs"))["jobs"]] == [77]
    await api.ok("POST", "/_emulator/reset")
    stats = await api.ok("GET", "/_emulator/stats")
    assert (stats["runs_total"], stats["requests_total"], stats["active_runs"]) == (0, 0, 0)
    assert (await api.call("GET", "jobs/get", params={"job_id": "77"}))[0] == 400


@pytest.mark.asyncio
async def test_html_index_and_run_page(sim: tuple[EmulatorServer, Api]) -> None:
    _, api = sim
    body = {
        "run_name": "<b>html</b>",
        "tasks": [{"task_key": "a", "spark_python_task": PY, "sim_error": "ValueError: nope"}],
    }
    run_id = (await api.post("jobs/runs/submit", body))["run_id"]
    await api.wait_run(run_id)
    async with api.session.get("/") as resp:
        assert resp.content_type == "text/html"
        index = await resp.text()
    assert f"/run/{run_id}" in index
    assert "&lt;b&gt;html&lt;/b&gt;" in index
    async with api.session.get(f"/run/{run_id}") as resp:
        page = await resp.text()
    assert "TERMINATED / FAILED" in page
    assert "ValueError: nope" in page
    async with api.session.get("/run/123") as resp:
        assert resp.status == 404


@pytest.mark.asyncio
async def test_clusters_and_libraries(make_api: MakeApi, tmp_path: Path) -> None:
    # Clusters exist when declared or created: https://docs.databricks.com/api/workspace/clusters/get
    (tmp_path / "clusters.json").write_text(
        json.dumps({"clusters": [{"cluster_id": "c-1"}]}), encoding="utf-8"
    )
    _, api = await make_api(simulate=True, workspace=tmp_path, clusters=("c-2",))
    cluster = await api.ok("GET", "/api/2.0/clusters/get", params={"cluster_id": "c-1"})
    assert cluster["state"] == "RUNNING"
    await api.ok("POST", "/api/2.0/clusters/delete", json={"cluster_id": "c-1"})
    assert (await api.ok("GET", "/api/2.0/clusters/get", params={"cluster_id": "c-1"}))[
        "state"
    ] == "TERMINATING"
    await api.ok("POST", "/api/2.0/clusters/start", json={"cluster_id": "c-2"})
    await api.ok("POST", "/api/2.0/clusters/restart", json={"cluster_id": "c-2"})
    assert (await api.ok("GET", "/api/2.1/clusters/get", json={"cluster_id": "c-2"}))["state"] == "RESTARTING"
    lib = {"pypi": {"package": "requests"}}
    await api.ok("POST", "/api/2.0/libraries/install", json={"cluster_id": "c-2", "libraries": [lib]})
    status = await api.ok("GET", "/api/2.0/libraries/cluster-status", params={"cluster_id": "c-2"})
    assert status["library_statuses"][0]["status"] == "INSTALLED"
    await api.ok("POST", "/api/2.0/libraries/uninstall", json={"cluster_id": "c-2", "libraries": [lib]})
    status = await api.ok("GET", "/api/2.0/libraries/cluster-status", params={"cluster_id": "c-2"})
    assert status["library_statuses"][0]["status"] == "UNINSTALL_ON_RESTART"
    assert (await api.call("GET", "/api/2.0/clusters/get"))[0] == 400
    created = await api.ok("POST", "/api/2.1/clusters/create", json={"spark_version": "15.4.x-scala2.12"})
    assert (await api.ok("GET", "/api/2.1/clusters/get", params=created))["state"] == "PENDING"
    listed = await api.ok("GET", "/api/2.1/clusters/list")
    assert sorted(c["cluster_id"] for c in listed["clusters"]) == sorted(
        ["c-1", "c-2", created["cluster_id"]]
    )


@pytest.mark.asyncio
async def test_unknown_existing_cluster_is_400(sim: tuple[EmulatorServer, Api]) -> None:
    _, api = sim
    status, error = await api.call("GET", "/api/2.0/clusters/get", params={"cluster_id": "nope"})
    assert (status, error) == (
        400,
        {"error_code": "INVALID_PARAMETER_VALUE", "message": "Cluster nope does not exist"},
    )
    task = {"task_key": "a", "existing_cluster_id": "nope", "spark_python_task": PY}
    status, error = await api.call("POST", "jobs/runs/submit", json={"tasks": [task]})
    assert (status, error["message"]) == (400, "Cluster nope does not exist")
    status, _ = await api.call("POST", "jobs/create", json={"name": "j", "tasks": [task]})
    assert status == 400
    for path in ("/api/2.0/clusters/start", "/api/2.0/libraries/install"):
        body = {"cluster_id": "nope", "libraries": [{"whl": "dbfs:/a.whl"}]}
        assert (await api.call("POST", path, json=body))[0] == 400


def test_start_in_thread_handle() -> None:
    import urllib.request

    with EmulatorServer(EmulatorConfig(simulate=True)).start_in_thread() as handle:
        request = urllib.request.Request(
            handle.url + "/api/2.1/jobs/runs/list", headers={"Authorization": f"Bearer {handle.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("application/json")
        assert handle.ca_file is None
    handle.stop()


@pytest.mark.asyncio
async def test_reset_raises_no_warning_under_the_strictest_filter(sim: tuple[EmulatorServer, Api]) -> None:
    _, api = sim
    await api.post("jobs/runs/submit", {"tasks": [{"task_key": "a", "spark_python_task": PY}]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            await api.ok("POST", "/_emulator/reset")
    assert (await api.ok("GET", "/_emulator/stats"))["runs_total"] == 0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True)]
    + [("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("emulator.example.com", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert EmulatorConfig(host=host).loopback_only is loopback


def test_bound_beyond_loopback_it_warns_and_its_console_needs_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging
    import urllib.error
    import urllib.request

    def status(url: str, token: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    config = EmulatorConfig(host="0.0.0.0", simulate=True)
    with caplog.at_level(logging.WARNING, logger="airflow_dbx_async.emulator"):
        handle = EmulatorServer(config).start_in_thread()
    with handle:
        base = "http://127.0.0.1:" + handle.url.rsplit(":", 1)[1]
        for path in ("/_emulator/stats", "/_emulator/runs", "/", "/run/1"):
            assert status(base + path) == 401, path
            assert status(base + path, "not-the-token") == 403, path
        assert status(base + "/_emulator/stats", handle.token) == 200
        assert status(base + "/", handle.token) == 200
        assert status(base + "/run/1", handle.token) == 404  # past the gate: no such run
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "beyond loopback" in warning
    assert handle.token not in warning


def test_on_loopback_the_console_needs_no_token() -> None:
    import urllib.request

    with EmulatorServer(EmulatorConfig(simulate=True)).start_in_thread() as handle:
        with urllib.request.urlopen(handle.url + "/_emulator/stats", timeout=10) as resp:
            assert resp.status == 200
