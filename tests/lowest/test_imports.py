"""Every module of the package imports on the declared minimum Airflow, aiohttp and asgiref."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import airflow_dbx_async

_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(airflow_dbx_async.__path__, prefix="airflow_dbx_async.")
)


def test_the_walk_finds_the_airflow_layer() -> None:
    assert {"airflow_dbx_async.operators", "airflow_dbx_async.triggers", "airflow_dbx_async.hooks"} <= set(
        _MODULES
    )


@pytest.mark.parametrize("name", _MODULES)
def test_module_imports(name: str) -> None:
    assert importlib.import_module(name).__name__ == name
