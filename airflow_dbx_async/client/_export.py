"""Read a notebook run's printed output and cell errors from its ``runs/export`` HTML.

``runs/get-output`` has no ``logs`` for notebook tasks: what a notebook printed is only in the run
export (``GET /api/2.x/jobs/runs/export?run_id=<task run>&views_to_export=CODE``, see
https://docs.databricks.com/api/jobs/v2/export-run). Each exported view is an HTML page that embeds
the executed notebook as ``var __DATABRICKS_NOTEBOOK_MODEL = '<base64 of a URL-encoded JSON>';``.
The JSON holds ``commands[]``; each command has its source (``command``), a ``position`` (the cell
order), ``state``, ``results`` (``{"type": ..., "data": ...}``: ``ansi``/``text`` output, ``html``,
``table`` with ``schema``, ``image``/``mimeBundle``, or ``listResults`` whose ``data`` is a list of
such results) and, for a failed command, ``errorSummary``, ``error`` (the traceback) and
``errorTraceType`` (``ansi`` or ``html``).

Parsing is pure and tolerant: a result type it does not know becomes a short placeholder, never an
exception. Only a page without a readable model raises ``ValueError``. Every text is sanitised
(:func:`~airflow_dbx_async.client._text.sanitize_text`) and bounded with a visible marker.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_dbx_async.client._text import sanitize_text, truncate_head, truncate_tail

__all__ = ("CellOutput", "ExportedView", "NotebookOutput", "RunExport")

VIEWS_TO_EXPORT = ("CODE", "DASHBOARDS", "ALL")
CELL_TEXT_LIMIT = 8_000
ERROR_SUMMARY_LIMIT = 1_000
ERROR_TRACE_LIMIT = 8_000
SOURCE_LINES = 3
SOURCE_LINE_LIMIT = 200
TABLE_ROWS = 5
TABLE_CELL_LIMIT = 100
_RAW_FACTOR = 4  # raw text kept before sanitising: escape sequences shrink, so keep some slack
_MODEL = re.compile(r"__DATABRICKS_NOTEBOOK_MODEL\s*=\s*(['\"])(.*?)\1", re.DOTALL)
_DROPPED_ELEMENTS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_BREAKING_TAGS = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h[1-6]|/pre)\b[^>]*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
_BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class ExportedView:
    """One view of a ``runs/export`` answer: ``type`` is ``NOTEBOOK`` or ``DASHBOARD``."""

    name: str
    type: str
    content: str


@dataclass(frozen=True)
class RunExport:
    """The ``runs/export`` answer of one task run."""

    run_id: int
    views: tuple[ExportedView, ...]

    @classmethod
    def from_api(cls, run_id: int, data: object) -> RunExport:
        """Parse the answer; views without string content are left out."""
        body = data if isinstance(data, Mapping) else {}
        raw = body.get("views")
        views = tuple(
            ExportedView(name=_str(v.get("name")), type=_str(v.get("type")), content=v["content"])
            for v in (raw if isinstance(raw, list) else ())
            if isinstance(v, Mapping) and isinstance(v.get("content"), str)
        )
        return cls(run_id=run_id, views=views)

    def notebook(self) -> NotebookOutput | None:
        """The executed notebook of the first ``NOTEBOOK`` view, or ``None`` when there is none.

        :raises ValueError: the view holds no readable notebook model.
        """
        for view in self.views:
            if view.type in ("NOTEBOOK", ""):
                return parse_notebook_html(view.content)
        return None


@dataclass(frozen=True)
class CellOutput:
    """What one notebook cell (command) showed when it ran.

    :param number: the cell's number in notebook order, from 1 (``Cmd 1`` in the Databricks UI).
    :param position: the raw ``position`` Databricks orders cells by.
    :param source: the first lines of the cell's source (at most 3, each bounded).
    :param text: the cell's output as plain text: printed lines, a few table rows, the text of HTML,
        ``[image]`` for pictures; the tail is kept when it is long.
    :param error_summary: the one-line error of a failed cell (``errorSummary``), else empty.
    :param error_trace: the failed cell's traceback (``error``), else empty.
    """

    number: int
    position: float
    source: tuple[str, ...]
    text: str = ""
    error_summary: str = ""
    error_trace: str = ""

    @property
    def failed(self) -> bool:
        """True when the cell ended with an error."""
        return bool(self.error_summary or self.error_trace)

    @property
    def first_line(self) -> str:
        """The first source line, or empty for an empty cell."""
        return self.source[0] if self.source else ""


@dataclass(frozen=True)
class NotebookOutput:
    """The executed notebook of one task run, cell by cell in notebook order."""

    name: str
    cells: tuple[CellOutput, ...]

    @property
    def failing_cell(self) -> CellOutput | None:
        """The first cell that ended with an error (a failing cell stops the run)."""
        return next((cell for cell in self.cells if cell.failed), None)

    @property
    def printed(self) -> tuple[CellOutput, ...]:
        """The cells that showed some output."""
        return tuple(cell for cell in self.cells if cell.text)


def decode_notebook_model(page: str) -> dict[str, Any]:
    """The notebook model embedded in an exported HTML page, as JSON.

    The steps are the ones Databricks' own extraction script uses: base64, then URL-decoding, then JSON.

    :raises ValueError: the page holds no model, or it does not decode to a JSON object.
    """
    match = _MODEL.search(page)
    if match is None:
        raise ValueError("the exported page has no __DATABRICKS_NOTEBOOK_MODEL")
    encoded = "".join(match.group(2).split())
    if "%" in encoded:  # some pages URL-encode the base64 text itself
        encoded = urllib.parse.unquote(encoded)
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the notebook model is not base64: {exc}") from None
    text = urllib.parse.unquote(raw.decode("utf-8", errors="replace"))
    try:
        model = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the notebook model is not JSON: {exc.msg} at {exc.pos}") from None
    except RecursionError:
        raise ValueError("the notebook model is nested too deeply to decode") from None
    if not isinstance(model, dict):
        raise ValueError(f"the notebook model is a JSON {type(model).__name__}, not an object")
    return model


def parse_notebook_html(page: str) -> NotebookOutput:
    """Decode an exported page and read its cells (see :func:`parse_notebook_model`)."""
    return parse_notebook_model(decode_notebook_model(page))


def parse_notebook_model(model: Mapping[str, Any]) -> NotebookOutput:
    """Read every command of a decoded notebook model, in ``position`` order."""
    raw = model.get("commands")
    commands = [c for c in raw if isinstance(c, Mapping)] if isinstance(raw, list) else []
    ordered = sorted(enumerate(commands), key=lambda item: (_position(item[1], item[0]), item[0]))
    cells = tuple(
        _cell(number, _position(command, index), command)
        for number, (index, command) in enumerate(ordered, start=1)
    )
    return NotebookOutput(name=_str(model.get("name")), cells=cells)


def _cell(number: int, position: float, command: Mapping[str, Any]) -> CellOutput:
    summary, trace = _error(command)
    return CellOutput(
        number=number,
        position=position,
        source=_source_lines(_str(command.get("command"))),
        text=truncate_tail(_result_text(command.get("results")).strip("\n"), CELL_TEXT_LIMIT),
        error_summary=summary,
        error_trace=trace,
    )


def _error(command: Mapping[str, Any]) -> tuple[str, str]:
    """``(summary, traceback)`` of a failed command; the summary falls back to the trace's last line."""
    as_html = _str(command.get("errorTraceType")).lower() == "html"
    trace = _clean(_str(command.get("error")), ERROR_TRACE_LIMIT, as_html=as_html, keep="tail")
    summary_raw = _str(command.get("errorSummary"))
    summary = _clean(summary_raw, ERROR_SUMMARY_LIMIT, as_html=_looks_like_html(summary_raw), keep="head")
    results = command.get("results")
    if isinstance(results, Mapping) and _str(results.get("type")) == "error" and not (summary or trace):
        text = _str(results.get("summary")) or _str(results.get("data")) or _str(results.get("cause"))
        summary = _clean(text, ERROR_SUMMARY_LIMIT, as_html=_looks_like_html(text), keep="head")
    if not summary and trace:
        summary = next((line.strip() for line in reversed(trace.splitlines()) if line.strip()), "")
    return summary.strip(), trace.strip("\n")


