"""This leg really runs on the declared minimums: each runtime dependency is at its lower bound."""

from __future__ import annotations

import importlib.metadata

import pytest

from scripts.locks import declared_minimums

_MINIMUMS = declared_minimums()


def test_the_core_dependencies_are_pinned() -> None:
    assert {"apache-airflow", "aiohttp", "asgiref"} <= set(_MINIMUMS)


@pytest.mark.parametrize(("name", "version"), sorted(_MINIMUMS.items()))
def test_installed_version_is_the_declared_minimum(name: str, version: str) -> None:
    assert importlib.metadata.version(name) == version


def test_the_installed_package_declares_the_same_minimums() -> None:
    declared = importlib.metadata.requires("airflow-dbx-async") or []
    runtime = sorted(r.replace(" ", "") for r in declared if "extra ==" not in r)
    assert runtime == sorted(f"{name}>={version}" for name, version in _MINIMUMS.items())
