"""The Databricks tab's renderer: ``runs/get`` answers of 1, 20 and 200 tasks, retries, repairs; statements.

The renderer is a pure function (model in, HTML out), so these tests build ``runs/get`` answers by
hand and read the page back: the timeline is parsed as XML (SVG must be well formed), the rest with
the standard HTML parser.
"""

from __future__ import annotations

import html
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import pytest

from airflow_dbx_async.client import QueryInfo, RunState, Statement, StatementStatus
from airflow_dbx_async.workflow._run_model import (
    FailedReport,
    Kind,
    RunModel,
    build_run,
    build_statement,
    kind_of,
    masked,
    masked_statement,
)
from airflow_dbx_async.workflow._run_view import render, render_message, render_statement

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC
SVG = "{http://www.w3.org/2000/svg}"


def _state(life: str, result: str | None = None, message: str = "") -> dict[str, Any]:
    return {"life_cycle_state": life, "result_state": result, "state_message": message}


def _task(
    key: str, run_id: int, start: int, seconds: float, *, result: str = "SUCCESS", **extra: Any
) -> dict[str, Any]:
    ended = result not in ("RUNNING", "PENDING")
    life = "TERMINATED" if ended else result
    return {
        "task_key": key,
        "run_id": run_id,
        "attempt_number": 0,
        "start_time": T0 + start if life != "PENDING" else 0,
        "end_time": T0 + start + int(seconds * 1000) if ended else 0,
        "state": _state(life, result if ended else None, "Workload failed" if result == "FAILED" else ""),
        "run_page_url": f"https://dbc.example/#job/1/run/{run_id}",
        "notebook_task": {"notebook_path": f"/Shared/{key}"},
        "job_cluster_key": "main",
        **extra,
    }