def _result_text(result: object) -> str:
    """Plain text for one ``results`` object; never raises on an unknown shape."""
    if not isinstance(result, Mapping):
        return ""
    kind = _str(result.get("type"))
    data = result.get("data")
    if kind == "listResults":
        items = data if isinstance(data, list) else []
        return "\n".join(t for t in (_result_text(item).strip("\n") for item in items) if t)
    if kind == "table":
        return _table_text(data, result.get("schema"))
    if kind in ("image", "images"):
        return "[image]"
    if kind == "mimeBundle":
        return _mime_text(data)
    if kind == "error":
        return ""  # reported as the cell's error
    if isinstance(data, str):
        as_html = kind in ("html", "htmlSandbox") or (kind not in ("ansi", "text") and _looks_like_html(data))
        return _clean(data, CELL_TEXT_LIMIT, as_html=as_html, keep="tail")
    return f"[{kind} output]" if kind else ""


def _mime_text(data: object) -> str:
    bundle = data if isinstance(data, Mapping) else {}
    if any(isinstance(key, str) and key.startswith("image/") for key in bundle):
        return "[image]"
    if isinstance(bundle.get("text/plain"), str):
        return _clean(bundle["text/plain"], CELL_TEXT_LIMIT, as_html=False, keep="tail")
    if isinstance(bundle.get("text/html"), str):
        return _clean(bundle["text/html"], CELL_TEXT_LIMIT, as_html=True, keep="tail")
    return "[output]" if bundle else ""


