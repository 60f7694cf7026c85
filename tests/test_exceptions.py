"""One home for the exceptions a user may catch; the older import paths give the same classes."""

from __future__ import annotations

import pickle

import pytest
from airflow.sdk.exceptions import AirflowException

import airflow_dbx_async.client as client
from airflow_dbx_async import databricks_hook, exceptions, hooks, operators
from airflow_dbx_async.exceptions import (
    DatabricksApiError,
    DatabricksConfigError,
    DatabricksRunFailedError,
)

_OWN = (DatabricksApiError, DatabricksConfigError, DatabricksRunFailedError)


def test_all_is_sorted_and_complete() -> None:
    assert list(exceptions.__all__) == sorted(exceptions.__all__)
    for name in exceptions.__all__:
        assert isinstance(getattr(exceptions, name), type), name
        assert issubclass(getattr(exceptions, name), Exception), name


@pytest.mark.parametrize("cls", _OWN)
def test_defined_here_under_their_own_module(cls: type[Exception]) -> None:
    assert cls.__module__ == "airflow_dbx_async.exceptions"
    assert issubclass(cls, AirflowException)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        (operators, "DatabricksConfigError"),
        (operators, "DatabricksRunFailedError"),
        (hooks, "DatabricksConfigError"),
        (databricks_hook, "DatabricksApiError"),
    ],
)
def test_old_import_paths_give_the_same_class(module: object, name: str) -> None:
    assert getattr(module, name) is getattr(exceptions, name)


@pytest.mark.parametrize("name", [n for n in client.errors.__all__ if not n.startswith("_")])
def test_the_client_errors_are_re_exported(name: str) -> None:
    assert getattr(exceptions, name) is getattr(client, name)


def test_a_config_error_is_both_kinds() -> None:
    exc = DatabricksConfigError("timeout_seconds", "must be > 0")
    assert isinstance(exc, client.ConfigurationError)
    assert isinstance(exc, AirflowException)
    assert str(exc) == "timeout_seconds: must be > 0"


@pytest.mark.parametrize(
    "exc",
    [
        DatabricksConfigError("field", "bad"),
        DatabricksRunFailedError("run 1 failed"),
        DatabricksApiError("404 not found", http_status_code=404),
    ],
)
def test_they_pickle(exc: Exception) -> None:
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is type(exc)
    assert str(again) == str(exc)
    assert vars(again) == vars(exc)
