"""Statement Execution API 2.0 over real HTTP: statements run on SQLite, results inline or behind links.

References: https://docs.databricks.com/api/workspace/statementexecution/executestatement,
.../statementexecution/getstatement, .../statementexecution/cancelexecution,
.../statementexecution/getstatementresultchunkn. The clock is injected: warehouse starts and result expiry
are reached by moving it, never by sleeping.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from airflow_dbx_async.emulator import DEFAULT_TOKEN, EmulatorConfig, EmulatorState, create_app
from airflow_dbx_async.emulator._warehouse_store import DEFAULT_WAREHOUSE_ID

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.asyncio
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
STATEMENTS = "/api/2.0/sql/statements"
FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
ENDED = ("SUCCEEDED", "FAILED", "CANCELED", "CLOSED")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Sql:
    def __init__(self, client: TestClient[Any, Any], clock: Clock) -> None:
        self.client = client
        self.clock = clock

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        headers = kwargs.pop("headers", AUTH)
        resp = await self.client.request(method, path, json=body, headers=headers, **kwargs)
        return resp.status, await resp.json()

    async def run(self, statement: str, **fields: Any) -> dict[str, Any]:
        body = {"statement": statement, "warehouse_id": DEFAULT_WAREHOUSE_ID, **fields}
        status, answer = await self.call("POST", STATEMENTS, body)
        assert status == 200, answer
        result: dict[str, Any] = answer
        return result

    async def get(self, statement_id: str) -> dict[str, Any]:
        status, answer = await self.call("GET", f"{STATEMENTS}/{statement_id}")
        assert status == 200, answer
        result: dict[str, Any] = answer
        return result

    async def fetch(self, url: str, **headers: str) -> tuple[int, bytes]:
        """Download an external link with a fresh client, as a user would (no workspace headers)."""
        async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
            return resp.status, await resp.read()

    async def until(self, statement_id: str, states: tuple[str, ...]) -> dict[str, Any]:
        async def loop() -> dict[str, Any]:
            while True:
                answer = await self.get(statement_id)
                if answer["status"]["state"] in states:
                    return answer
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(loop(), 20)


@pytest_asyncio.fixture
async def sql() -> AsyncIterator[Sql]:
    clock = Clock()
    config = EmulatorConfig(simulate=True, sql_chunk_rows=2, warehouse_transition_seconds=30)
    app = create_app(config, state=EmulatorState(config, clock=clock))
    async with TestClient(TestServer(app)) as client:
        yield Sql(client, clock)


async def _people(sql: Sql) -> None:
    await sql.run("CREATE TABLE people (id INTEGER, name TEXT, score REAL)")
    await sql.run("INSERT INTO people VALUES (1, 'ada', 9.5), (2, 'bob', NULL), (3, 'cy', 7.0)")


async def test_select_with_parameters_inline_chunks(sql: Sql) -> None:
    await _people(sql)
    answer = await sql.run(
        "SELECT id, name, score FROM people WHERE id >= :low ORDER BY id",
        parameters=[{"name": "low", "value": "1", "type": "INT"}],
        catalog="main",
        schema="default",
    )
    assert answer["status"] == {"state": "SUCCEEDED"}
    manifest = answer["manifest"]
    assert manifest["format"] == "JSON_ARRAY"
    assert manifest["schema"]["column_count"] == 3
    assert [(c["name"], c["type_name"]) for c in manifest["schema"]["columns"]] == [
        ("id", "LONG"),
        ("name", "STRING"),
        ("score", "DOUBLE"),
    ]
    assert (manifest["total_row_count"], manifest["total_chunk_count"], manifest["truncated"]) == (
        3,
        2,
        False,
    )
    assert "total_byte_count" not in manifest  # INLINE has no byte counts
    first = answer["result"]
    assert first["data_array"] == [["1", "ada", "9.5"], ["2", "bob", None]]
    assert (first["chunk_index"], first["next_chunk_index"]) == (0, 1)
    status, second = await sql.call("GET", first["next_chunk_internal_link"])
    assert status == 200
    assert second == {"chunk_index": 1, "row_offset": 2, "row_count": 1, "data_array": [["3", "cy", "7.0"]]}
    again = await sql.get(answer["statement_id"])
    assert again["result"] == first
    status, error = await sql.call("GET", f"{STATEMENTS}/{answer['statement_id']}/result/chunks/2")
    assert (status, error["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "chunk_index" in error["message"]


async def test_catalog_and_schema_are_separate_databases(sql: Sql) -> None:
    await sql.run("CREATE TABLE only_here (x INTEGER)", schema="sales")
    assert (await sql.run("SELECT * FROM only_here", schema="sales"))["status"]["state"] == "SUCCEEDED"
    missing = await sql.run("SELECT * FROM only_here")
    assert missing["status"]["error"]["message"] == "no such table: only_here (line 1, pos 14)"
    assert missing["status"]["sql_state"] == "42P01"


async def test_syntax_error_fails_with_the_engine_message(sql: Sql) -> None:
    answer = await sql.run("SELEC 1")
    assert answer["status"] == {
        "state": "FAILED",
        "error": {"error_code": "BAD_REQUEST", "message": 'near "SELEC": syntax error (line 1, pos 0)'},
        "sql_state": "42601",
    }
    assert "manifest" not in answer
    assert "result" not in answer
    status, error = await sql.call("GET", f"{STATEMENTS}/{answer['statement_id']}/result/chunks/0")
    assert status == 400
    assert "FAILED" in error["message"]


async def test_cancel_of_a_running_statement_interrupts_the_engine(sql: Sql) -> None:
    answer = await sql.run(FOREVER, wait_timeout="0s")
    assert answer["status"]["state"] in ("PENDING", "RUNNING")
    statement_id = answer["statement_id"]
    await sql.until(statement_id, ("RUNNING",))
    status, body = await sql.call("POST", f"{STATEMENTS}/{statement_id}/cancel")
    assert (status, body) == (200, {})
    ended = await sql.until(statement_id, ENDED)
    assert ended == {"statement_id": statement_id, "status": {"state": "CANCELED"}}
    assert (await sql.run("SELECT 1"))["result"]["data_array"] == [["1"]]  # the database is free again


async def test_sleep_ms_makes_a_statement_slow_until_cancelled(sql: Sql) -> None:
    answer = await sql.run("SELECT sleep_ms(600000)", wait_timeout="0s")
    await sql.until(answer["statement_id"], ("RUNNING",))
    await sql.call("POST", f"{STATEMENTS}/{answer['statement_id']}/cancel")
    assert (await sql.until(answer["statement_id"], ENDED))["status"]["state"] == "CANCELED"


async def test_many_waiting_statements_run_at_once_on_one_schema(sql: Sql) -> None:
    """Waits hold no worker thread: 40 statements on one schema are RUNNING together, then all succeed."""
    answers = [await sql.run("SELECT sleep_ms(600000)", wait_timeout="0s") for _ in range(40)]
    ids = [answer["statement_id"] for answer in answers]
    running = [await sql.until(statement_id, ("RUNNING",)) for statement_id in ids]
    assert {answer["status"]["state"] for answer in running} == {"RUNNING"}
    await sql.call("POST", f"{STATEMENTS}/{ids[0]}/cancel")
    assert (await sql.until(ids[0], ENDED))["status"]["state"] == "CANCELED"
    quick = await sql.run("SELECT sleep_ms( 1 );")
    assert quick["status"]["state"] == "SUCCEEDED"
    assert quick["manifest"]["schema"]["columns"][0]["name"] == "sleep_ms( 1 )"  # SQLite's own name
    assert quick["result"]["data_array"] == [["0"]]
    for statement_id in ids[1:]:
        await sql.call("POST", f"{STATEMENTS}/{statement_id}/cancel")


async def test_row_limit_and_byte_limit_truncate(sql: Sql) -> None:
    await _people(sql)
    limited = await sql.run("SELECT id FROM people ORDER BY id", row_limit=2)
    assert (limited["manifest"]["total_row_count"], limited["manifest"]["truncated"]) == (2, True)
    small = await sql.run("SELECT name FROM people ORDER BY id", byte_limit=8)
    assert small["manifest"]["truncated"] is True
    assert small["result"]["data_array"] == [["ada"]]


async def test_external_links_are_served_without_the_bearer_token(sql: Sql) -> None:
    await _people(sql)
    answer = await sql.run("SELECT id, name FROM people ORDER BY id", disposition="EXTERNAL_LINKS")
    manifest = answer["manifest"]
    assert manifest["total_byte_count"] == sum(c["byte_count"] for c in manifest["chunks"])
    (link,) = answer["result"]["external_links"]
    assert (link["chunk_index"], link["row_count"], link["next_chunk_index"]) == (0, 2, 1)
    assert link["expiration"].endswith("Z")
    assert "data_array" not in answer["result"]
    refused, _ = await sql.fetch(link["external_link"], **AUTH)
    assert refused == 400  # like a presigned URL: no second credential
    status, data = await sql.fetch(link["external_link"])
    assert status == 200
    assert json.loads(data) == [["1", "ada"], ["2", "bob"]]
    assert len(data) == link["byte_count"]
    status, nxt = await sql.call("GET", link["next_chunk_internal_link"])
    assert status == 200
    (second,) = nxt["external_links"]
    assert json.loads((await sql.fetch(second["external_link"]))[1]) == [["3", "cy"]]
    sql.clock.now += 16 * 60  # links live 15 minutes
    assert (await sql.fetch(second["external_link"]))[0] == 403


async def test_csv_has_the_header_in_the_first_chunk_only(sql: Sql) -> None:
    await _people(sql)
    answer = await sql.run(
        "SELECT id, score FROM people ORDER BY id", disposition="EXTERNAL_LINKS", format="CSV"
    )
    first = answer["result"]["external_links"][0]
    assert (await sql.fetch(first["external_link"]))[1] == b"id,score\r\n1,9.5\r\n2,null\r\n"
    _, nxt = await sql.call("GET", first["next_chunk_internal_link"])
    assert (await sql.fetch(nxt["external_links"][0]["external_link"]))[1] == b"3,7.0\r\n"


@pytest.mark.parametrize(
    ("fields", "code", "named"),
    [
        ({"wait_timeout": "3s"}, "INVALID_PARAMETER_VALUE", "wait_timeout"),
        ({"wait_timeout": "51s"}, "INVALID_PARAMETER_VALUE", "wait_timeout"),
        ({"wait_timeout": "10"}, "INVALID_PARAMETER_VALUE", "wait_timeout"),
        ({"on_wait_timeout": "WAIT"}, "INVALID_PARAMETER_VALUE", "on_wait_timeout"),
        ({"disposition": "FILE"}, "INVALID_PARAMETER_VALUE", "disposition"),
        ({"format": "CSV"}, "INVALID_PARAMETER_VALUE", "format"),
        ({"format": "ARROW_STREAM", "disposition": "EXTERNAL_LINKS"}, "INVALID_PARAMETER_VALUE", "ARROW"),
        ({"row_limit": 0}, "INVALID_PARAMETER_VALUE", "row_limit"),
        ({"row_limit": "many"}, "MALFORMED_REQUEST", "row_limit"),
        ({"statement": ""}, "INVALID_PARAMETER_VALUE", "statement"),
        ({"statement": 5}, "MALFORMED_REQUEST", "statement"),
        ({"warehouse_id": None}, "INVALID_PARAMETER_VALUE", "warehouse_id"),
        ({"warehouse_id": "nope"}, "INVALID_PARAMETER_VALUE", "nope"),
        ({"parameters": [{"value": "1"}]}, "INVALID_PARAMETER_VALUE", "parameters[0].name"),
        (
            {"parameters": [{"name": "a", "value": "x", "type": "INT"}]},
            "INVALID_PARAMETER_VALUE",
            "[0].value",
        ),
        ({"parameters": [{"name": "a", "type": "ARRAY<INT>"}]}, "INVALID_PARAMETER_VALUE", "[0].type"),
        ({"parameters": {"a": 1}}, "MALFORMED_REQUEST", "parameters"),
        ({"query_tags": [{"value": "v"}]}, "INVALID_PARAMETER_VALUE", "query_tags[0].key"),
    ],
)
async def test_bad_requests_are_400_naming_the_field(
    sql: Sql, fields: dict[str, Any], code: str, named: str
) -> None:
    body = {"statement": "SELECT 1", "warehouse_id": DEFAULT_WAREHOUSE_ID, **fields}
    status, error = await sql.call("POST", STATEMENTS, {k: v for k, v in body.items() if v is not None})
    assert (status, error["error_code"]) == (400, code), error
    assert named in error["message"]


async def test_typed_null_and_boolean_parameters(sql: Sql) -> None:
    answer = await sql.run(
        "SELECT :flag AS flag, :missing IS NULL AS gone, :d AS d",
        parameters=[
            {"name": "flag", "value": "true", "type": "BOOLEAN"},
            {"name": "missing", "type": "STRING"},
            {"name": "d", "value": "2024-01-31", "type": "DATE"},
        ],
        query_tags=[{"key": "team", "value": "data"}],
    )
    assert answer["result"]["data_array"] == [["1", "1", "2024-01-31"]]
    unbound = await sql.run("SELECT :nothing")
    assert unbound["status"]["state"] == "FAILED"
    assert "nothing" in unbound["status"]["error"]["message"]


async def test_unknown_statement_is_404_and_auth_is_checked(sql: Sql) -> None:
    status, error = await sql.call("GET", f"{STATEMENTS}/01ef0000-0000-0000-0000-000000000000")
    assert (status, error["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, _ = await sql.call("POST", f"{STATEMENTS}/nope/cancel")
    assert status == 404
    status, error = await sql.call("POST", STATEMENTS, {"statement": "SELECT 1"}, headers={})
    assert (status, error["error_code"]) == (401, 401)
    status, _ = await sql.call("GET", f"{STATEMENTS}/x", headers={"Authorization": "Bearer wrong"})
    assert status == 403


async def test_a_stopped_warehouse_is_started_by_a_statement(sql: Sql) -> None:
    warehouse = f"/api/2.0/sql/warehouses/{DEFAULT_WAREHOUSE_ID}"
    await sql.call("POST", f"{warehouse}/stop")
    sql.clock.now += 30
    assert (await sql.call("GET", warehouse))[1]["state"] == "STOPPED"
    answer = await sql.run("SELECT 42", wait_timeout="0s")
    assert answer["status"] == {"state": "PENDING"}
    assert (await sql.call("GET", warehouse))[1]["state"] == "STARTING"
    assert (await sql.get(answer["statement_id"]))["status"]["state"] == "PENDING"
    sql.clock.now += 30  # the warehouse is RUNNING now; the statement runs
    done = await sql.until(answer["statement_id"], ENDED)
    assert done["result"]["data_array"] == [["42"]]


async def test_on_wait_timeout_cancel_and_continue(sql: Sql) -> None:
    await sql.call("POST", f"/api/2.0/sql/warehouses/{DEFAULT_WAREHOUSE_ID}/stop")
    sql.clock.now += 30
    # The warehouse needs 30 s of the frozen clock to start, so a 5 s wait always times out.
    cancelled, continued = await asyncio.gather(
        sql.run("SELECT 1", wait_timeout="5s", on_wait_timeout="CANCEL"),
        sql.run("SELECT 1", wait_timeout="5s", on_wait_timeout="CONTINUE"),
    )
    assert cancelled["status"] == {"state": "CANCELED"}
    assert continued["status"] == {"state": "PENDING"}


async def test_results_close_after_an_hour_and_vanish_after_twelve(sql: Sql) -> None:
    answer = await sql.run("SELECT 1")
    sql.clock.now += 3601
    closed = await sql.get(answer["statement_id"])
    assert closed == {"statement_id": answer["statement_id"], "status": {"state": "CLOSED"}}
    sql.clock.now += 12 * 3600
    status, _ = await sql.call("GET", f"{STATEMENTS}/{answer['statement_id']}")
    assert status == 404


async def test_admin_lists_statements(sql: Sql) -> None:
    answer = await sql.run("SELECT 1")
    resp = await sql.client.get("/_emulator/statements")
    listed = (await resp.json())["statements"]
    assert [(s["statement_id"], s["state"]) for s in listed] == [(answer["statement_id"], "SUCCEEDED")]


async def test_faults_reach_statements_warehouses_and_result_links(sql: Sql) -> None:
    answer = await sql.run("SELECT 1", disposition="EXTERNAL_LINKS")
    link = answer["result"]["external_links"][0]["external_link"]
    faults = {"rate": 1, "kinds": ["503"], "paths": ["/sql/", "/storage/"], "seed": 1}
    assert (await sql.client.post("/_emulator/faults", json=faults)).status == 200
    status, error = await sql.call("POST", STATEMENTS, {"statement": "SELECT 1"})
    assert (status, error["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")
    assert (await sql.call("GET", f"/api/2.0/sql/warehouses/{DEFAULT_WAREHOUSE_ID}"))[0] == 503
    assert (await sql.fetch(link))[0] == 503
    await sql.client.post("/_emulator/faults", json={"rate": 0})
    assert (await sql.fetch(link))[0] == 200


async def test_the_admin_view_lists_statements_with_their_times(sql: Sql) -> None:
    done = await sql.run("SELECT 1")
    waiting = await sql.run("SELECT sleep_ms(600000)", wait_timeout="0s")
    await sql.until(waiting["statement_id"], ("RUNNING",))
    status, listed = await sql.call("GET", "/_emulator/statements")
    assert status == 200
    by_id = {s["statement_id"]: s for s in listed["statements"]}
    assert by_id[done["statement_id"]]["state"] == "SUCCEEDED"
    assert by_id[done["statement_id"]]["ended_ms"] >= by_id[done["statement_id"]]["created_ms"]
    assert (by_id[waiting["statement_id"]]["state"], by_id[waiting["statement_id"]]["ended_ms"]) == (
        "RUNNING",
        None,
    )
    await sql.call("POST", f"{STATEMENTS}/{waiting['statement_id']}/cancel")


async def test_an_engine_error_names_the_failing_line_and_position(sql: Sql) -> None:
    """As Databricks appends ``(line L, pos P)`` to an analysis error, the emulator does for SQLite's."""
    await _people(sql)
    answer = await sql.run("SELECT id,\n       nme\nFROM people")
    assert answer["status"]["error"]["message"] == "no such column: nme (line 2, pos 7)"
    assert answer["status"]["sql_state"] == "42703"
    qualified = await sql.run("SELECT p.id, p.nme FROM people p")
    assert qualified["status"]["error"]["message"] == "no such column: p.nme (line 1, pos 13)"