def _table_text(data: object, schema: object) -> str:
    """The column names and the first few rows, one line each, cells joined by `` | ``."""
    rows = data if isinstance(data, list) else []
    columns = [_str(c.get("name")) if isinstance(c, Mapping) else _str(c) for c in _list(schema)]
    lines = [" | ".join(_table_cell(name) for name in columns)] if columns else []
    for row in rows[:TABLE_ROWS]:
        if isinstance(row, Mapping):
            values: list[object] = [row.get(name) for name in columns]
        else:
            values = list(row) if isinstance(row, list) else [row]
        lines.append(" | ".join(_table_cell(value) for value in values))
    if len(rows) > TABLE_ROWS:
        lines.append(f"... [{len(rows) - TABLE_ROWS} more rows]")
    return "\n".join(lines)


def _table_cell(value: object) -> str:
    text = "null" if value is None else value if isinstance(value, str) else json.dumps(value, default=str)
    return _cut_line(
        " ".join(sanitize_text(text[: TABLE_CELL_LIMIT * _RAW_FACTOR]).split()), TABLE_CELL_LIMIT
    )


def _cut_line(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _clean(text: str, limit: int, *, as_html: bool, keep: str) -> str:
    """Sanitised (and, for HTML, de-tagged) text bounded to ``limit`` with a marker."""
    if not text:
        return ""
    raw_limit = limit * _RAW_FACTOR
    if len(text) > raw_limit:  # bound the work before sanitising; the marker is added below
        text = text[-raw_limit:] if keep == "tail" else text[:raw_limit]
    if as_html:
        text = _html_text(text)
    text = sanitize_text(text)
    return truncate_tail(text, limit) if keep == "tail" else truncate_head(text, limit)


def _html_text(markup: str) -> str:
    """The text of an HTML fragment: scripts and styles dropped, tags removed, entities decoded."""
    text = _BREAKING_TAGS.sub("\n", _DROPPED_ELEMENTS.sub("", markup))
    text = html.unescape(_TAGS.sub("", text))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def _looks_like_html(text: str) -> bool:
    return bool(re.search(r"<\s*[a-zA-Z][^>]*>", text[:2_000]))


def _source_lines(source: str) -> tuple[str, ...]:
    lines = [line.rstrip() for line in sanitize_text(source[:20_000]).splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    return tuple(_cut_line(line, SOURCE_LINE_LIMIT) for line in lines[:SOURCE_LINES])


def _position(command: Mapping[str, Any], index: int) -> float:
    value = command.get("position")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return float(value)
    return float(index)


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
