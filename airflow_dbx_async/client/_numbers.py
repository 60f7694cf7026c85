"""The one check of numeric settings: finite, in range, whole where it must be."""

from __future__ import annotations

import math

from airflow_dbx_async.client.errors import ConfigurationError

__all__ = ("check_number",)


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
