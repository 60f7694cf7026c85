"""The documentation site builds in strict mode: every page in the nav exists and every link resolves.

The API reference pages are generated from the docstrings: each names the public classes of its module.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# page under reference/ -> names its rendered text must contain
REFERENCE = {
    "operators": [
        "DatabricksSubmitRunDeferrableOperator",
        "DatabricksRunNowDeferrableOperator",
        "cancel_on_kill",
    ],
    "task-operators": ["DatabricksNotebookOperator", "DatabricksTaskOperator"],
    "workflow": ["DatabricksWorkflowTaskGroup"],
    "sensors": ["DatabricksSQLStatementsSensor", "statement_id"],
    "hooks": ["DatabricksAsyncHook", "DatabricksHook"],
    "triggers": ["DatabricksRunTrigger", "polling_period_seconds"],
    "exceptions": ["DatabricksConfigError", "DatabricksRunFailedError", "DatabricksApiError"],
    "client": ["JobsClient", "ClientConfig", "DatabricksError", "judge"],
    "emulator": ["EmulatorServer", "EmulatorConfig", "create_app"],
    "testing": ["databricks_emulator"],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


def test_docs_build_strict(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "operators" / "index.html").is_file()
    assert (site / "compatibility" / "index.html").is_file()
    assert (site / "security" / "index.html").is_file()


@pytest.mark.parametrize(("page", "names"), sorted(REFERENCE.items()))
def test_api_reference_is_generated_from_the_docstrings(site: Path, page: str, names: list[str]) -> None:
    raw = (site / "reference" / page / "index.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", " ", raw))
    missing = [name for name in names if name not in text]
    assert missing == [], f"reference/{page} lacks {missing}"