async def test_the_query_history_lists_statements_with_their_warehouse_for_30_days(sql: Sql) -> None:
    """``GET /api/2.0/sql/history/queries``: what ran where, also once the statement itself is a 404."""
    await _people(sql)
    failed = await sql.run("SELECT id,\n       nme\nFROM people")
    history = "/api/2.0/sql/history/queries"
    params = {"filter_by.statement_ids": failed["statement_id"]}
    status, answer = await sql.call("GET", history, params=params)
    assert status == 200, answer
    [info] = answer["res"]
    assert answer["has_next_page"] is False
    assert info["query_id"] == failed["statement_id"]
    assert (info["status"], info["warehouse_id"]) == ("FAILED", DEFAULT_WAREHOUSE_ID)
    assert info["query_text"] == "SELECT id,\n       nme\nFROM people"
    assert info["error_message"] == "no such column: nme (line 2, pos 7)"
    assert info["query_end_time_ms"] >= info["query_start_time_ms"] > 0
    other = {"filter_by.statement_ids": failed["statement_id"], "filter_by.warehouse_ids": "elsewhere"}
    assert (await sql.call("GET", history, params=other))[1]["res"] == []
    status, page = await sql.call("GET", history, params={"max_results": "2"})
    assert [i["status"] for i in page["res"]] == ["FAILED", "FINISHED"]  # newest first
    assert page["has_next_page"] is True
    rest = (await sql.call("GET", history, params={"page_token": page["next_page_token"]}))[1]["res"]
    assert [i["status"] for i in rest] == ["FINISHED"]
    assert (await sql.call("GET", history, params={"filter_by.user_ids": "1"}))[0] == 400

    sql.clock.now += 13 * 3600  # the statement is forgotten, its history entry is not
    assert (await sql.call("GET", f"{STATEMENTS}/{failed['statement_id']}"))[0] == 404
    assert [i["query_id"] for i in (await sql.call("GET", history, params=params))[1]["res"]] == [
        failed["statement_id"]
    ]
    sql.clock.now += 30 * 24 * 3600
    assert (await sql.call("GET", history, params=params))[1]["res"] == []
