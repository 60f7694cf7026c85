"""The chaos harness at 200 task tries: faults in both phases never change an outcome or duplicate a run."""

from __future__ import annotations

import pytest

from bench.chaos import FAULT_KINDS, ChaosSettings, plan_tasks, run_chaos


def test_plan_mixes_task_kinds_operators_and_outcomes() -> None:
    specs = plan_tasks(ChaosSettings(tries=200))
    assert sum(s.tries for s in specs) == 200
    assert {s.kind for s in specs} == {"plain", "retry", "reattach"}
    assert {s.operator for s in specs} == {"submit", "run_now_id", "run_now_name"}
    assert abs(sum(s.fails for s in specs) - len(specs) / 2) <= 1
    assert all(0.2 <= s.duration <= 1.5 for s in specs)


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_two_hundred_task_tries_under_twenty_percent_faults() -> None:
    # Stalls of 1.5 s against a 1 s client timeout: every stall is a lost answer (a Timeout).
    report = await run_chaos(ChaosSettings(tries=200, stall_seconds=1.5, client_timeout=1.0, seed=3))
    print(report.table())
    assert report.problems == []
    assert report.correct == report.tries == 200
    assert report.duplicate_submits == 0
    assert report.runs_left_active == 0
    assert report.bad_event_counts == 0
    for kind in FAULT_KINDS:
        assert report.faults[kind] > 0, kind
    assert report.faults_by_phase["before"] > 0
    assert report.faults_by_phase["after"] > 0
    assert 0.12 < sum(report.faults.values()) / report.requests_total < 0.28
    assert report.wall_seconds < 60
