"""The run-export parser reads printed output and cell errors from pages in the real export format.

The fixtures are built here the way Databricks builds an exported notebook page:
``GET /api/2.2/jobs/runs/export`` answers ``{"views": [{"content", "name", "type"}]}``
(https://docs.databricks.com/api/jobs/v2/export-run); ``content`` is an HTML page with
``var __DATABRICKS_NOTEBOOK_MODEL = '<base64>';`` where the base64 holds the URL-encoded JSON of the
notebook (decoded as in Databricks' extraction script linked from that page: base64, URL-decode,
JSON). Command fields follow exported notebooks: ``version: "CommandV1"``, ``commandType``,
``position``, ``command``, ``state``, ``results`` (``listResults`` of ``ansi``/``table``/``html``/
``mimeBundle`` items on current runtimes; a single ``html`` result with ``<div class="ansiout">`` on
older ones), and ``errorSummary``, ``errorTraceType`` and ``error`` on a failed command.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

import pytest

from airflow_dbx_async.client import ClientConfig, ConfigurationError, JobsClient, TokenAuth
from airflow_dbx_async.client._export import (
    CELL_TEXT_LIMIT,
    ERROR_TRACE_LIMIT,
    RunExport,
    decode_notebook_model,
    parse_notebook_html,
)

RED = "\x1b[0;31m"
RESET = "\x1b[0m"


def page(model: dict[str, Any]) -> str:
    """An exported notebook page around ``model``, encoded like Databricks' HTML exporter does."""
    quoted = urllib.parse.quote(json.dumps(model), safe="~()*!.'")
    encoded = base64.b64encode(quoted.encode()).decode()
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta name="databricks-html-version" content="1">\n'
        "<title>Notebook - Databricks</title>\n</head>\n<body>\n<script>\n"
        'window.settings = {"enableNotebookNotifications":false};\n</script>\n'
        f"<script>\nvar __DATABRICKS_NOTEBOOK_MODEL = '{encoded}';\n</script>\n"
        '<script src="https://databricks-prod-cloudfront.cloud.databricks.com/static/notebook-main.js">'
        "</script>\n</body>\n</html>\n"
    )


def command(position: float, source: str, results: Any = None, **fields: Any) -> dict[str, Any]:
    return {
        "version": "CommandV1",
        "origId": int(position * 1000) + 1,
        "guid": f"guid-{position}",
        "subtype": "command",
        "commandType": "auto",
        "position": position,
        "command": source,
        "commandVersion": 1,
        "state": "error" if fields.get("error") else "finished",
        "results": results,
        "resultDbfsStatus": "INLINED_IN_TREE",
        "errorSummary": None,
        "errorTraceType": None,
        "error": None,
        "startTime": 1700000000000,
        "finishTime": 1700000001000,
        **fields,
    }


def ansi(text: str) -> dict[str, Any]:
    return {"type": "ansi", "data": text, "name": None, "arguments": {}, "addedWidgets": {}, "metadata": {}}


def listing(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "listResults", "data": list(items), "arguments": {}, "addedWidgets": {}, "metadata": {}}


def notebook(*commands: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "NotebookV1",
        "origId": 1,
        "name": "Failing_Notebook",
        "language": "python",
        "commands": list(commands),
        "dashboards": [],
        "guid": "nb-guid",
        "globalVars": {},
    }


TRACE = (
    f"{RED}---------------------------------------------------------------------------{RESET}\n"
    f"{RED}ValueError{RESET}                                Traceback (most recent call last)\n"
    "File \x1b[0;32m<command-3>:2\x1b[0m\n      1 rows = []\n"
    "\x1b[0;32m----> 2\x1b[0m \x1b[38;5;28;01mraise\x1b[39;00m \x1b[38;5;167;01mValueError\x1b[39;00m("
    '\x1b[38;5;124m"no rows"\x1b[39m)\n\n'
    f"{RED}ValueError{RESET}: no rows"
)


def failing_notebook() -> dict[str, Any]:
    return notebook(
        command(2.0, "print('two')\nprint('three')", listing(ansi("two\nthree\n"))),
        command(1.0, "# Load\nprint('one')", listing(ansi("one\n"))),
        command(
            3.0,
            '\n\nrows = []\nraise ValueError("no rows")',
            None,
            errorSummary="<span class='ansi-red-fg'>ValueError</span>: no rows",
            errorTraceType="ansi",
            error=TRACE,
        ),
        command(4.0, "print('never')", None, state="skipped"),
    )


