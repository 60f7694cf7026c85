"""The committed locks: what each is resolved from, and whether it still matches ``pyproject.toml``.

Every test leg installs from a lock that names the exact version and hashes of every distribution
(``locks/``), and users get the tested versions as pip constraints files (``constraints/``). Only
``bash scripts/lock.sh`` writes them; it asks this module what to resolve. Each file starts with a
fingerprint of its inputs, so a change to the declared dependencies that was not re-locked is caught
before anything is installed:

    python scripts/locks.py check            # one line and exit 1 when a file is stale or missing
    python scripts/locks.py inputs NAME      # the requirements NAME is resolved from
    python scripts/locks.py describe NAME    # python version, exclude-newer date, lock it is bound to
    python scripts/locks.py header NAME      # the header lines lock.sh writes on top of NAME
    python scripts/locks.py uv-env [--lock]  # export lines: uv's index settings, read from pip's

Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCK_COMMAND = "bash scripts/lock.sh"
_LOWER_BOUND = re.compile(r"^\s*([A-Za-z0-9._-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*$")
_FINGERPRINT = re.compile(r"^# inputs: sha256:([0-9a-f]{64})$", re.MULTILINE)


def _pyproject(root: Path) -> dict[str, Any]:
    return tomllib.loads((root / "pyproject.toml").read_text())


def declared_minimums(root: Path = ROOT) -> dict[str, str]:
    """``{distribution name: lowest allowed version}`` for every runtime dependency."""
    minimums: dict[str, str] = {}
    for requirement in _pyproject(root)["project"]["dependencies"]:
        match = _LOWER_BOUND.match(requirement)
        if match is None:
            raise ValueError(f"dependency {requirement!r} is not a single lower bound 'name>=version'")
        minimums[match.group(1)] = match.group(2)
    return minimums


@dataclass(frozen=True)
class LockSpec:
    """One committed file: where it lives, the Python it is for and what it is resolved from."""

    name: str
    path: str
    python: str
    inputs: tuple[str, ...]
    exclude_newer: str | None = None
    bound_to: str | None = None  # a constraints file takes the versions of this lock
    hashes: bool = True
    purpose: str = ""

    def fingerprint(self) -> str:
        """sha256 over everything the resolution depends on that lives in this repository."""
        facts = {
            "python": self.python,
            "inputs": sorted(self.inputs),
            "exclude_newer": self.exclude_newer,
            "bound_to": self.bound_to,
            "hashes": self.hashes,
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()

    def header(self) -> str:
        """The comment lines on top of the file, the fingerprint among them."""
        lines = [f"# {self.purpose}", f"# Made by `{LOCK_COMMAND}`; do not edit by hand."]
        if self.exclude_newer:
            lines.append(f"# Resolved from releases published before {self.exclude_newer}.")
        lines.append(f"# inputs: sha256:{self.fingerprint()}")
        return "\n".join(lines)


def specs(root: Path = ROOT) -> dict[str, LockSpec]:
    """Every committed lock and constraints file, by name."""
    pyproject = _pyproject(root)
    project = pyproject["project"]
    settings = pyproject["tool"]["airflow-dbx-async"]["locks"]
    build = tuple(pyproject["build-system"]["requires"])
    runtime = tuple(project["dependencies"])
    test = tuple(project["optional-dependencies"]["test"])
    lowest_tools = tuple(
        line.strip()
        for line in (root / "tests/lowest/requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    pins = tuple(f"{name}=={version}" for name, version in declared_minimums(root).items())
    main_python, newest_python = settings["main-python"], settings["newest-python"]
    found = [
        LockSpec(
            "main",
            f"locks/main-py{main_python}.txt",
            main_python,
            runtime + test + build,
            purpose=f"Lock of the main test leg: Python {main_python}, the newest releases at lock time.",
        ),
        LockSpec(
            "lowest",
            f"locks/lowest-py{main_python}.txt",
            main_python,
            pins + lowest_tools + build,
            exclude_newer=settings["lowest-resolved-before"],
            purpose=f"Lock of the lowest test leg: Python {main_python}, the declared minimums.",
        ),
        LockSpec(
            "newest",
            f"locks/newest-py{newest_python}.txt",
            newest_python,
            runtime + test + build,
            purpose=f"Lock of the newest test leg: Python {newest_python}, the newest releases at lock time.",
        ),
    ]
    for python in settings["constraints-pythons"]:
        bound = "main" if python == main_python else "newest"
        found.append(
            LockSpec(
                f"constraints-{python}",
                f"constraints/constraints-{python}.txt",
                python,
                runtime,
                bound_to=bound,
                hashes=False,
                purpose=(
                    f"Constraints for `pip install airflow-dbx-async -c <this file>` on Python {python}:"
                    f" the versions of the {bound} test leg."
                ),
            )
        )
    found.append(
        LockSpec(
            "tools",
            "locks/tools.txt",
            main_python,
            tuple(settings["installer"]),
            purpose="The installer that the test and demo commands bootstrap with pip --require-hashes.",
        )
    )
    return {spec.name: spec for spec in found}


def stale(root: Path = ROOT) -> list[str]:
    """The committed files whose fingerprint no longer matches their inputs (or that are missing)."""
    out = []
    for spec in specs(root).values():
        path = root / spec.path
        recorded = _FINGERPRINT.search(path.read_text()) if path.is_file() else None
        if recorded is None or recorded.group(1) != spec.fingerprint():
            out.append(spec.path)
    return out


def uv_env(*, for_locking: bool) -> dict[str, str]:
    """The installer's index settings, read from pip's own configuration (``pip config list``).

    Installs use everything pip would (its index, extra indexes and find-links, picking the best
    match across them as pip does) and pip's CA bundle. Locking resolves against the primary index
    only: a lock describes the public index, not one machine's mirror (whose files carry no upload
    dates, so an exclude-newer date could not be checked against them).
    """
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    settings: dict[str, str] = {}
    rank = {":env:": 3, "install": 2, "global": 1}
    ranks: dict[str, int] = {}
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        section, _, option = key.rpartition(".")
        level = rank.get(section, 0)
        if level and level >= ranks.get(option, 0):
            settings[option], ranks[option] = value.strip("'\""), level
    env = {"UV_DEFAULT_INDEX": settings.get("index-url", "https://pypi.org/simple")}
    if "cert" in settings:
        env["SSL_CERT_FILE"] = settings["cert"]
    if not for_locking:
        env["UV_INDEX_STRATEGY"] = "unsafe-best-match"
        if settings.get("extra-index-url"):
            env["UV_INDEX"] = " ".join(settings["extra-index-url"].split())
        if settings.get("find-links"):
            env["UV_FIND_LINKS"] = ",".join(settings["find-links"].split())
    return env


def main(argv: list[str]) -> int:
    """Command line: ``check``, ``inputs NAME``, ``describe NAME``, ``header NAME``."""
    if argv[:1] == ["check"]:
        behind = stale()
        if behind:
            print(f"stale lock ({', '.join(behind)} no longer match pyproject.toml): run `{LOCK_COMMAND}`")
            return 1
        return 0
    if argv[:1] == ["uv-env"]:
        for key, value in uv_env(for_locking="--lock" in argv).items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    if len(argv) == 2 and argv[0] in {"inputs", "describe", "header"}:
        spec = specs()[argv[1]]
        if argv[0] == "inputs":
            print("\n".join(spec.inputs))
        elif argv[0] == "describe":
            print(spec.path, spec.python, spec.exclude_newer or "-", spec.bound_to or "-", int(spec.hashes))
        else:
            print(spec.header())
        return 0
    usage = "usage: locks.py check | inputs NAME | describe NAME | header NAME | uv-env [--lock]"
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
