"""``SqlClient`` checks every argument before sending: bad input is one ConfigurationError naming the field.

The client sends through the function it was given; here that function records, so no socket is opened.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_dbx_async.client import ApiError, ConfigurationError, SqlClient

pytestmark = pytest.mark.asyncio


class Recorder:
    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.answer = (
            answer if answer is not None else {"statement_id": "s-1", "status": {"state": "PENDING"}}
        )

    async def __call__(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self.sent.append((method, path, kwargs))
        return dict(self.answer)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def sql(recorder: Recorder) -> SqlClient:
    return SqlClient(recorder)


_OK = ("SELECT 1", "wh-1")


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        (("", "wh-1"), {}, "statement"),
        (("   \n", "wh-1"), {}, "statement"),
        ((None, "wh-1"), {}, "statement"),
        (("SELECT 1", ""), {}, "warehouse_id"),
        (("SELECT 1", "wh/../x"), {}, "warehouse_id"),
        (("SELECT 1", 12), {}, "warehouse_id"),
        (_OK, {"wait_timeout": "3s"}, "wait_timeout"),
        (_OK, {"wait_timeout": "51s"}, "wait_timeout"),
        (_OK, {"wait_timeout": "10"}, "wait_timeout"),
        (_OK, {"wait_timeout": 10}, "wait_timeout"),
        (_OK, {"wait_timeout": "-5s"}, "wait_timeout"),
        (_OK, {"on_wait_timeout": "ABORT"}, "on_wait_timeout"),
        (_OK, {"disposition": "inline"}, "disposition"),
        (_OK, {"format": "PARQUET"}, "format"),
        (_OK, {"format": "CSV"}, "format"),
        (_OK, {"disposition": "INLINE", "format": "ARROW_STREAM"}, "format"),
        (_OK, {"row_limit": 0}, "row_limit"),
        (_OK, {"row_limit": 1.5}, "row_limit"),
        (_OK, {"byte_limit": True}, "byte_limit"),
        (_OK, {"catalog": ""}, "catalog"),
        (_OK, {"schema": 3}, "schema"),
        (_OK, {"parameters": "a=1"}, "parameters"),
        (_OK, {"parameters": [("a", 1)]}, "parameters[0]"),
        (_OK, {"parameters": [{"value": "1"}]}, "parameters[0].name"),
        (_OK, {"parameters": [{"name": "a", "value": True}]}, "parameters[0].value"),
        (_OK, {"parameters": [{"name": "a", "value": [1]}]}, "parameters[0].value"),
        (_OK, {"parameters": [{"name": "a", "type": ""}]}, "parameters[0].type"),
        (_OK, {"parameters": [{"name": "a", "kind": "INT"}]}, "parameters[0]"),
        (_OK, {"query_tags": [("k", "v")]}, "query_tags"),
        (_OK, {"query_tags": {"": "v"}}, "query_tags"),
        (_OK, {"query_tags": {"k": 1}}, "query_tags['k']"),
    ],
)
async def test_bad_input_to_execute_is_refused_before_any_request(sql, recorder, args, kwargs, field):
    with pytest.raises(ConfigurationError) as info:
        await sql.execute_statement(*args, **kwargs)
    assert info.value.field == field
    assert "\n" not in str(info.value)
    assert recorder.sent == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.get_statement(""), "statement_id"),
        (lambda s: s.get_statement("a/b"), "statement_id"),
        (lambda s: s.get_statement(".."), "statement_id"),
        (lambda s: s.get_statement("a?b=1"), "statement_id"),
        (lambda s: s.cancel_statement(None), "statement_id"),
        (lambda s: s.get_statement_result_chunk("s-1", -1), "chunk_index"),
        (lambda s: s.get_statement_result_chunk("s-1", "1"), "chunk_index"),
        (lambda s: s.get_statement_result_chunk("", 0), "statement_id"),
        (lambda s: s.get_warehouse("a b"), "warehouse_id"),
        (lambda s: s.start_warehouse(""), "warehouse_id"),
        (lambda s: s.stop_warehouse("x/y"), "warehouse_id"),
        (lambda s: s.list_warehouses(max_pages=0), "max_pages"),
    ],
)
async def test_bad_ids_are_refused_before_any_request(sql, recorder, call, field):
    with pytest.raises(ConfigurationError) as info:
        await call(sql)
    assert info.value.field == field
    assert recorder.sent == []


async def test_execute_body_holds_only_what_was_given(sql, recorder):
    await sql.execute_statement("SELECT 1", "wh-1")
    assert recorder.sent == [
        (
            "POST",
            "sql/statements",
            {
                "body": {"statement": "SELECT 1", "warehouse_id": "wh-1", "wait_timeout": "0s"},
                "version": "2.0",
                "idempotent": False,
            },
        )
    ]


async def test_execute_body_with_every_field(sql, recorder):
    await sql.execute_statement(
        "SELECT :a, :b, :c",
        "wh-1",
        catalog="main",
        schema="sales",
        parameters=[{"name": "a", "value": 1, "type": "INT"}, {"name": "b", "value": "x"}, {"name": "c"}],
        wait_timeout="30s",
        on_wait_timeout="CANCEL",
        disposition="EXTERNAL_LINKS",
        format="CSV",
        row_limit=10,
        byte_limit=1000,
        query_tags={"team": "data", "flag": None},
    )
    [(_, _, kwargs)] = recorder.sent
    assert kwargs["body"] == {
        "statement": "SELECT :a, :b, :c",
        "warehouse_id": "wh-1",
        "wait_timeout": "30s",
        "catalog": "main",
        "schema": "sales",
        "on_wait_timeout": "CANCEL",
        "disposition": "EXTERNAL_LINKS",
        "format": "CSV",
        "row_limit": 10,
        "byte_limit": 1000,
        "parameters": [
            {"name": "a", "value": "1", "type": "INT"},
            {"name": "b", "value": "x"},
            {"name": "c"},
        ],
        "query_tags": [{"key": "team", "value": "data"}, {"key": "flag"}],
    }


async def test_an_execute_answer_without_statement_id_is_an_invalid_response():
    sql = SqlClient(Recorder({"status": {"state": "PENDING"}}))
    with pytest.raises(ApiError, match="no valid 'statement_id'") as info:
        await sql.execute_statement("SELECT 1", "wh-1")
    assert (info.value.status, info.value.error_code) == (200, "INVALID_RESPONSE")


class Pager(Recorder):
    def __init__(self, *pages: dict[str, Any]) -> None:
        super().__init__()
        self.pages = list(pages)

    async def __call__(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self.sent.append((method, path, kwargs))
        return self.pages.pop(0) if len(self.pages) > 1 else self.pages[0]


async def test_list_warehouses_follows_page_tokens():
    pager = Pager(
        {"warehouses": [{"id": "a", "state": "RUNNING"}], "next_page_token": "p2"},
        {"warehouses": [{"id": "b", "state": "STOPPED"}, "not an object"]},
    )
    listed = await SqlClient(pager).list_warehouses()
    assert [w.id for w in listed] == ["a", "b"]
    assert [kwargs["params"] for _, _, kwargs in pager.sent] == [{"page_token": None}, {"page_token": "p2"}]


async def test_list_warehouses_stops_a_page_loop():
    pager = Pager({"warehouses": [], "next_page_token": "again"})
    with pytest.raises(ApiError) as info:
        await SqlClient(pager).list_warehouses()
    assert info.value.error_code == "PAGINATION_LOOP"
    assert len(pager.sent) == 2
