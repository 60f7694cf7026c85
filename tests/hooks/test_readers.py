"""The one reader of each loosely typed value, as tables: ints, flags, connection extras, task keys."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_dbx_async.client import ConfigurationError, lenient_int
from airflow_dbx_async.hooks._readers import connection_extra, read_flag
from airflow_dbx_async.operators._task_identity import default_task_key


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, 42),
        (-7, -7),
        (2**63 - 1, 2**63 - 1),
        ("42", 42),
        ("-7", -7),
        ("9223372036854775807", 2**63 - 1),
        ("007", 7),
        # not an int64 as Databricks writes one: the default
        (True, 0),
        (False, 0),
        (None, 0),
        (3.0, 0),
        ("3.0", 0),
        ("", 0),
        (" 42 ", 0),
        ("+42", 0),
        ("1_000", 0),
        ("\u0664\u0662", 0),  # Arabic-Indic digits: int() would take them
        ("\u00b2", 0),  # a superscript two: isdigit() says yes, int() raises
        ("None", 0),
        ([1], 0),
        ({"run_id": 1}, 0),
    ],
)
def test_lenient_int(value: object, expected: int) -> None:
    assert lenient_int(value) == expected


def test_lenient_int_default() -> None:
    assert lenient_int("x", default=-1) == -1
    assert lenient_int(5, default=-1) == 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("true", True),
        ("True", True),
        (" TRUE ", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_read_flag(value: object, expected: bool) -> None:
    assert read_flag("verify_tls", value) is expected


@pytest.mark.parametrize("value", ["ture", "", "y", "2", 2, -1, 1.0, None, [], {}])
def test_read_flag_refuses_anything_else_naming_the_field(value: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        read_flag("verify_tls", value)
    assert info.value.field == "verify_tls"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (None, {}),
        ("", {}),
        ("{}", {}),
        ('{"token": "t", "verify_tls": false}', {"token": "t", "verify_tls": False}),
        ({"host": "h"}, {"host": "h"}),
    ],
)
def test_connection_extra(extra: Any, expected: dict[str, Any]) -> None:
    assert connection_extra(SimpleNamespace(extra=extra)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('"text"', "JSON object"),
        ("3", "JSON object"),
    ],
)
def test_connection_extra_refuses_what_is_not_a_json_object(extra: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        connection_extra(SimpleNamespace(extra=extra))  # type: ignore[arg-type]
    assert info.value.field == "extra"
    assert why in info.value.message


@pytest.mark.parametrize(
    ("dag_id", "task_id"),
    [("dag", "task"), ("etl", "group.notebook"), ("d\u00e9j\u00e0", "t")],
)
def test_default_task_key_is_the_official_md5(dag_id: str, task_id: str) -> None:
    key = default_task_key(dag_id, task_id)
    assert key == hashlib.md5(f"{dag_id}__{task_id}".encode()).hexdigest()  # the official provider's rule
    assert len(key) == 32


def test_default_task_key_is_stable() -> None:
    # A key already sent to Databricks must not change between releases.
    assert default_task_key("dag", "task") == "b990fc615bcb97a28bd0812c6ffa403d"
