"""Report details: every character cut is counted, one period before the run page, partial failures."""

from __future__ import annotations

from airflow_dbx_async.client import CellOutput, NotebookOutput, Run, RunState, truncate_tail
from airflow_dbx_async.outcome._events import RunEvent
from airflow_dbx_async.outcome._failure_report import partial_failure_lines, short_message
from airflow_dbx_async.outcome._notebook_output import PRINTED_OUTPUT_LIMIT, clip_tail, printed_lines


def test_the_marker_counts_every_character_cut_not_only_the_second_cut() -> None:
    # The run export keeps the tail of each cell (8,000 characters, with its own marker) ...
    cell = CellOutput(1, 1.0, ("print(x)",), text=truncate_tail("x" * 720_000, 8_000))
    notebook = NotebookOutput(name="nb", cells=(cell,))
    # ... and the log keeps the tail of that: one marker, counting both cuts.
    lines = printed_lines(notebook)
    text = "\n".join(lines)
    shown = text.count("x")
    assert shown <= PRINTED_OUTPUT_LIMIT
    markers = [line for line in lines if "[truncated" in line]
    assert len(markers) == 1, markers
    cut = int(markers[0].split("[truncated ")[1].split(" chars")[0])
    assert cut + shown >= 720_000 - 100  # every cut character counted (the cell header aside)
    assert cut <= 720_000


def test_clip_tail_without_an_earlier_cut_counts_what_it_drops() -> None:
    assert clip_tail("a" * 10 + "b" * 5, 5) == "... [truncated 10 chars] ...\nbbbbb"
    assert clip_tail("short", 10) == "short"


def test_clip_tail_never_keeps_half_a_marker() -> None:
    text = "head " + "... [truncated 900 chars] ...\n" + "tail"
    clipped = clip_tail(text, len("chars] ...\ntail"))
    assert clipped == "... [truncated 905 chars] ...\ntail"


def test_no_doubled_period_before_the_run_page() -> None:
    state = RunState.from_api(
        {"life_cycle_state": "TERMINATED", "result_state": "CANCELED", "state_message": "Run cancelled."}
    )
    event = RunEvent("failed", 5, "https://x/run/5", state, "Run cancelled.")
    message = short_message(event)
    assert ".." not in message
    assert message.endswith("Run cancelled. See https://x/run/5")


def test_a_run_that_succeeded_with_failures_reports_its_failed_task() -> None:
    run = Run.from_api(
        {
            "run_id": 9,
            "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS_WITH_FAILURES"},
            "tasks": [
                {
                    "run_id": 10,
                    "task_key": "ok",
                    "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"},
                },
                {
                    "run_id": 11,
                    "task_key": "bad",
                    "state": {
                        "life_cycle_state": "TERMINATED",
                        "result_state": "FAILED",
                        "state_message": "ValueError: half",
                    },
                },
            ],
        }
    )
    event = RunEvent.final(run)
    assert event.status == "success"
    assert [t.task_key for t in event.failed_tasks] == ["bad"]
    round_trip = RunEvent.from_payload(event.to_payload())
    lines = partial_failure_lines(round_trip)
    assert lines[0].startswith(
        "Databricks run 9 succeeded with failed tasks (TERMINATED/SUCCESS_WITH_FAILURES"
    )
    assert any("task 'bad'" in line and "ValueError: half" in line for line in lines)


def test_a_plain_success_reports_no_failed_tasks() -> None:
    run = Run.from_api(
        {
            "run_id": 9,
            "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"},
            "tasks": [
                {
                    "run_id": 10,
                    "task_key": "ok",
                    "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"},
                }
            ],
        }
    )
    assert RunEvent.final(run).failed_tasks == ()
