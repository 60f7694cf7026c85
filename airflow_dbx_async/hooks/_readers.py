"""The one reader of each loosely typed input: a flag written as text, and a connection's extra.

Both come from users (a connection's JSON extra, a templated operator argument), so every caller reads
them the same strict way, and a value that is not understood is refused, naming the field to fix.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.client import ConfigurationError

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ("FALSE_WORDS", "TRUE_WORDS", "connection_extra", "read_flag")

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def read_flag(name: str, value: object) -> bool:
    """A boolean written as a JSON bool, as 0/1, or as one of :data:`TRUE_WORDS`/:data:`FALSE_WORDS`.

    Text is read without case or surrounding blanks. Anything else is refused, on purpose: a misspelt
    ``"ture"`` must not silently turn ``verify_tls`` off.

    :param name: the setting, named in the error.
    :raises ConfigurationError: when ``value`` is not one of those.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
    raise ConfigurationError(name, f"must be true or false, got {value!r}")


def connection_extra(conn: Connection) -> dict[str, Any]:
    """The connection's extra: a JSON object (as text, or already parsed), or empty when it is unset.

    :raises ConfigurationError: naming ``extra`` when it is not valid JSON or not a JSON object.
    """
    raw = conn.extra
    if not raw:
        return {}
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise ConfigurationError("extra", "the connection's extra is not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise ConfigurationError("extra", "the connection's extra must be a JSON object")
    return parsed
