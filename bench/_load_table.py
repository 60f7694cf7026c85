"""The printed table of :mod:`bench.triggerer_load`: per shape and N, ours against the official."""

from __future__ import annotations

import json
from typing import Any

__all__ = ("METRICS", "print_saved", "print_table", "print_targets")

METRICS = (
    ("requests_per_run", "HTTP requests per finished run", "{:.3f}"),
    ("new_connections_per_poll", "new TLS connections per poll", "{:.4f}"),
    ("cpu_per_run", "CPU seconds per finished run", "{:.5f}"),
    ("rss_per_run_bytes", "peak RSS per deferred run (bytes)", "{:.0f}"),
    ("lag_p50", "lag end->event p50 (s)", "{:.2f}"),
    ("lag_p99", "lag end->event p99 (s)", "{:.2f}"),
)


def _ratio(ours: dict[str, Any] | None, official: dict[str, Any] | None, key: str) -> str:
    if not ours or not official or not official[key]:
        return "-"
    return f"{ours[key] / official[key]:.3f}"


def print_table(
    rows: dict[tuple[str, str, int], dict[str, Any]], shapes: list[str], sizes: list[int]
) -> None:
    """Print one block per (shape, N): each metric for ours, the official trigger and their ratio."""
    for shape in shapes:
        for n in sizes:
            ours, official = rows.get(("ours", shape, n)), rows.get(("official", shape, n))
            print(f"\n{shape}, N = {n:,}")
            print(f"  {'metric':38} {'ours':>12} {'official':>12} {'ours/official':>14}")
            for key, label, fmt in METRICS:
                a = fmt.format(ours[key]) if ours else "-"
                b = fmt.format(official[key]) if official else "n/a"
                print(f"  {label:38} {a:>12} {b:>12} {_ratio(ours, official, key):>14}")


def _limits(shape: str, n: int, poll: float) -> dict[str, float]:
    """The targets one (shape, N) is held to: ratio ceilings and the p99 lag limit."""
    limits = {"lag_p99": poll + 1.0}
    if shape == "statements":
        limits.update(requests_per_run=1.0, cpu_per_run=0.5)
    elif shape != "quiet":
        limits["requests_per_run"] = 1.0
    elif n >= 1000:
        limits.update(requests_per_run=0.1, cpu_per_run=0.2)
    return limits


def _verdict(ours: dict[str, Any], official: dict[str, Any] | None, limits: dict[str, float]) -> str:
    misses = []
    for key, ceiling in limits.items():
        if key == "lag_p99":
            value: float | None = ours[key]
        else:
            value = ours[key] / official[key] if official and official[key] else None
        if value is None or value > ceiling:
            misses.append(key)
    if ours["succeeded"] != ours["n"]:
        misses.append("succeeded")
    return "ok" if not misses else "MISSED: " + ", ".join(misses)


def print_targets(
    rows: dict[tuple[str, str, int], dict[str, Any]], shapes: list[str], sizes: list[int], poll: float
) -> bool:
    """Print ours against the targets, one line per (shape, N); True when every line is met.

    Targets: requests per finished run at most the official trigger's in the busy and long shapes,
    at most a tenth of it in the quiet shape at N >= 1,000, where CPU per finished run is at most a
    fifth; p99 lag at most the polling period plus 1 s everywhere; every run seen to succeed.
    """
    print(f"\nagainst the targets (p99 lag limit {poll + 1:.0f} s)")
    print(f"  {'shape':6} {'N':>7} {'requests':>9} {'CPU':>7} {'p99 lag':>8} {'succeeded':>12}  verdict")
    met = True
    for shape in shapes:
        for n in sizes:
            ours, official = rows.get(("ours", shape, n)), rows.get(("official", shape, n))
            if ours is None:
                print(f"  {shape:6} {n:>7,} {'-':>9} {'-':>7} {'-':>8} {'-':>12}  MISSED: did not finish")
                met = False
                continue
            verdict = _verdict(ours, official, _limits(shape, n, poll))
            met = met and verdict == "ok"
            requests, cpu = _ratio(ours, official, "requests_per_run"), _ratio(ours, official, "cpu_per_run")
            done = f"{ours['succeeded']:,}/{n:,}"
            print(f"  {shape:6} {n:>7,} {requests:>9} {cpu:>7} {ours['lag_p99']:>8.1f} {done:>12}  {verdict}")
    return met


def print_saved(path: str) -> bool:
    """Print both tables of a run saved with ``--json``; True when every target was met there."""
    with open(path) as fh:
        saved = json.load(fh)
    rows = {(r["impl"], r["shape"], int(r["n"])): r for r in saved}
    shapes = [s for s in ("quiet", "busy", "long") if any(k[1] == s for k in rows)]
    sizes = sorted({k[2] for k in rows})
    polls = {float(r["poll_seconds"]) for r in saved}
    if len(polls) != 1:
        raise SystemExit(f"{path}: measurements with different polling periods: {sorted(polls)}")
    print_table(rows, shapes, sizes)
    return print_targets(rows, shapes, sizes, polls.pop())
