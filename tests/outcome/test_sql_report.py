"""The SQL statement and warehouse events, their verdict and their report: pure functions, as tables."""

from __future__ import annotations

import json

import pytest

from airflow_dbx_async.client import StatementState, StatementStatus
from airflow_dbx_async.outcome import (
    MAX_HISTORY,
    Action,
    StatementEvent,
    StopReason,
    WarehouseEvent,
    decide_statement,
    marked_sql_lines,
    read_official_statement_event,
    saw,
    sql_position,
    statement_report_lines,
    statement_short_message,
    warehouse_message,
)


def status(state: str, code: str = "", message: str = "", sql_state: str | None = None) -> StatementStatus:
    return StatementStatus(StatementState.parse(state), code, message, sql_state, state)


@pytest.mark.parametrize(
    ("message", "position"),
    [
        ("[PARSE_SYNTAX_ERROR] Syntax error at or near 'FROM'. SQLSTATE: 42601 (line 1, pos 9)", (1, 9)),
        ("cannot resolve `x` given input columns: [a]; line 3 pos 14", (3, 14)),
        ("Line 2, Position 0: unexpected end of input", (2, 0)),
        ('near "SELEC": syntax error', None),
        ("", None),
    ],
)
def test_the_position_is_read_from_the_engine_message(message: str, position: tuple[int, int] | None) -> None:
    assert sql_position(message) == position


def test_the_failing_line_is_marked_among_its_neighbours() -> None:
    sql = "\n".join(f"line{n}" for n in range(1, 13))
    assert marked_sql_lines(sql, (6, 2)) == [
        "   4  line4",
        "   5  line5",
        ">  6  line6",
        "        ^",
        "   7  line7",
        "   8  line8",
        "  ... 4 more line(s)",
    ]


def test_a_long_line_is_cut_around_the_position() -> None:
    (line, caret) = marked_sql_lines("x" * 500 + "BAD" + "y" * 500, (1, 500))
    assert len(line) < 200
    assert line[caret.index("^")] == "B"


def test_without_a_position_the_first_lines_are_shown() -> None:
    shown = marked_sql_lines("\n".join(["SELECT 1"] * 20), None)
    assert shown[0] == "   1  SELECT 1"
    assert shown[-1] == "  ... 8 more line(s)"
    assert all("^" not in line for line in shown)
    assert marked_sql_lines("SELECT 1", (7, 0)) == ["  1  SELECT 1"]  # a line the SQL does not have


def test_the_history_keeps_changes_only_and_its_first_and_latest_entries() -> None:
    history = saw(saw((), "PENDING", 1.0), "PENDING", 2.0)
    assert history == (("PENDING", 1.0),)
    for n in range(50):
        history = saw(history, f"S{n}", 10.0 + n)
    assert len(history) == MAX_HISTORY
    assert history[0] == ("PENDING", 1.0)
    assert history[-1] == ("S49", 59.0)


@pytest.mark.parametrize(
    ("stopped", "state", "action"),
    [
        (StopReason.FINAL, "SUCCEEDED", Action.SUCCEED),
        (StopReason.FINAL, "CLOSED", Action.SUCCEED),
        (StopReason.FINAL, "FAILED", Action.FAIL),
        (StopReason.FINAL, "CANCELED", Action.FAIL),
        (StopReason.FINAL, "RUNNING", Action.FAIL),
        (StopReason.FINAL, "SOMETHING_NEW", Action.FAIL),
        (StopReason.DEADLINE, "SUCCEEDED", Action.FAIL),
        (StopReason.KILLED, "SUCCEEDED", Action.FAIL),
        (StopReason.GAVE_UP, "RUNNING", Action.FAIL),
    ],
)
def test_the_verdict_on_a_statement(stopped: StopReason, state: str, action: Action) -> None:
    assert decide_statement(stopped, status(state)).action is action


def test_an_event_round_trips_as_json_and_keeps_the_error() -> None:
    event = StatementEvent.final(
        "01ef",
        status("FAILED", "BAD_REQUEST", "x" * 10_000, "42601"),
        warehouse_id="wh",
        history=(("PENDING", 1.0), ("FAILED", 2.5)),
    )
    payload = json.loads(json.dumps(event.to_payload()))
    assert len(json.dumps(payload)) < 3_000
    again = StatementEvent.from_payload(payload)
    assert again == event
    assert (again.status, again.state and again.state.sql_state) == ("failed", "42601")
    with pytest.raises(ValueError, match="unknown status"):
        StatementEvent.from_payload({"status": "done"})


def test_the_official_events_read_as_ours() -> None:
    failed = read_official_statement_event(
        {
            "statement_id": "s",
            "state": json.dumps({"state": "FAILED", "error_code": "", "error_message": ""}),
            "error": {"error_code": "BAD_REQUEST", "error_message": "boom"},
        }
    )
    assert (failed.status, failed.stopped, statement_short_message(failed)) == (
        "failed",
        StopReason.FINAL,
        "Databricks SQL statement s failed: FAILED: BAD_REQUEST: boom",
    )
    timed_out = read_official_statement_event(
        {
            "statement_id": "s",
            "state": json.dumps({"state": "RUNNING"}),
            "error": {"error_code": "TIMEOUT", "error_message": "Statement ID s timed out"},
        }
    )
    assert (timed_out.stopped, timed_out.reason) == (StopReason.DEADLINE, "Statement ID s timed out")


def test_the_report_names_every_field() -> None:
    event = StatementEvent(
        "error", "s", "wh", None, "the statement was cancelled; AuthError: 403", StopReason.GAVE_UP
    )
    assert statement_report_lines(event) == [
        "Could not watch Databricks SQL statement s on warehouse wh: "
        "the statement was cancelled; AuthError: 403",
        "  statement id: s",
        "  warehouse: wh",
        "  why watching stopped: the statement was cancelled; AuthError: 403",
    ]


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            WarehouseEvent(
                "failed",
                "wh",
                "RUNNING",
                "STOPPED",
                "stopped while starting; it is STOPPED",
                health="FAILED: no capacity",
            ),
            "Databricks SQL warehouse wh stopped while starting; it is STOPPED "
            "(health: FAILED: no capacity).",
        ),
        (
            WarehouseEvent("failed", "wh", "STOPPED", "RUNNING", "", StopReason.DEADLINE),
            "Databricks SQL warehouse wh did not reach STOPPED within 60s; last state: RUNNING.",
        ),
        (
            WarehouseEvent("error", "wh", "RUNNING", reason="AuthError: 403", stopped=StopReason.GAVE_UP),
            "Could not watch Databricks SQL warehouse wh: AuthError: 403",
        ),
    ],
)
def test_a_warehouse_failure_is_one_line(event: WarehouseEvent, line: str) -> None:
    assert warehouse_message(event, 60) == line
    assert WarehouseEvent.from_payload(json.loads(json.dumps(event.to_payload()))) == event
