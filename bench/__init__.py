"""Benchmarks (run with ``python -m bench.<name>``)."""

from __future__ import annotations

__all__ = ()
