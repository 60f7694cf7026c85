"""Print pip constraints pinning every runtime dependency to its declared lower bound.

``python tests/lowest/pins.py`` reads ``[project].dependencies`` of ``pyproject.toml`` and prints
``name==version`` for each ``>=`` bound, so the lowest-versions leg of ``scripts/test.sh`` installs
exactly the minimums the package declares (the bounds are defined once, in ``pyproject.toml``).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
_LOWER_BOUND = re.compile(r"^\s*([A-Za-z0-9._-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*$")


def declared_minimums(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """``{distribution name: lowest allowed version}`` for every runtime dependency."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    minimums: dict[str, str] = {}
    for requirement in dependencies:
        match = _LOWER_BOUND.match(requirement)
        if match is None:
            raise ValueError(f"dependency {requirement!r} is not a single lower bound 'name>=version'")
        minimums[match.group(1)] = match.group(2)
    return minimums


def main() -> int:
    """Print the constraints, one a line."""
    for name, version in declared_minimums().items():
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
