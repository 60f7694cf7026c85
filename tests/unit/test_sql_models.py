"""The SQL models are parsed once and never raise; ``judge_statement`` is one pure table."""

from __future__ import annotations

import pickle

import pytest

from airflow_dbx_async.client import (
    QueryInfo,
    ResultChunk,
    Statement,
    StatementOutcome,
    StatementState,
    StatementStatus,
    Warehouse,
    WarehouseState,
    judge_statement,
)

_FAILED = {
    "state": "FAILED",
    "error": {"error_code": "BAD_REQUEST", "message": 'near "SELEC": syntax error'},
    "sql_state": "42601",
}
_SUCCEEDED = {
    "statement_id": "01ef-abc",
    "status": {"state": "SUCCEEDED"},
    "manifest": {
        "format": "JSON_ARRAY",
        "schema": {
            "column_count": 2,
            "columns": [{"name": "n", "position": 0}, {"name": "s", "position": 1}],
        },
        "total_chunk_count": 2,
        "chunks": [{"chunk_index": 0, "row_offset": 0, "row_count": 2}],
        "total_row_count": 3,
        "truncated": False,
    },
    "result": {
        "chunk_index": 0,
        "row_offset": 0,
        "row_count": 2,
        "data_array": [["1", "a"], ["2", None]],
        "next_chunk_index": 1,
        "next_chunk_internal_link": "/api/2.0/sql/statements/01ef-abc/result/chunks/1",
    },
}


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("PENDING", StatementState.PENDING),
        ("RUNNING", StatementState.RUNNING),
        ("SUCCEEDED", StatementState.SUCCEEDED),
        ("FAILED", StatementState.FAILED),
        ("CANCELED", StatementState.CANCELED),
        ("CLOSED", StatementState.CLOSED),
        ("QUEUED_SOMEWHERE_NEW", StatementState.UNKNOWN),
        ("", StatementState.UNKNOWN),
        (None, StatementState.UNKNOWN),
        (7, StatementState.UNKNOWN),
    ],
)
def test_statement_state_parse(raw, state):
    assert StatementState.parse(raw) is state


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"state": "RUNNING"}, StatementStatus(StatementState.RUNNING, raw_state="RUNNING")),
        (
            _FAILED,
            StatementStatus(
                StatementState.FAILED, "BAD_REQUEST", 'near "SELEC": syntax error', "42601", "FAILED"
            ),
        ),
        (
            {"state": "FAILED", "error": "not an object"},
            StatementStatus(StatementState.FAILED, raw_state="FAILED"),
        ),
        ({"state": "FAILED", "sql_state": ""}, StatementStatus(StatementState.FAILED, raw_state="FAILED")),
        ({"state": "NEW"}, StatementStatus(StatementState.UNKNOWN, raw_state="NEW")),
        ({}, StatementStatus(StatementState.UNKNOWN)),
        (None, StatementStatus(StatementState.UNKNOWN)),
        ([1, 2], StatementStatus(StatementState.UNKNOWN)),
    ],
)
def test_statement_status_from_api(data, expected):
    assert StatementStatus.from_api(data) == expected


@pytest.mark.parametrize(
    ("status", "outcome", "final", "reason"),
    [
        ({"state": "PENDING"}, StatementOutcome.PENDING, False, "PENDING"),
        ({"state": "RUNNING"}, StatementOutcome.PENDING, False, "RUNNING"),
        ({"state": "SUCCEEDED"}, StatementOutcome.SUCCEEDED, True, "SUCCEEDED"),
        (
            _FAILED,
            StatementOutcome.FAILED,
            True,
            'FAILED: BAD_REQUEST: near "SELEC": syntax error (SQLSTATE 42601)',
        ),
        ({"state": "FAILED"}, StatementOutcome.FAILED, True, "FAILED"),
        ({"state": "CANCELED"}, StatementOutcome.CANCELED, True, "CANCELED"),
        ({"state": "CLOSED"}, StatementOutcome.CLOSED, True, "CLOSED"),
        ({"state": "PAUSED"}, StatementOutcome.UNKNOWN, False, "unrecognised statement state 'PAUSED'"),
        ({}, StatementOutcome.UNKNOWN, False, "unrecognised statement state '<missing>'"),
    ],
)
def test_judge_statement(status, outcome, final, reason):
    judgement = judge_statement(StatementStatus.from_api(status))
    assert (judgement.outcome, judgement.is_final, judgement.reason) == (outcome, final, reason)


def test_terminal_states_are_exactly_the_final_outcomes():
    for state in StatementState:
        judgement = judge_statement(StatementStatus(state, raw_state=state.value))
        assert state.is_terminal is judgement.is_final, state


def test_succeeded_statement_with_inline_rows():
    statement = Statement.from_api(_SUCCEEDED)
    assert statement.statement_id == "01ef-abc"
    assert statement.status.state is StatementState.SUCCEEDED
    assert (statement.total_row_count, statement.total_chunk_count) == (3, 2)
    assert statement.columns == ("n", "s")
    assert statement.rows == (("1", "a"), ("2", None))
    assert statement.next_chunk_index == 1
    assert statement.truncated is False


@pytest.mark.parametrize(
    "data",
    [
        {"statement_id": "s", "status": {"state": "PENDING"}},
        {"statement_id": "s", "status": {"state": "PENDING"}, "manifest": None, "result": None},
        {"statement_id": "s", "status": {"state": "PENDING"}, "manifest": {"schema": {"columns": "x"}}},
    ],
)
def test_pending_statement_has_no_result(data):
    statement = Statement.from_api(data)
    assert (statement.statement_id, statement.status.state) == ("s", StatementState.PENDING)
    assert (statement.total_row_count, statement.total_chunk_count, statement.columns) == (None, None, ())
    assert (statement.rows, statement.next_chunk_index) == (None, None)


