"""Numbers from outside: the one check of numeric settings, and the one lenient reader of an int."""

from __future__ import annotations

import math
import re

from airflow_dbx_async.client.errors import ConfigurationError

__all__ = ("check_number", "lenient_int")

# A JSON int64 written as text: an optional minus and ASCII digits, nothing around them. Stricter than
# int(), which also takes blanks, "+", "_" and non-ASCII digits that no Databricks answer holds.
_DECIMAL = re.compile(r"-?[0-9]+")


def check_number(
    name: str, value: object, *, minimum: float, inclusive: bool = True, whole: bool = False
) -> None:
    """Refuse anything but a finite number (a whole one if ``whole``) at or above ``minimum``.

    NaN and infinity are refused: they compare false against any bound, and would otherwise become
    endless sleeps or timeouts.
    """
    ok = False
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        in_range = value > minimum or (inclusive and value == minimum)
        ok = in_range and (isinstance(value, int) or not whole)
    if not ok:
        what = "a whole number" if whole else "a finite number"
        raise ConfigurationError(
            name, f"must be {what} {'>=' if inclusive else '>'} {minimum}, got {value!r}"
        )


def lenient_int(value: object, default: int = 0) -> int:
    """An int64 that may arrive as a JSON number or as decimal text; ``default`` for anything else.

    For reading answers and event payloads, which must not fail on a malformed field: a bool, a
    float, ``None``, blanks or any other text all give ``default``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    return default
