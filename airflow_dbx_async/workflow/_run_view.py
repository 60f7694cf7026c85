"""The Databricks tab's page: a :class:`~airflow_dbx_async.workflow._run_model.RunModel` as HTML and SVG.

:func:`render` is a pure function of the model (no I/O, no clock): the run's state, duration,
clusters and links; a timeline with one row per task run (a bar from its start to its end, coloured
and labelled by what it came to, repairs marked, ``depends_on`` drawn as arrows); the failed tasks'
reports as the task log shows them; a table of the same task runs for screen readers and keyboard
users (every bar is a link to its row); and the run's parameters. :func:`render_statement` is its
twin for a SQL statement: its ids, state, error, times and failure report (the SQL with the failing
line marked). No build step and no external resource: one style sheet and one small script, both
carrying the response's CSP nonce.

Airflow 3 shows the page in an ``<iframe>`` on the task instance page and does not pass its theme.
The page follows ``prefers-color-scheme``, and its script reads the framing page's ``dark``/``light``
class (Airflow's UI is of the same origin) so that it follows Airflow's own theme switch. The frame is
sandboxed without ``allow-popups``, so the script opens the page's outside links (the run page, the
repair page) from the framing page; outside a frame they are ordinary links.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING

from airflow_dbx_async.workflow._run_model import Kind

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_dbx_async.workflow._run_model import Attempt, RunModel, StatementModel

__all__ = ("THEMES", "render", "render_message", "render_statement")

THEMES = ("auto", "light", "dark")
"""The page's theme: ``auto`` follows the framing Airflow UI, else the browser's preference."""

_LABEL_W = 250  # the row names, left of the chart
_CHART_W = 700
_RIGHT = 30
_ROW_H = 22
_BAR_H = 14
_TOP = 36  # the time axis and the repair marks
_CHAR_W = 6.6  # about one character of the 11px label font
_MAX_EDGES = 600
_TICK_STEPS_S = (
    *(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
    *(1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400),
)
_LABELS = {
    Kind.SUCCEEDED: "succeeded",
    Kind.FAILED: "failed",
    Kind.RUNNING: "running",
    Kind.WAITING: "waiting",
    Kind.SKIPPED: "skipped",
    Kind.CANCELLED: "cancelled",
    Kind.UNKNOWN: "unknown",
}
_LIGHT = {
    "fg": "#1f2328",
    "muted": "#59636e",
    "panel": "#f6f8fa",
    "border": "#d1d9e0",
    "grid": "#e6e9ed",
    "link": "#0969da",
    "focus-row": "#fff8c5",
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "running": "#0969da",
    "waiting": "#8c959f",
    "skipped": "#c8ced5",
    "cancelled": "#bc4c00",
    "unknown": "#6e7781",
    "on-dark": "#ffffff",
    "on-light": "#1f2328",
}
_DARK = {
    "fg": "#e6edf3",
    "muted": "#9198a1",
    "panel": "#161b22",
    "border": "#3d444d",
    "grid": "#262c36",
    "link": "#4493f8",
    "focus-row": "#3b2e00",
    "succeeded": "#3fb950",
    "failed": "#f85149",
    "running": "#4493f8",
    "waiting": "#6e7681",
    "skipped": "#484f58",
    "cancelled": "#db6d28",
    "unknown": "#8b949e",
    "on-dark": "#0d1117",
    "on-light": "#e6edf3",
}
# Bar label colour on each kind's fill: the strongly coloured fills take on-dark.
_ON = {kind: "on-light" if kind in (Kind.WAITING, Kind.SKIPPED) else "on-dark" for kind in Kind}


def _vars(colours: dict[str, str]) -> str:
    return "".join(f"--{name}:{value};" for name, value in colours.items())


_CSS = (
    f":root{{color-scheme:light dark;{_vars(_LIGHT)}}}"
    f"@media (prefers-color-scheme:dark){{:root:not([data-theme=light]){{{_vars(_DARK)}}}}}"
    f":root[data-theme=light]{{color-scheme:light}}:root[data-theme=dark]{{color-scheme:dark;{_vars(_DARK)}}}"
    "body{margin:0;padding:12px 16px;background:transparent;color:var(--fg);"
    "font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}"
    "h1{font-size:1.25rem;margin:0 0 4px}h2{font-size:1.05rem;margin:20px 0 8px}h3{font-size:.95rem;margin:0}"
    "a{color:var(--link)}a:focus-visible{outline:2px solid var(--link);outline-offset:2px}"
    ".muted{color:var(--muted)}.state{font-weight:600}"
    ".k-succeeded{color:var(--succeeded)}.k-failed{color:var(--failed)}.k-running{color:var(--running)}"
    ".k-cancelled{color:var(--cancelled)}"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:8px 0}"
    "dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}"
    "nav.links a{margin-right:16px}"
    ".chart{overflow-x:auto;border:1px solid var(--border);border-radius:6px;background:var(--panel)}"
    ".chart svg{display:block;width:100%;min-width:720px;height:auto}"
    "svg text{font:11px system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;fill:var(--fg)}"
    "svg .tick{fill:var(--muted)}svg .grid{stroke:var(--grid)}"
    "svg .repair{stroke:var(--cancelled);stroke-dasharray:4 3}svg .repair-label{fill:var(--cancelled)}"
    "svg .edge{fill:none;stroke:var(--muted);stroke-opacity:.5}svg .arrow{fill:var(--muted)}"
    "svg .row-focus{fill:var(--focus-row)}svg .none{fill:var(--muted);font-style:italic}"
    "svg a:focus{outline:none}svg a:focus-visible .bar,svg a:hover .bar{stroke:var(--fg);stroke-width:2}"
    + "".join(f"svg .bar.{k.value}{{fill:var(--{k.value})}}" for k in Kind)
    + "".join(f"svg .in.{k.value}{{fill:var(--{_ON[k]})}}" for k in Kind)
    + "ul.legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 14px}"
    ".swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}"
    + "".join(f".swatch.{k.value}{{background:var(--{k.value})}}" for k in Kind)
    + "table{border-collapse:collapse;width:100%;font-size:13px}"
    "caption{text-align:left;color:var(--muted);padding:4px 0}"
    "th,td{border-bottom:1px solid var(--border);padding:3px 8px;text-align:left;vertical-align:top}"
    "tr.focus{background:var(--focus-row)}tr:target{outline:2px solid var(--link)}"
    "pre{background:var(--panel);border:1px solid var(--border);border-radius:6px;padding:8px;"
    "overflow-x:auto;white-space:pre;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}"
    "article{margin:12px 0}article:target h3{text-decoration:underline}"
    ".note{border-left:4px solid var(--cancelled);padding:4px 10px;background:var(--panel)}"
)
# Follow the framing Airflow UI's theme (its <html> class), and open outside links from the framing
# page: Airflow sandboxes the frame without allow-popups, and the page is of its origin.
_SCRIPT = (
    "(function(){var d=document.documentElement;if(d.dataset.theme!=='auto'||window.parent===window)return;"
    "function f(){try{var c=window.parent.document.documentElement.classList;"
    "d.dataset.theme=c.contains('dark')?'dark':c.contains('light')?'light':'auto';}catch(e){}}"
    "f();try{new MutationObserver(f).observe(window.parent.document.documentElement,"
    "{attributes:true,attributeFilter:['class']});}catch(e){}})();"
    "document.addEventListener('click',function(e){var a=e.target.closest&&e.target.closest('a[data-out]');"
    "if(!a||window.parent===window)return;try{var p=window.parent.document,b=p.createElement('a');"
    "b.href=a.href;b.target='_blank';b.rel='noopener noreferrer';p.body.appendChild(b);b.click();b.remove();"
    "e.preventDefault();}catch(x){}});"
)


def _page(title: str, body: str, *, nonce: str, theme: str, refresh: int = 0) -> str:
    theme = theme if theme in THEMES else "auto"
    nonce_attr = f' nonce="{escape(nonce)}"' if nonce else ""
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh > 0 else ""
    return (
        f'<!doctype html><html lang="en" data-theme="{theme}"><head><meta charset="utf-8">'
        '<meta name="color-scheme" content="light dark">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{meta}'
        f"<title>{escape(title)}</title><style{nonce_attr}>{_CSS}</style>"
        f"<script{nonce_attr}>{_SCRIPT}</script></head><body><main>{body}</main></body></html>"
    )


def render_message(title: str, text: str, *, nonce: str = "", theme: str = "auto") -> str:
    """A page with one heading and one paragraph (a task without a run, a refused request)."""
    body = f"<h1>{escape(title)}</h1><p>{escape(text)}</p>"
    return _page(title, body, nonce=nonce, theme=theme)


def duration_text(ms: int) -> str:
    """``850 ms``, ``12 s``, ``3 min 5 s``, ``2 h 5 min``."""
    if ms < 1000:
        return f"{max(ms, 0)} ms"
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    minutes = seconds % 3600 // 60
    return f"{seconds // 3600} h {minutes} min" if minutes else f"{seconds // 3600} h"


def _time(ms: int) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _outside_link(url: str, text: str) -> str:
    """A link out of the page, only for an http(s) URL or a path of this site; else the text alone."""
    if not (url.startswith(("https://", "http://")) or (url.startswith("/") and not url.startswith("//"))):
        return escape(text)
    return f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer" data-out>{escape(text)}</a>'


def _header(model: RunModel, refresh_seconds: int) -> str:
    kind = model.kind.value
    title = f"Databricks run {model.run_id}"
    if model.run_name:
        title += f": {model.run_name}"
    facts = [
        ("State", f'<span class="state k-{kind}">{escape(model.state)}</span>'),
        ("Started", escape(_time(model.start_ms)) or "not yet"),
        ("Duration", escape(duration_text(model.duration_ms)) + ("" if model.final else " so far")),
    ]
    if model.job_id:
        facts.append(("Job", str(model.job_id)))
    if model.repairs:
        facts.append(("Repairs", str(len(model.repairs))))
    if model.clusters:
        facts.append(("Compute", "<br>".join(escape(c) for c in model.clusters)))
    every = f" (read again at most every {refresh_seconds} s)" if refresh_seconds > 0 else ""
    facts.append(("Read from Databricks", escape(_time(model.now_ms)) + every))
    rows = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    links = [_outside_link(model.run_page_url, "Open the run in Databricks")] if model.run_page_url else []
    if model.repair_url:
        links.append(_outside_link(model.repair_url, "Repair the failed tasks…"))
    nav = f'<nav class="links" aria-label="Run links">{"".join(links)}</nav>' if links else ""
    return f'<header><h1>{escape(title)}</h1><dl class="facts">{rows}</dl>{nav}</header>'


class _Axis:
    """Maps epoch milliseconds to x positions of the chart."""

    def __init__(self, model: RunModel) -> None:
        starts = [a.start_ms for a in model.attempts if a.start_ms]
        self.origin = min([model.start_ms or min(starts, default=model.now_ms), *starts])
        ends = [a.end_ms or model.now_ms for a in model.attempts if a.start_ms]
        self.span = max(1, max([model.end_ms or model.now_ms, *ends]) - self.origin)

    def x(self, ms: int) -> float:
        ratio = min(max((ms - self.origin) / self.span, 0.0), 1.0)
        return round(_LABEL_W + ratio * _CHART_W, 1)

    def ticks(self) -> Iterator[tuple[float, str]]:
        seconds = next((s for s in _TICK_STEPS_S if self.span / 1000 / s <= 8), _TICK_STEPS_S[-1])
        for at in range(0, self.span + 1, max(1, round(seconds * 1000))):
            yield self.x(self.origin + at), f"+{duration_text(at)}" if at else "0"


def _bar_text(attempt: Attempt, now_ms: int) -> str:
    if not attempt.start_ms:
        return _LABELS[attempt.kind]
    return f"{_LABELS[attempt.kind]} · {duration_text((attempt.end_ms or now_ms) - attempt.start_ms)}"


def _label(attempt: Attempt, model: RunModel) -> str:
    return " · ".join(p for p in (model.name_of(attempt.task_key), attempt.which) if p)


def _spoken(attempt: Attempt, model: RunModel) -> str:
    """What a screen reader says for one bar."""
    text = f"{_label(attempt, model)}: {_bar_text(attempt, model.now_ms)}"
    if attempt.start_ms:
        text += f", started {_time(attempt.start_ms)}"
    if attempt.depends_on:
        text += f"; depends on {', '.join(model.name_of(key) for key in attempt.depends_on)}"
    return text


def _row(index: int, attempt: Attempt, axis: _Axis, model: RunModel) -> str:
    y = _TOP + index * _ROW_H
    spoken = escape(_spoken(attempt, model))
    parts = [f'<g role="listitem"><a href="#r{index}" aria-label="{spoken}"><title>{spoken}</title>']
    if attempt.task_key == model.focus_key:
        width = _LABEL_W + _CHART_W + _RIGHT
        parts.append(f'<rect class="row-focus" x="0" y="{y}" width="{width}" height="{_ROW_H}"/>')
    label = _label(attempt, model)
    name = label if len(label) <= 36 else label[:35] + "…"
    parts.append(f'<text x="6" y="{y + 15}">{escape(name)}</text>')
    text = _bar_text(attempt, model.now_ms)
    if not attempt.start_ms:
        parts.append(f'<text class="none" x="{_LABEL_W + 4}" y="{y + 15}">not started</text></a></g>')
        return "".join(parts)
    x1 = axis.x(attempt.start_ms)
    x2 = max(axis.x(attempt.end_ms or model.now_ms), x1 + 2)
    kind = attempt.kind.value
    parts.append(
        f'<rect class="bar {kind}" x="{x1}" y="{y + 4}" width="{round(x2 - x1, 1)}" '
        f'height="{_BAR_H}" rx="2"/>'
    )
    text_w = len(text) * _CHAR_W
    if x2 - x1 >= text_w + 8:
        parts.append(f'<text class="in {kind}" x="{x1 + 4}" y="{y + 15}">{escape(text)}</text>')
    elif x2 + 4 + text_w <= _LABEL_W + _CHART_W + _RIGHT:
        parts.append(f'<text x="{x2 + 4}" y="{y + 15}">{escape(text)}</text>')
    else:
        parts.append(f'<text x="{x1 - 4}" y="{y + 15}" text-anchor="end">{escape(text)}</text>')
    parts.append("</a></g>")
    return "".join(parts)


def _edges(model: RunModel, axis: _Axis) -> str:
    """Arrows from an upstream task's attempt to each attempt that waited for it (not a retry's)."""
    rows: dict[str, list[int]] = {}
    for index, attempt in enumerate(model.attempts):
        rows.setdefault(attempt.task_key, []).append(index)
    paths: list[str] = []
    for index, attempt in enumerate(model.attempts):
        if not attempt.start_ms or attempt.retry:  # a retry follows its own failed attempt
            continue
        for upstream in attempt.depends_on:
            done = [i for i in rows.get(upstream, ()) if 0 < model.attempts[i].end_ms <= attempt.start_ms]
            if not done or len(paths) >= _MAX_EDGES:
                continue
            source = model.attempts[done[-1]]
            x1, x2 = axis.x(source.end_ms), axis.x(attempt.start_ms)
            y1, y2 = _TOP + done[-1] * _ROW_H + 11, _TOP + index * _ROW_H + 11
            mid = round(max(x1, x2 - 6), 1)
            paths.append(f'<path class="edge" d="M{x1} {y1}H{mid}V{y2}H{x2}" marker-end="url(#arrow)"/>')
    return "".join(paths)


def _repair_marks(model: RunModel, axis: _Axis, height: int) -> str:
    marks = []
    for repair in model.repairs:
        if not repair.start_ms:
            continue
        x = axis.x(repair.start_ms)
        marks.append(
            f'<line class="repair" x1="{x}" y1="{_TOP - 14}" x2="{x}" y2="{height}"/>'
            f'<text class="repair-label" x="{x + 3}" y="{_TOP - 4}">repair {repair.number}</text>'
        )
    return "".join(marks)


def _anchor(x: float) -> str:
    """Tick labels stay inside the chart: the last one ends at its tick."""
    return "end" if x > _LABEL_W + _CHART_W - 30 else "middle"


def _timeline(model: RunModel) -> str:
    axis = _Axis(model)
    width = _LABEL_W + _CHART_W + _RIGHT
    height = _TOP + len(model.attempts) * _ROW_H + 6
    ticks = "".join(
        f'<line class="grid" x1="{x}" y1="{_TOP - 14}" x2="{x}" y2="{height}"/>'
        f'<text class="tick" x="{x}" y="{_TOP - 20}" text-anchor="{_anchor(x)}">{escape(label)}</text>'
        for x, label in axis.ticks()
    )
    rows = "".join(_row(i, a, axis, model) for i, a in enumerate(model.attempts))
    count = len(model.attempts)
    summary = (
        f"Timeline of Databricks run {model.run_id}: {count} task run{'s' if count != 1 else ''}, "
        f"one row each, from {_time(axis.origin)}"
    )
    return (
        f'<div class="chart"><svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="group" aria-labelledby="tl-title" aria-describedby="tl-desc">'
        f'<title id="tl-title">{escape(summary)}</title><desc id="tl-desc">Each bar runs from the task '
        "run's start to its end and links to its row in the table of task runs below; arrows show "
        "depends_on; dashed lines mark repairs.</desc>"
        '<defs><marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" '
        'orient="auto"><path class="arrow" d="M0 0L6 3L0 6z"/></marker></defs>'
        f'<g aria-hidden="true">{ticks}{_repair_marks(model, axis, height)}{_edges(model, axis)}</g>'
        f'<g role="list" aria-label="Task runs">{rows}</g></svg></div>'
    )


def _legend() -> str:
    items = "".join(
        f'<li><span class="swatch {k.value}" aria-hidden="true"></span>{_LABELS[k]}</li>' for k in Kind
    )
    return f'<ul class="legend" aria-label="Colours of the timeline">{items}</ul>'


def _reports(model: RunModel) -> str:
    if not model.reports:
        return ""
    shown, total = len(model.reports), model.failed_total
    heading = f"Failed tasks ({total})" if shown >= total else f"Failed tasks (the first {shown} of {total})"
    articles = "".join(
        f'<article id="f{i}" aria-labelledby="f{i}-h"><h3 id="f{i}-h">{escape(model.name_of(r.task_key))} '
        f'<span class="muted">task run {r.run_id}</span></h3>'
        f"<pre>{escape(chr(10).join(r.lines))}</pre></article>"
        for i, r in enumerate(model.reports)
    )
    more = "" if shown >= total else '<p class="muted">The run page lists every failed task.</p>'
    return f'<section aria-labelledby="failed-h"><h2 id="failed-h">{heading}</h2>{articles}{more}</section>'


def _table_row(index: int, a: Attempt, model: RunModel, report: int | None) -> str:
    shown = model.name_of(a.task_key)
    name = escape(shown) if report is None else f'<a href="#f{report}">{escape(shown)}</a>'
    if shown != a.task_key:
        name += f'<br><span class="muted">{escape(a.task_key)}</span>'
    duration = duration_text((a.end_ms or model.now_ms) - a.start_ms) if a.start_ms else ""
    state = f'{_LABELS[a.kind]}<br><span class="muted">{escape(a.state)}</span>'
    return (
        f'<tr id="r{index}"{" class=focus" if a.task_key == model.focus_key else ""}>'
        f'<th scope="row">{name}</th><td>{a.which.replace(" · ", ", ") or "first"}</td>'
        f'<td class="k-{a.kind.value}">{state}</td>'
        f"<td>{escape(_time(a.start_ms))}</td><td>{escape(duration)}</td>"
        f"<td>{escape(', '.join(model.name_of(key) for key in a.depends_on))}</td>"
        f"<td>{escape(a.message)}</td></tr>"
    )


def _table(model: RunModel) -> str:
    reported = {r.run_id: i for i, r in enumerate(model.reports)}
    rows = [_table_row(i, a, model, reported.get(a.run_id)) for i, a in enumerate(model.attempts)]
    return (
        '<section aria-labelledby="runs-h"><h2 id="runs-h">Task runs</h2><table>'
        "<caption>One row per task run: a retry or a repair is a task run of its own.</caption>"
        '<thead><tr><th scope="col">Task</th><th scope="col">Attempt</th><th scope="col">State</th>'
        '<th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Depends on</th>'
        f'<th scope="col">Message</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>'
    )


def _parameters(model: RunModel) -> str:
    if not model.parameters:
        return ""
    rows = "".join(
        f'<tr><th scope="row">{escape(name)}</th><td>{escape(value)}</td></tr>'
        for name, value in model.parameters
    )
    return (
        '<section aria-labelledby="params-h"><h2 id="params-h">Parameters</h2><table>'
        f'<thead><tr><th scope="col">Name</th><th scope="col">Value</th></tr></thead><tbody>{rows}</tbody>'
        "</table></section>"
    )


def render(model: RunModel, *, nonce: str = "", theme: str = "auto", refresh_seconds: int = 0) -> str:
    """The tab's page for ``model``.

    :param nonce: the response's CSP nonce for the page's style sheet and script.
    :param theme: one of :data:`THEMES`.
    :param refresh_seconds: while the run goes on, reload the page this often (0: never).
    """
    body = (
        _header(model, refresh_seconds)
        + '<section aria-labelledby="tl-h"><h2 id="tl-h">Timeline</h2>'
        + _legend()
        + _timeline(model)
        + "</section>"
        + _reports(model)
        + _table(model)
        + _parameters(model)
    )
    refresh = 0 if model.final else refresh_seconds
    return _page(f"Databricks run {model.run_id}", body, nonce=nonce, theme=theme, refresh=refresh)


def _statement_facts(model: StatementModel, refresh_seconds: int) -> str:
    facts = [
        ("State", f'<span class="state k-{model.kind.value}">{escape(model.state)}</span>'),
        ("Statement", escape(model.statement_id)),
        ("Warehouse", escape(model.warehouse_id)),
    ]
    if model.error_code:
        facts.append(("Error code", escape(model.error_code)))
    if model.sql_state:
        facts.append(("SQLSTATE", escape(model.sql_state)))
    if model.message:
        facts.append(("Message", escape(model.message).replace("\n", "<br>")))
    facts.append(("Started", escape(_time(model.started_ms)) or "not known"))
    if model.started_ms:
        so_far = "" if model.final or model.ended_ms else " so far"
        facts.append(("Duration", escape(duration_text(model.duration_ms)) + so_far))
    every = f" (read again at most every {refresh_seconds} s)" if refresh_seconds > 0 else ""
    facts.append(("Read from Databricks", escape(_time(model.now_ms)) + every))
    return "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)


def render_statement(
    model: StatementModel, *, nonce: str = "", theme: str = "auto", refresh_seconds: int = 0
) -> str:
    """The tab's page for a SQL statement: what Databricks says of it, and its failure report.

    :param nonce: the response's CSP nonce for the page's style sheet and script.
    :param theme: one of :data:`THEMES`.
    :param refresh_seconds: while the statement goes on, reload the page this often (0: never).
    """
    title = f"Databricks SQL statement {model.statement_id}"
    body = (
        f'<header><h1>{escape(title)}</h1><dl class="facts">{_statement_facts(model, refresh_seconds)}</dl>'
        "</header>"
    )
    if model.forgotten:
        body += (
            '<p class="note" role="note">Databricks no longer keeps this statement: it removes a statement '
            "12 hours after it ends. What is shown comes from its query history.</p>"
        )
    if model.report:
        body += (
            '<section aria-labelledby="report-h"><h2 id="report-h">Failure report</h2>'
            '<p class="muted">As the task log writes it; the failing line of the SQL is marked with '
            "<code>&gt;</code> and a <code>^</code> under the failing position.</p>"
            f"<pre>{escape(chr(10).join(model.report))}</pre></section>"
        )
    elif model.sql:
        body += (
            '<section aria-labelledby="sql-h"><h2 id="sql-h">SQL</h2>'
            f"<pre>{escape(chr(10).join(model.sql))}</pre></section>"
        )
    refresh = 0 if model.final else refresh_seconds
    return _page(title, body, nonce=nonce, theme=theme, refresh=refresh)