def test_missing_and_malformed_fields_give_empty_values():
    statement = Statement.from_api(None)
    assert statement == Statement("", StatementStatus(StatementState.UNKNOWN))
    odd = Statement.from_api(
        {
            "statement_id": 5,
            "manifest": {"total_row_count": "12", "total_chunk_count": -1, "truncated": "yes"},
            "result": {"data_array": [["1", 2, 3.5], "not a row"], "next_chunk_index": "x"},
        }
    )
    assert (odd.statement_id, odd.total_row_count, odd.total_chunk_count, odd.truncated) == (
        "",
        12,
        None,
        False,
    )
    assert odd.rows == (("1", "2", "3.5"),)
    assert odd.next_chunk_index is None


def test_a_succeeded_statement_without_rows():
    data = {
        "statement_id": "s",
        "status": {"state": "SUCCEEDED"},
        "manifest": {"schema": {"column_count": 0}, "total_chunk_count": 0, "total_row_count": 0},
    }
    statement = Statement.from_api(data)
    assert (statement.total_row_count, statement.total_chunk_count, statement.rows) == (0, 0, None)


def test_inline_chunk():
    chunk = ResultChunk.from_api(
        {"chunk_index": 2, "row_offset": 20000, "row_count": 1, "data_array": [[None]], "next_chunk_index": 3}
    )
    assert chunk == ResultChunk(2, 20000, 1, ((None,),), 3)


def test_external_links_chunk_keeps_its_urls_out_of_the_repr():
    url = "https://storage.example.com/r/0?sig=SECRET-SIGNATURE"
    chunk = ResultChunk.from_api(
        {
            "external_links": [
                {
                    "chunk_index": 1,
                    "row_offset": 10,
                    "row_count": 5,
                    "external_link": url,
                    "next_chunk_index": 2,
                }
            ]
        }
    )
    assert (chunk.chunk_index, chunk.row_offset, chunk.row_count, chunk.rows) == (1, 10, 5, None)
    assert (chunk.next_chunk_index, chunk.external_links) == (2, (url,))
    assert "SECRET-SIGNATURE" not in repr(chunk)
    statement = Statement.from_api(
        {"statement_id": "s", "result": {"external_links": [{"external_link": url}]}}
    )
    assert statement.rows is None


def test_last_chunk_has_no_next():
    assert ResultChunk.from_api({"chunk_index": 4, "data_array": []}).next_chunk_index is None
    assert ResultChunk.from_api({"chunk_index": 4, "data_array": []}).rows == ()


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("STARTING", WarehouseState.STARTING),
        ("RUNNING", WarehouseState.RUNNING),
        ("STOPPING", WarehouseState.STOPPING),
        ("STOPPED", WarehouseState.STOPPED),
        ("DELETING", WarehouseState.DELETING),
        ("DELETED", WarehouseState.DELETED),
        ("HIBERNATING", WarehouseState.UNKNOWN),
        (None, WarehouseState.UNKNOWN),
    ],
)
def test_warehouse_state_parse(raw, state):
    assert WarehouseState.parse(raw) is state


@pytest.mark.parametrize(
    ("data", "expected", "line"),
    [
        (
            {
                "id": "w1",
                "name": "wh",
                "state": "RUNNING",
                "num_clusters": 1,
                "health": {"status": "HEALTHY"},
            },
            Warehouse("w1", "wh", WarehouseState.RUNNING, 1, "HEALTHY", "", "RUNNING"),
            "RUNNING (HEALTHY)",
        ),
        (
            {"id": "w1", "state": "STOPPED", "health": {"status": "FAILED", "summary": "no capacity"}},
            Warehouse("w1", "", WarehouseState.STOPPED, 0, "FAILED", "no capacity", "STOPPED"),
            "STOPPED (FAILED: no capacity)",
        ),
        (
            {"id": "w1", "state": "STARTING", "health": {"message": "older field"}},
            Warehouse("w1", "", WarehouseState.STARTING, 0, "", "older field", "STARTING"),
            "STARTING (older field)",
        ),
        (
            {"id": "w1", "state": "ASLEEP", "num_clusters": "x", "health": []},
            Warehouse("w1", "", WarehouseState.UNKNOWN, 0, "", "", "ASLEEP"),
            "ASLEEP",
        ),
        ({}, Warehouse(""), "UNKNOWN"),
    ],
)
def test_warehouse_from_api(data, expected, line):
    warehouse = Warehouse.from_api(data)
    assert warehouse == expected
    assert warehouse.describe() == line


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "query_id": "q1",
                "status": "FAILED",
                "warehouse_id": "w1",
                "endpoint_id": "older",
                "query_text": "SELECT x",
                "error_message": "no such column: x",
                "query_start_time_ms": 1000,
                "query_end_time_ms": "1500",
            },
            QueryInfo("q1", "FAILED", "w1", "SELECT x", "no such column: x", 1000, 1500),
        ),
        ({"query_id": "q1", "endpoint_id": "w1", "status": "RUNNING"}, QueryInfo("q1", "RUNNING", "w1")),
        ({"query_id": 7, "warehouse_id": ["w"], "query_start_time_ms": "soon"}, QueryInfo("")),
        ("not an object", QueryInfo("")),
    ],
)
def test_query_info_from_api(data, expected):
    assert QueryInfo.from_api(data) == expected


def test_models_are_frozen_and_pickle():
    statement = Statement.from_api(_SUCCEEDED)
    with pytest.raises(AttributeError):
        statement.statement_id = "other"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(statement)) == statement
    warehouse = Warehouse.from_api({"id": "w", "state": "RUNNING"})
    assert pickle.loads(pickle.dumps(warehouse)) == warehouse
