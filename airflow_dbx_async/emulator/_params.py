"""Request parameter parsing and Databricks-shaped error answers.

Clients send GET parameters as a query string or as a JSON body, and numbers as JSON numbers or as
decimal strings; ``null`` means absent. Everything here is tolerant in the same way Databricks is.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = (
    "ApiFailure",
    "get_bool",
    "get_int",
    "get_str",
    "json_response",
    "limit_and_offset",
    "read_params",
)

_JSON = "application/json"


class ApiFailure(Exception):
    """An error answer: ``{"error_code": ..., "message": ...}`` with an HTTP status."""

    def __init__(self, status: int, error_code: str | int, message: str) -> None:
        super().__init__(status, error_code, message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def response(self, headers: Mapping[str, str] | None = None) -> web.Response:
        """The JSON answer for this error."""
        return json_response({"error_code": self.error_code, "message": self.message}, self.status, headers)


def invalid(message: str) -> ApiFailure:
    """A 400 INVALID_PARAMETER_VALUE failure."""
    return ApiFailure(400, "INVALID_PARAMETER_VALUE", message)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer with ``Content-Type: application/json`` (aiohttp clients insist on it)."""
    return web.Response(
        body=json.dumps(data, separators=(",", ":")).encode(),
        status=status,
        content_type=_JSON,
        headers=headers,
    )


async def read_params(request: web.Request) -> dict[str, Any]:
    """Parameters of a request: the query string, else (or for POST) the JSON body; nulls dropped."""
    params: dict[str, Any] = {}
    if request.method == "GET" and request.query:
        params = dict(request.query)
    elif request.can_read_body:
        raw = await request.read()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise ApiFailure(400, "MALFORMED_REQUEST", f"Could not parse request object: {exc}") from None
            if not isinstance(body, dict):
                raise ApiFailure(
                    400, "MALFORMED_REQUEST", "Could not parse request object: expected an object"
                )
            params = body
    return {k: v for k, v in params.items() if v is not None}


def get_int(params: Mapping[str, Any], name: str, *, required: bool = False, default: int = 0) -> int:
    """An int64 field given as a JSON number or a decimal string."""
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise invalid(f"Missing required field: {name}")
        return default
    if isinstance(value, bool):
        raise ApiFailure(400, "MALFORMED_REQUEST", f"Could not parse request object: Expected int for {name}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise invalid(f"Invalid value for {name}: {str(value)[:40]!r} is not an integer") from None


def get_bool(params: Mapping[str, Any], name: str) -> bool:
    """A flag: JSON ``true`` or exactly the string ``true`` (Databricks ignores ``True``)."""
    value = params.get(name)
    return value is True or value == "true"


def get_str(params: Mapping[str, Any], name: str, default: str = "") -> str:
    """A string field (numbers are accepted and turned into text)."""
    value = params.get(name)
    return default if value is None else str(value)


def limit_and_offset(
    params: Mapping[str, Any], *, default: int, maximum: int, offset_cap: int
) -> tuple[int, int]:
    """A list endpoint's ``limit`` (``0`` means the maximum) and deprecated ``offset``, checked."""
    limit = get_int(params, "limit", default=default) or maximum
    if limit < 0 or limit > maximum:
        raise invalid(f"Invalid limit {limit} - it has to be no more than {maximum}.")
    offset = get_int(params, "offset")
    if offset > offset_cap:
        raise invalid(
            f"The supplied offset {offset} has exceeded the value of {offset_cap} allowed for this parameter."
            "Please use the page_token parameter to paginate"
        )
    return limit, offset
