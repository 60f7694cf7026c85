"""The plugin's tests run the emulator on the demo workspace (real notebooks, job 5 preloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

DEMO_WORKSPACE = Path(__file__).resolve().parents[2] / "demo" / "workspace"


@pytest.fixture(scope="session")
def databricks_emulator_workspace() -> Path:
    return DEMO_WORKSPACE