def test_cells_come_in_position_order_with_their_printed_lines() -> None:
    out = parse_notebook_html(page(failing_notebook()))
    assert out.name == "Failing_Notebook"
    assert [c.number for c in out.cells] == [1, 2, 3, 4]
    assert [c.first_line for c in out.cells] == ["# Load", "print('two')", "rows = []", "print('never')"]
    assert [c.text for c in out.printed] == ["one", "two\nthree"]


def test_the_failing_cell_carries_its_summary_and_a_clean_traceback() -> None:
    failing = parse_notebook_html(page(failing_notebook())).failing_cell
    assert failing is not None
    assert failing.number == 3
    assert failing.source == ("rows = []", 'raise ValueError("no rows")')
    assert failing.error_summary == "ValueError: no rows"
    assert "\x1b" not in failing.error_trace
    assert 'raise ValueError("no rows")' in failing.error_trace
    assert failing.error_trace.endswith("ValueError: no rows")


def test_summary_falls_back_to_the_last_line_of_the_trace() -> None:
    model = notebook(
        command(
            1,
            "1/0",
            None,
            errorTraceType="ansi",
            error="Traceback (most recent call last):\n  1/0\nZeroDivisionError: division by zero\n",
        )
    )
    cell = parse_notebook_html(page(model)).cells[0]
    assert cell.failed
    assert cell.error_summary == "ZeroDivisionError: division by zero"


def test_html_traces_are_reduced_to_text() -> None:
    model = notebook(
        command(
            1,
            "x",
            None,
            errorTraceType="html",
            errorSummary="NameError: x",
            error="<div class='ansiout'>NameError: name &#39;x&#39; is not defined<br>line 2</div>",
        )
    )
    cell = parse_notebook_html(page(model)).cells[0]
    assert cell.error_trace == "NameError: name 'x' is not defined\nline 2"


def test_older_runtimes_html_ansiout_results() -> None:
    html_result = {
        "type": "html",
        "data": '<div class="ansiout">first &amp; second\nthird</div>',
        "arguments": {},
    }
    cell = parse_notebook_html(page(notebook(command(1, "print(...)", html_result)))).cells[0]
    assert cell.text == "first & second\nthird"


def test_tables_show_the_header_and_a_few_rows() -> None:
    table = {
        "type": "table",
        "data": [[i, f"name {i}", None] for i in range(1, 9)],
        "schema": [
            {"name": "id", "type": '"long"', "metadata": "{}"},
            {"name": "name", "type": '"string"', "metadata": "{}"},
            {"name": "note", "type": '"string"', "metadata": "{}"},
        ],
        "truncated": False,
        "isJsonSchema": True,
    }
    cell = parse_notebook_html(page(notebook(command(1, "display(df)", listing(table))))).cells[0]
    assert cell.text.splitlines() == [
        "id | name | note",
        "1 | name 1 | null",
        "2 | name 2 | null",
        "3 | name 3 | null",
        "4 | name 4 | null",
        "5 | name 5 | null",
        "... [3 more rows]",
    ]


def test_table_cells_are_bounded_and_flattened() -> None:
    table = {
        "type": "table",
        "data": [{"a": "x" * 500, "b": {"nested": [1, 2]}}],
        "schema": [{"name": "a"}, {"name": "b"}],
    }
    text = parse_notebook_html(page(notebook(command(1, "t", table)))).cells[0].text
    first, second = text.splitlines()[1].split(" | ")
    assert len(first) == 100
    assert first.endswith("...")
    assert second == '{"nested": [1, 2]}'


