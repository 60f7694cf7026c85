"""The benchmark's verdict table holds each (shape, N) to the busy-workspace targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench._load_table import print_saved, print_targets


def _row(impl: str, shape: str, n: int, requests: float, cpu: float, lag: float, succeeded: int = -1):
    return (impl, shape, n), {
        "impl": impl,
        "shape": shape,
        "n": n,
        "poll_seconds": 30.0,
        "requests_per_run": requests,
        "cpu_per_run": cpu,
        "lag_p99": lag,
        "lag_p50": lag / 2,
        "succeeded": n if succeeded < 0 else succeeded,
        "new_connections_per_poll": 0.01,
        "rss_per_run_bytes": 1000,
    }


def _verdicts(out: str) -> dict[tuple[str, str], str]:
    lines = out.split("against the targets", 1)[1].splitlines()[2:]
    return {(line.split()[0], line.split()[1]): line.split("  ")[-1].strip() for line in lines if line}


def test_targets_met_and_missed(capsys: pytest.CaptureFixture[str]) -> None:
    rows = dict(
        [
            _row("ours", "quiet", 1000, 0.2, 0.001, 25.0),
            _row("official", "quiet", 1000, 3.0, 0.007, 40.0),  # 0.067 and 0.143: both under
            _row("ours", "quiet", 10, 0.5, 0.01, 12.0),
            _row("official", "quiet", 10, 3.0, 0.015, 20.0),  # 0.167: no request target below 1,000
            _row("ours", "busy", 10, 2.0, 0.01, 31.5),  # lag over 30 + 1 s
            _row("official", "busy", 10, 5.0, 0.02, 30.0),
            _row("ours", "busy", 1000, 3.5, 0.001, 20.0, succeeded=999),  # dearer, one run not seen
            _row("official", "busy", 1000, 3.0, 0.01, 40.0),
        ]
    )
    assert print_targets(rows, ["quiet", "busy", "long"], [10, 1000], 30.0) is False
    verdicts = _verdicts(capsys.readouterr().out)
    assert verdicts[("quiet", "10")] == "ok"
    assert verdicts[("quiet", "1,000")] == "ok"
    assert verdicts[("busy", "10")] == "MISSED: lag_p99"
    assert verdicts[("busy", "1,000")] == "MISSED: requests_per_run, succeeded"
    assert verdicts[("long", "10")] == "MISSED: did not finish"


def test_quiet_ratio_over_a_tenth_at_1000_misses(capsys: pytest.CaptureFixture[str]) -> None:
    rows = dict(
        [_row("ours", "quiet", 1000, 0.4, 0.002, 25.0), _row("official", "quiet", 1000, 3.0, 0.007, 40.0)]
    )
    assert print_targets(rows, ["quiet"], [1000], 30.0) is False
    assert _verdicts(capsys.readouterr().out)[("quiet", "1,000")] == "MISSED: requests_per_run, cpu_per_run"


def test_saved_run_is_reported_from_its_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [_row("ours", "long", 100, 0.5, 0.002, 20.0)[1], _row("official", "long", 100, 4.0, 0.01, 30.0)[1]]
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(rows))
    assert print_saved(str(saved)) is True
    out = capsys.readouterr().out
    assert "long, N = 100" in out
    assert _verdicts(out) == {("long", "100"): "ok"}
