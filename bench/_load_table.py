"""The printed table of :mod:`bench.triggerer_load`: per shape and N, ours against the official."""

from __future__ import annotations

from typing import Any

__all__ = ("METRICS", "print_table")

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