def _run(
    tasks: list[dict[str, Any]], *, result: str | None = "FAILED", history: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    ends = [t["end_time"] for t in tasks if t["end_time"]]
    return {
        "run_id": 900,
        "job_id": 1,
        "run_name": "nightly",
        "run_page_url": "https://dbc.example/#job/1/run/900",
        "state": _state("TERMINATED" if result else "RUNNING", result, "2 tasks failed" if result else ""),
        "start_time": T0,
        "end_time": max(ends) if result and ends else 0,
        "tasks": tasks,
        "job_clusters": [
            {"job_cluster_key": "main", "new_cluster": {"spark_version": "15.4.x", "num_workers": 2}}
        ],
        "job_parameters": [{"name": "day", "value": "2026-01-01"}],
        "repair_history": history or [{"type": "ORIGINAL", "id": 1, "task_run_ids": []}],
    }


def _chain(count: int) -> list[dict[str, Any]]:
    """``count`` tasks in layers of four; each depends on one or two tasks of the layer before."""
    tasks = []
    for i in range(count):
        deps = sorted({i - 4, i - 4 - i % 3} & set(range(i - 4 - 3, i - 3))) if i >= 4 else []
        result = "FAILED" if i % 50 == 7 else "SUCCESS"
        depends = [{"task_key": f"t{d:03}"} for d in deps if d >= 0]
        tasks.append(_task(f"t{i:03}", 1000 + i, (i // 4) * 5000, 4, result=result, depends_on=depends))
    return tasks


def _retried_and_repaired() -> dict[str, Any]:
    """``load`` failed, was retried by Databricks, failed again, and was repaired with ``report``."""
    skipped = {**_task("report", 15, 0, 0, depends_on=[{"task_key": "load"}]), "start_time": 0, "end_time": 0}
    skipped["state"] = _state("TERMINATED", "UPSTREAM_FAILED")
    tasks = [
        _task("extract", 11, 0, 5),
        _task("load", 12, 6000, 3, result="FAILED", depends_on=[{"task_key": "extract"}]),
        {
            **_task("load", 13, 10000, 2, result="FAILED", depends_on=[{"task_key": "extract"}]),
            "attempt_number": 1,
        },
        skipped,
        _task("load", 14, 60000, 4, depends_on=[{"task_key": "extract"}]),
        _task("report", 16, 65000, 1, depends_on=[{"task_key": "load"}]),
    ]
    history = [
        {"type": "ORIGINAL", "id": 500, "task_run_ids": [11, 12, 13, 15]},
        {"type": "REPAIR", "id": 501, "start_time": T0 + 59000, "task_run_ids": [14, 16]},
    ]
    return _run(tasks, result="SUCCESS", history=history)


def _model(raw: dict[str, Any], **kwargs: Any) -> RunModel:
    return build_run(raw, now_ms=T0 + 3_600_000, **kwargs)


def _svg(page: str) -> ET.Element:
    start, end = page.index("<svg"), page.index("</svg>") + len("</svg>")
    return ET.fromstring(page[start:end])


def _bars(svg: ET.Element) -> list[ET.Element]:
    return [r for r in svg.iter(f"{SVG}rect") if "bar" in (r.get("class") or "").split()]


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))


def test_one_task_one_bar_labelled_and_in_the_table() -> None:
    raw = _run([_task("only", 11, 0, 12, result="FAILED")])
    report = FailedReport(
        "only", 11, ("task 'only' (task run 11): Workload failed", "  error:", "    | E: <x>")
    )
    page = render(_model(raw, reports=[report], failed_total=1))
    svg = _svg(page)
    (bar,) = _bars(svg)
    assert bar.get("class") == "bar failed"
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "only" in labels
    assert "failed · 12 s" in labels
    (link,) = [a for a in svg.iter(f"{SVG}a")]
    assert link.get("aria-label", "").startswith("only: failed · 12 s, started 2026-01-01 00:00:00 UTC")
    assert link.find(f"{SVG}title") is not None
    assert "Failed tasks (1)" in page
    assert "    | E: &lt;x&gt;" in page  # the report, escaped
    assert '<a href="https://dbc.example/#job/1/run/900" target="_blank"' in page
    assert "day</th><td>2026-01-01" in page
    assert "job cluster main (15.4.x, 2 workers)" in page


def test_twenty_tasks_rows_arrows_and_links() -> None:
    raw = _run(_chain(20))
    page = render(_model(raw, reports=[], failed_total=0))
    svg = _svg(page)
    assert len(_bars(svg)) == 20
    edges = [p for p in svg.iter(f"{SVG}path") if p.get("class") == "edge"]
    expected = sum(len(t["depends_on"]) for t in raw["tasks"])
    assert len(edges) == expected > 0
    parser = _Ids()
    parser.feed(page)
    targets = {href[1:] for href in parser.links if href.startswith("#")}
    assert {f"r{i}" for i in range(20)} <= targets <= parser.ids  # every bar links to its table row
    assert svg.get("role") == "group"
    assert svg.find(f"{SVG}title") is not None
    assert svg.find(f"{SVG}desc") is not None
    assert "<caption>One row per task run" in page
    assert '<th scope="row">t019</th>' in page


def test_retries_and_repairs_are_rows_of_their_own_and_the_repair_is_marked() -> None:
    model = _model(_retried_and_repaired())
    assert [a.label for a in model.attempts] == [
        "extract",
        "load",
        "load · retry 1",
        "load · repair 1",
        "report",
        "report · repair 1",
    ]
    assert [a.latest for a in model.attempts] == [True, False, False, True, False, True]
    assert model.kind is Kind.SUCCEEDED
    assert len(model.repairs) == 1
    page = render(replace_focus(model, "load"))
    svg = _svg(page)
    assert [b.get("class") for b in _bars(svg)] == [
        "bar succeeded",
        "bar failed",
        "bar failed",
        "bar succeeded",
        "bar succeeded",
    ]
    repair_lines = [line for line in svg.iter(f"{SVG}line") if line.get("class") == "repair"]
    assert len(repair_lines) == 1
    assert "repair 1" in [t.text for t in svg.iter(f"{SVG}text")]
    assert len([r for r in svg.iter(f"{SVG}rect") if r.get("class") == "row-focus"]) == 3  # load's rows
    edges = [p.get("d") for p in svg.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert len(edges) == 3  # extract -> load, extract -> load's repair, load's repair -> report's repair
    assert "not started" in page  # report, skipped before the repair
    assert 'href="/databricks-async/repair/d/r/wf.load"' in page
    assert "<td>retry 1</td>" in page
    assert "<td>repair 1</td>" in page


def test_tasks_are_named_after_the_airflow_tasks_that_run_them() -> None:
    model = replace(_model(_retried_and_repaired()), names=(("load", "wf.load"), ("extract", "wf.extract")))
    page = render(model)
    texts = [t.text for t in _svg(page).iter(f"{SVG}text")]
    assert "wf.load · repair 1" in texts
    assert "report" in texts  # no Airflow task known: its key
    assert "depends on wf.extract" in page
    assert '<th scope="row">wf.load<br><span class="muted">load</span></th>' in page


def replace_focus(model: RunModel, key: str) -> RunModel:
    return replace(model, focus_key=key, repair_url="/databricks-async/repair/d/r/wf.load")


def test_two_hundred_tasks_render_in_under_200_ms() -> None:
    tasks = _chain(200)
    tasks += [
        {**t, "run_id": t["run_id"] + 5000, "attempt_number": 1}
        for t in tasks
        if t["state"]["result_state"] == "FAILED"
    ]
    raw = _run(tasks)
    reports = [FailedReport(t["task_key"], t["run_id"], ("error:",) + ("    | x",) * 80) for t in tasks[:4]]
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        page = render(_model(raw, reports=reports, failed_total=8))
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.2, timings
    svg = _svg(page)
    assert len(_bars(svg)) == len(tasks) == 204
    assert "Failed tasks (the first 4 of 8)" in page


def test_a_running_run_reloads_and_its_bars_end_now() -> None:
    raw = _run(
        [_task("a", 1, 0, 5), _task("b", 2, 5000, 0, result="RUNNING"), _task("c", 3, 0, 0, result="PENDING")]
    )
    raw["state"] = _state("RUNNING")
    raw["end_time"] = 0
    model = build_run(raw, now_ms=T0 + 65_000)
    page = render(model, refresh_seconds=15)
    assert '<meta http-equiv="refresh" content="15">' in page
    assert "running · 1 min" in page
    assert "not started" in page
    assert "1 min 5 s so far" in page
    finished = render(_model(_run([_task("a", 1, 0, 5)])), refresh_seconds=15)
    assert "http-equiv" not in finished


def test_text_from_databricks_is_escaped_and_only_web_links_are_links() -> None:
    raw = _run([_task("<b>x</b>", 1, 0, 1, result="FAILED")])
    raw["tasks"][0]["state"]["state_message"] = '<img src=x onerror="alert(1)">'
    raw["run_page_url"] = "javascript:alert(1)"
    page = render(_model(raw))
    assert "<img" not in page
    assert "<b>x" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "javascript:" not in page


def test_a_single_task_run_without_tasks_is_its_own_row() -> None:
    raw = {
        "run_id": 5,
        "run_name": "legacy",
        "state": _state("TERMINATED", "SUCCESS"),
        "start_time": T0,
        "end_time": T0 + 2000,
        "existing_cluster_id": "0101-abc",
    }
    model = _model(raw)
    (attempt,) = model.attempts
    assert (attempt.task_key, attempt.kind, attempt.end_ms - attempt.start_ms) == (
        "legacy",
        Kind.SUCCEEDED,
        2000,
    )
    assert model.clusters == ("existing cluster 0101-abc",)


def test_masking_reaches_every_text_from_databricks() -> None:
    raw = _run([_task("a", 1, 0, 1, result="FAILED")])
    raw["tasks"][0]["state"]["state_message"] = "failed with s3cret"
    raw["job_parameters"] = [{"name": "password", "value": "plain"}, {"name": "day", "value": "s3cret-day"}]
    report = FailedReport("a", 1, ("error: s3cret",))

    def mask(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "***" if k == "password" else mask(v) for k, v in value.items()}
        return value.replace("s3cret", "***")

    page = render(masked(_model(raw, reports=[report], failed_total=1), mask))
    assert "s3cret" not in page
    assert "plain" not in page
    assert "failed with ***" in page
    assert "error: ***" in page
    assert "***-day" in page


@pytest.mark.parametrize(
    ("life", "result", "kind"),
    [
        ("TERMINATED", "SUCCESS", Kind.SUCCEEDED),
        ("TERMINATED", "SUCCESS_WITH_FAILURES", Kind.SUCCEEDED),
        ("TERMINATED", "FAILED", Kind.FAILED),
        ("TERMINATED", "TIMEDOUT", Kind.FAILED),
        ("INTERNAL_ERROR", None, Kind.FAILED),
        ("TERMINATED", "CANCELED", Kind.CANCELLED),
        ("TERMINATED", "UPSTREAM_FAILED", Kind.SKIPPED),
        ("SKIPPED", None, Kind.SKIPPED),
        ("TERMINATING", None, Kind.RUNNING),
        ("BLOCKED", None, Kind.WAITING),
        ("WAITING_FOR_RETRY", None, Kind.WAITING),
        ("SOMETHING_NEW", None, Kind.UNKNOWN),
    ],
)
def test_kind_of(life: str, result: str | None, kind: Kind) -> None:
    assert kind_of(RunState.from_api({"life_cycle_state": life, "result_state": result})) is kind


def test_the_page_follows_the_theme_it_is_given_else_the_framing_ui() -> None:
    model = _model(_run([_task("a", 1, 0, 1)]))
    assert '<html lang="en" data-theme="dark">' in render(model, theme="dark")
    assert '<html lang="en" data-theme="auto">' in render(model, theme="<nope>")
    page = render(model, nonce="abc")
    assert "@media (prefers-color-scheme:dark)" in page
    assert "classList" in page  # follows the framing Airflow UI's dark/light class
    assert '<style nonce="abc">' in page
    assert '<script nonce="abc">' in page
    message = render_message("No run", "<nothing>", theme="light")
    assert "&lt;nothing&gt;" in message
    assert 'data-theme="light"' in message


def test_a_failed_tasks_lines_are_the_task_logs() -> None:
    from airflow_dbx_async.client import RunOutput
    from airflow_dbx_async.outcome import FailedTask, RunEvent, TaskDetails, report_lines, task_lines

    state = RunState.from_api(_state("TERMINATED", "FAILED", "Workload failed"))
    task = FailedTask("load", 12, "https://dbc.example/#run/12", state, "spark_python_task")
    details = TaskDetails(task, RunOutput(12, error="KeyError: 'day'", logs="reading\nfailed\n"))
    event = RunEvent("failed", 900, state=state, failed_tasks=(task,), failed_total=1)
    in_log = report_lines(event, [details])
    shown = task_lines(details)
    assert in_log[-len(shown) :] == [f"[1/1] {shown[0]}", *shown[1:]]  # one report, two places
    assert "    | KeyError: 'day'" in shown


def _pre(page: str) -> list[str]:
    return html.unescape(page.split("<pre>", 1)[1].split("</pre>", 1)[0]).split("\n")


def test_a_failed_statement_shows_the_task_logs_report_marked_escaped_and_masked() -> None:
    from airflow_dbx_async.outcome import StatementEvent, statement_report_lines
    from airflow_dbx_async.workflow._ui_run import _statement_lines

    sql = "SELECT '<script>alert(1)</script>' AS x,\n       's3cret' AS token,\n       itme\nFROM t"
    message = "no such column: itme (line 3, pos 7) near <b>s3cret</b>"
    status = StatementStatus.from_api(
        {"state": "FAILED", "error": {"error_code": "BAD_REQUEST", "message": message}, "sql_state": "42703"}
    )
    statement = Statement("01ef-abc", status)
    query = QueryInfo("01ef-abc", "FAILED", "wh-1", sql, message, T0, T0 + 1500)
    seen = (("PENDING", 1.0), ("FAILED", 2.5))
    in_log = statement_report_lines(
        StatementEvent.final("01ef-abc", status, warehouse_id="wh-1", history=seen), sql
    )
    report, plain = _statement_lines(statement, query, "wh-1")
    # One report, two places; the tab shows no states seen: it reads Databricks, not the watch.
    assert (report, plain) == ([line for line in in_log if not line.startswith("  states seen")], [])

    model = build_statement(statement, query, now_ms=T0 + 60_000, report=report)
    page = render_statement(masked_statement(model, lambda v: v.replace("s3cret", "***")))
    assert "s3cret" not in page
    assert "<script>alert" not in page
    assert "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    shown = _pre(page)
    assert shown == [line.replace("s3cret", "***") for line in report]
    flagged = next(i for i, line in enumerate(shown) if line.startswith("    | > 3 "))
    assert shown[flagged].index("itme") == shown[flagged + 1].index("^")
    assert '<span class="state k-failed">FAILED</span>' in page
    assert "<dt>Error code</dt><dd>BAD_REQUEST</dd>" in page
    assert "<dt>SQLSTATE</dt><dd>42703</dd>" in page
    assert "<dt>Duration</dt><dd>1 s</dd>" in page
    assert "http-equiv" not in page  # it ended: no reload
    assert "no longer keeps" not in page


def test_a_running_statement_reloads_and_a_forgotten_one_says_where_it_comes_from() -> None:
    from airflow_dbx_async.workflow._ui_run import _statement_lines

    query = QueryInfo("s-1", "RUNNING", "wh-1", "SELECT 1", "", T0)
    running = Statement("s-1", StatementStatus.from_api({"state": "RUNNING"}))
    report, sql = _statement_lines(running, query, "wh-1")
    model = build_statement(running, query, now_ms=T0 + 2000, report=report, sql=sql)
    assert (model.kind, model.report, model.sql) == (Kind.RUNNING, (), ("  1  SELECT 1",))
    page = render_statement(model, refresh_seconds=15)
    assert '<meta http-equiv="refresh" content="15">' in page
    assert "2 s so far" in page
    assert _pre(page) == ["  1  SELECT 1"]

    gone = QueryInfo(
        "s-2", "FAILED", "wh-1", "SELECT\n  nope", "no such column: nope (line 2, pos 2)", T0, T0 + 10
    )
    report, sql = _statement_lines(None, gone, "wh-1")
    model = build_statement(None, gone, now_ms=T0 + 13 * 3_600_000, report=report, sql=sql)
    assert (model.kind, model.forgotten, model.report) == (Kind.FAILED, True, ())
    page = render_statement(model)
    assert "Databricks no longer keeps this statement" in page
    assert _pre(page) == ["  1  SELECT", "> 2    nope", "       ^"]
