"""Opaque page tokens of the list endpoints (an encoded offset)."""

from __future__ import annotations

import base64

from airflow_dbx_async.emulator._params import invalid

__all__ = ("decode_token", "encode_token")


def encode_token(offset: int) -> str:
    """An opaque page token for ``offset``."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: str) -> int:
    """The offset of a page token (an empty token is the first page)."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if text.startswith("offset:"):
            return max(0, int(text[7:]))
    except ValueError:
        pass
    raise invalid(f"Invalid page_token: {token[:40]!r}")
