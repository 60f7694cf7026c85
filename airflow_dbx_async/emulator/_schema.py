"""A small type checker for request bodies: every wrong type is a 400 naming the field, never a 500.

Databricks parses bodies against its protobuf schema; a JSON value of the wrong type is answered with
``400 MALFORMED_REQUEST`` "Could not parse request object: Expected <type> for field <name>, found
<JSON type>" (see the Jobs API reference pages, e.g. https://docs.databricks.com/api/workspace/jobs/submit).
Numbers may come as decimal strings (int fields) and scalars are accepted in string maps, as the official
provider's stringified bodies show; ``null`` means absent. Each check returns the value as the service
keeps it: an int field sent as ``"3"`` is stored, and read back, as the number 3 (the JSON mapping of
protobuf reads both forms and writes numbers), a boolean sent as ``"true"`` as ``true``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_dbx_async.emulator._params import ApiFailure

__all__ = (
    "BOOL",
    "INT",
    "OBJ",
    "STR",
    "STR_LIST",
    "STR_MAP",
    "Check",
    "list_of",
    "malformed",
    "object_of",
)

Check = Callable[[Any, str], Any]
"""Checks ``value`` at ``path`` (raises a 400) and returns it as the service keeps it."""


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float):
        return "NUMBER"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, list):
        return "ARRAY"
    return "OBJECT" if isinstance(value, Mapping) else "NULL"


def malformed(path: str, expected: str, value: Any) -> ApiFailure:
    """The 400 for a value of the wrong JSON type at ``path``."""
    message = f"Could not parse request object: Expected {expected} for field {path}, found {_kind(value)}"
    return ApiFailure(400, "MALFORMED_REQUEST", message)


def STR(value: Any, path: str) -> str:  # noqa: N802 - used like a type name in schemas
    """A string (numbers and booleans are rejected: the field is text)."""
    if not isinstance(value, str):
        raise malformed(path, "string", value)
    return value


def INT(value: Any, path: str) -> int:  # noqa: N802
    """An int64 as a JSON number or a decimal string; kept as a number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise malformed(path, "int64", value)
    if isinstance(value, float) and not value.is_integer():
        raise malformed(path, "int64", value)
    try:
        return int(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise malformed(path, "int64", value) from None


def BOOL(value: Any, path: str) -> bool:  # noqa: N802
    """A JSON boolean (or the strings ``true`` / ``false``); kept as a boolean."""
    if not isinstance(value, bool) and value not in ("true", "false"):
        raise malformed(path, "boolean", value)
    return value is True or value == "true"


def OBJ(value: Any, path: str) -> Any:  # noqa: N802
    """Any JSON object (its content is not checked)."""
    if not isinstance(value, Mapping):
        raise malformed(path, "object", value)
    return value


def STR_MAP(value: Any, path: str) -> Any:  # noqa: N802
    """A ``map<string, string>``: scalar values are taken as text, nested values are refused."""
    OBJ(value, path)
    for key, item in value.items():
        if item is not None and not isinstance(item, str | int | float | bool):
            raise malformed(f"{path}.{key}", "string", item)
    return value


def list_of(item: Check) -> Check:
    """A JSON array whose elements pass ``item``."""

    def check(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise malformed(path, "array", value)
        kept = []
        for index, element in enumerate(value):
            if element is None:
                raise malformed(f"{path}[{index}]", "a value", element)
            kept.append(item(element, f"{path}[{index}]"))
        return kept

    return check


def STR_LIST(value: Any, path: str) -> list[Any]:  # noqa: N802
    """A list of strings (numbers are taken as text)."""
    kept: list[Any] = list_of(_scalar)(value, path)
    return kept


def _scalar(value: Any, path: str) -> Any:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise malformed(path, "string", value)
    return value


def object_of(fields: Mapping[str, Check]) -> Check:
    """A JSON object whose listed fields pass their checks (others are kept as sent, nulls skipped)."""

    def check(value: Any, path: str) -> dict[str, Any]:
        OBJ(value, path)
        kept = dict(value)
        for name, field_check in fields.items():
            item = value.get(name)
            if item is not None:
                kept[name] = field_check(item, f"{path}.{name}" if path else name)
        return kept

    return check