def test_html_images_and_unknown_results_become_text_or_placeholders() -> None:
    items = listing(
        {
            "type": "htmlSandbox",
            "data": "<html><style>p{color:red}</style><script>alert(1)</script>"
            "<p>Rendered <b>HTML</b></p></html>",
        },
        {"type": "mimeBundle", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480>"}},
        {"type": "mimeBundle", "data": {"text/plain": "Out[1]: 42"}},
        {"type": "image", "data": "/plots/abc.png"},
        {"type": "someFutureType", "data": {"x": 1}},
        {"type": "text", "data": "a <b>literal</b> tag in printed text"},
    )
    cell = parse_notebook_html(page(notebook(command(1, "show()", items)))).cells[0]
    assert cell.text.splitlines() == [
        "Rendered HTML",
        "[image]",
        "Out[1]: 42",
        "[image]",
        "[someFutureType output]",
        "a <b>literal</b> tag in printed text",
    ]


def test_control_characters_in_printed_output_are_sanitised() -> None:
    hostile = "ok\x1b]0;title\x07 bell\x07 nul\x00 back\bx\n10%\r100%\n"
    cell = parse_notebook_html(page(notebook(command(1, "p", listing(ansi(hostile)))))).cells[0]
    assert cell.text == "ok bell nul bacx\n100%"


def test_long_output_keeps_its_tail_with_a_marker() -> None:
    lines = "".join(f"line {i}\n" for i in range(5000))
    cell = parse_notebook_html(page(notebook(command(1, "p", listing(ansi(lines)))))).cells[0]
    assert len(cell.text) <= CELL_TEXT_LIMIT + 60
    assert cell.text.startswith("... [truncated ")
    assert cell.text.endswith("line 4999")


def test_long_traces_keep_their_end() -> None:
    trace = "frame\n" * 10_000 + "RuntimeError: the end"
    cell = parse_notebook_html(page(notebook(command(1, "p", None, error=trace)))).cells[0]
    assert len(cell.error_trace) <= ERROR_TRACE_LIMIT + 60
    assert cell.error_trace.endswith("RuntimeError: the end")
    assert cell.error_summary == "RuntimeError: the end"


@pytest.mark.parametrize(
    "odd",
    [
        {"type": "listResults", "data": "not a list"},
        {"type": "listResults", "data": [None, 3, "x", {"type": None}]},
        {"type": "table", "data": "nope", "schema": "nope"},
        {"type": "table", "data": [None, 1, "row"], "schema": [None, 2]},
        {"type": "mimeBundle", "data": None},
        {"type": "ansi", "data": None},
        {"type": None, "data": None},
        {"type": "error", "data": None},
        [],
        "a string",
    ],
)
def test_odd_result_shapes_never_raise(odd: Any) -> None:
    cells = parse_notebook_html(page(notebook(command(1, "x", odd)))).cells
    assert len(cells) == 1


def test_odd_commands_are_skipped_or_numbered_in_order() -> None:
    model = {
        "commands": [
            None,
            "x",
            {"position": "later", "command": None},
            {"position": float("nan"), "command": 5},
            {"position": True},
        ]
    }
    cells = parse_notebook_html(page(model)).cells
    assert [c.number for c in cells] == [1, 2, 3]
    assert all(c.text == "" and c.source == () for c in cells)


def test_an_error_result_without_command_error_fields_still_names_the_error() -> None:
    result = {"type": "error", "summary": "<span>AnalysisException</span>: table not found"}
    cell = parse_notebook_html(page(notebook(command(1, "spark.table('x')", result)))).cells[0]
    assert cell.error_summary == "AnalysisException: table not found"


def test_decode_follows_the_documented_steps() -> None:
    model = {"name": "n", "commands": [], "x": "100% sure, 'quoted' & \"double\" 🙂"}
    assert decode_notebook_model(page(model)) == model


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<html>no model here</html>", "has no __DATABRICKS_NOTEBOOK_MODEL"),
        ("var __DATABRICKS_NOTEBOOK_MODEL = '@@@';", "not base64"),
        (f"var __DATABRICKS_NOTEBOOK_MODEL = '{base64.b64encode(b'not json').decode()}';", "not JSON"),
        (
            f"var __DATABRICKS_NOTEBOOK_MODEL = '{base64.b64encode(b'[1]').decode()}';",
            "JSON list, not an object",
        ),
        (
            f"var __DATABRICKS_NOTEBOOK_MODEL = '{base64.b64encode(b'[' * 100_000).decode()}';",
            "nested too deeply",
        ),
    ],
)
def test_a_page_without_a_readable_model_is_a_value_error(content: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_notebook_html(content)


def test_run_export_reads_the_notebook_view() -> None:
    body = {
        "views": [
            {"content": "<html>dashboard</html>", "name": "Dash", "type": "DASHBOARD"},
            {"content": page(failing_notebook()), "name": "Failing_Notebook", "type": "NOTEBOOK"},
            {"name": "no content", "type": "NOTEBOOK"},
        ]
    }
    export = RunExport.from_api(7, body)
    assert [v.type for v in export.views] == ["DASHBOARD", "NOTEBOOK"]
    out = export.notebook()
    assert out is not None
    assert out.failing_cell is not None
    assert out.failing_cell.number == 3


@pytest.mark.parametrize(
    "body",
    [{}, {"views": []}, {"views": "x"}, None, [], {"views": [{"content": "<html/>", "type": "DASHBOARD"}]}],
)
def test_run_export_without_a_notebook_view(body: Any) -> None:
    assert RunExport.from_api(7, body).notebook() is None


@pytest.mark.asyncio
async def test_export_run_refuses_an_unknown_view_before_any_request() -> None:
    client = JobsClient(ClientConfig(base_url="https://dbx.example.com", auth=TokenAuth("dapi-unit-test")))
    with pytest.raises(ConfigurationError, match="views_to_export"):
        await client.export_run(1, "NOTEBOOK")
    assert client.request_count == 0
