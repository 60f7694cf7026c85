"""Notebook output for the log and XCom: task selection, bounded printed lines, the failing cell, XCom."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_dbx_async.client import CellOutput, NotebookOutput
from airflow_dbx_async.outcome._notebook_output import (
    XCOM_NOTEBOOK_RESULT_KEY,
    XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY,
    XCOM_NOTEBOOK_RESULTS_KEY,
    XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY,
    NotebookTask,
    NotebookTaskOutput,
    failing_cell_lines,
    notebook_tasks,
    printed_lines,
    repeats_cell_trace,
    success_lines,
    xcom_values,
)


def _task(key: str, run_id: int, attempt: int = 0, kind: str = "notebook_task") -> dict[str, Any]:
    return {
        "task_key": key,
        "run_id": run_id,
        "attempt_number": attempt,
        "start_time": 1000 + attempt,
        kind: {},
    }


def test_notebook_tasks_are_the_latest_attempts_of_notebook_tasks() -> None:
    run = {
        "tasks": [
            _task("a", 1),
            _task("py", 2, kind="spark_python_task"),
            _task("a", 3, attempt=1),
            _task("b", 4),
            "junk",
            {"task_key": "c", "run_id": "5", "notebook_task": "not an object"},
        ]
    }
    assert notebook_tasks(run) == (NotebookTask("a", 3), NotebookTask("b", 4))
    assert notebook_tasks({}) == ()


NOTEBOOK = NotebookOutput(
    name="nb",
    cells=(
        CellOutput(1, 1.0, ("# Load", "print('one')"), text="one"),
        CellOutput(2, 2.0, ("%md # Notes",)),
        CellOutput(3, 3.0, ("print('two')",), text="two\nthree"),
        CellOutput(
            4,
            4.0,
            ("rows = []", "raise ValueError('no rows')"),
            error_summary="ValueError: no rows",
            error_trace="Traceback (most recent call last):\n  line 2\nValueError: no rows",
        ),
        CellOutput(5, 5.0, ("print('never')",)),
    ),
)


def test_printed_lines_name_each_cell_then_its_output() -> None:
    assert printed_lines(NOTEBOOK) == [
        "    | [cell 1] # Load",
        "    | one",
        "    | [cell 3] print('two')",
        "    | two",
        "    | three",
    ]


def test_printed_lines_keep_the_tail_with_a_marker() -> None:
    long = NotebookOutput(
        "nb", (CellOutput(1, 1.0, ("loop",), text="\n".join(f"line {i}" for i in range(2000))),)
    )
    lines = printed_lines(long, limit=100)
    assert lines[0].startswith("    | ... [truncated ")
    assert lines[-1] == "    | line 1999"
    assert sum(len(line) - 6 for line in lines[1:]) <= 100


def test_failing_cell_lines() -> None:
    assert failing_cell_lines(NOTEBOOK) == [
        "  failing cell: cell 4 of 5",
        "    | rows = []",
        "    | raise ValueError('no rows')",
        "  cell error: ValueError: no rows",
        "  cell traceback:",
        "    | Traceback (most recent call last):",
        "    |   line 2",
        "    | ValueError: no rows",
    ]
    assert failing_cell_lines(NotebookOutput("ok", ())) == []


def _out(key: str, result: str | None, truncated: bool = False, **kw: Any) -> NotebookTaskOutput:
    return NotebookTaskOutput(NotebookTask(key, 1), result=result, result_truncated=truncated, **kw)


def test_success_lines() -> None:
    assert success_lines(_out("nb", None, notebook=NOTEBOOK))[0] == (
        "Notebook task 'nb' (task run 1) printed (from the run export):"
    )
    assert success_lines(_out("nb", None, notebook=NotebookOutput("x", ()))) == [
        "Notebook task 'nb' (task run 1) printed nothing"
    ]
    assert success_lines(_out("nb", None, export_error="ApiError: nope")) == [
        "Notebook task 'nb' (task run 1): printed output not available (ApiError: nope)"
    ]


@pytest.mark.parametrize(
    ("outputs", "single", "expected"),
    [
        (
            (_out("nb", "42"),),
            True,
            {XCOM_NOTEBOOK_RESULT_KEY: "42", XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY: False},
        ),
        (
            (_out("nb", "x" * 10, True),),
            True,
            {XCOM_NOTEBOOK_RESULT_KEY: "x" * 10, XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY: True},
        ),
        ((_out("nb", None),), True, {}),
        ((_out("nb", ""),), True, {XCOM_NOTEBOOK_RESULT_KEY: "", XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY: False}),
        (
            (_out("a", "1"), _out("b", None), _out("c", "3", True)),
            False,
            {
                XCOM_NOTEBOOK_RESULTS_KEY: {"a": "1", "c": "3"},
                XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY: {"a": False, "c": True},
            },
        ),
        (
            (_out("only_notebook_of_two", "v"),),
            False,
            {
                XCOM_NOTEBOOK_RESULTS_KEY: {"only_notebook_of_two": "v"},
                XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY: {"only_notebook_of_two": False},
            },
        ),
        ((), False, {}),
    ],
)
def test_xcom_values(outputs: tuple[NotebookTaskOutput, ...], single: bool, expected: dict[str, Any]) -> None:
    assert xcom_values(outputs, single_task=single) == expected


def test_repeats_cell_trace() -> None:
    output = _out("nb", None, notebook=NOTEBOOK)
    same = "\x1b[0;31mTraceback (most recent call last):\x1b[0m\n  line 2\nValueError: no rows\n"
    assert repeats_cell_trace(output, same)
    assert not repeats_cell_trace(output, "other trace")
    assert not repeats_cell_trace(output, "")
    assert not repeats_cell_trace(None, same)
    assert not repeats_cell_trace(_out("nb", None, notebook=NotebookOutput("ok", ())), same)


def _size(values: dict[str, str]) -> int:
    return sum(len(v.encode()) for v in values.values())


def test_xcom_values_of_a_hundred_big_exit_values_stay_within_the_bound() -> None:
    from airflow_dbx_async.outcome._notebook_output import MAX_XCOM_RESULT_BYTES

    five_mb = "é" * (5 * 1024 * 1024 // 2)  # two bytes a character: a cut never splits one
    outputs = tuple(_out(f"nb{i:03}", five_mb, truncated=i == 0) for i in range(100))
    pushed = xcom_values(outputs, single_task=False)
    results, flags = pushed[XCOM_NOTEBOOK_RESULTS_KEY], pushed[XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY]
    assert list(results) == [f"nb{i:03}" for i in range(100)]  # the tasks' order, every task kept
    assert _size(results) <= MAX_XCOM_RESULT_BYTES
    assert all(five_mb.startswith(v) for v in results.values())
    sizes = [len(v.encode()) for v in results.values()]
    assert max(sizes) - min(sizes) <= 2  # fair shares of the bound
    assert all(flags.values())  # each says it was cut


def test_xcom_values_keep_small_values_whole_and_say_what_was_cut(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from airflow_dbx_async.outcome._notebook_output import MAX_XCOM_RESULT_BYTES

    big = "x" * (3 * MAX_XCOM_RESULT_BYTES)
    log = logging.getLogger("test.notebook_xcom")
    with caplog.at_level(logging.WARNING, logger=log.name):
        pushed = xcom_values((_out("small", "42"), _out("big", big)), single_task=False, log=log)
        alone = xcom_values((_out("nb", big),), single_task=True)
    assert pushed[XCOM_NOTEBOOK_RESULTS_KEY]["small"] == "42"
    assert len(pushed[XCOM_NOTEBOOK_RESULTS_KEY]["big"]) == MAX_XCOM_RESULT_BYTES - 2  # the rest is its share
    assert pushed[XCOM_NOTEBOOK_RESULTS_TRUNCATED_KEY] == {"small": False, "big": True}
    assert alone == {
        XCOM_NOTEBOOK_RESULT_KEY: big[:MAX_XCOM_RESULT_BYTES],
        XCOM_NOTEBOOK_RESULT_TRUNCATED_KEY: True,
    }
    [line] = [r.getMessage() for r in caplog.records]
    assert "'big'" in line
    assert f"{3 * MAX_XCOM_RESULT_BYTES} bytes" in line
