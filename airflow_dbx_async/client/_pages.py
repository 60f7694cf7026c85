"""Following ``next_page_token`` through one listing, without looping and without end.

Every listing of the client (``jobs/list``, ``runs/list``, the 2.2 pages of ``runs/get`` and
``jobs/get``, ``sql/warehouses``) stops with an ``ApiError`` when the workspace hands out a token it
handed out before (``PAGINATION_LOOP``) or still has more after ``max_pages`` pages
(``TOO_MANY_PAGES``), so a broken workspace cannot keep a caller paging forever.
"""

from __future__ import annotations

import hashlib

from airflow_dbx_async.client._numbers import check_number
from airflow_dbx_async.client.errors import ApiError

__all__ = ("Pages",)


class Pages:
    """Follows ``next_page_token`` through one listing, refusing to loop or to go on without end.

    Seen tokens are kept as digests, so even huge tokens cost 32 bytes each.

    :param path: the listing's API path, for errors.
    :param max_pages: pages read at most.
    """

    __slots__ = ("_max_pages", "_path", "_read", "_seen")

    def __init__(self, path: str, max_pages: int) -> None:
        check_number("max_pages", max_pages, minimum=1, whole=True)
        self._path = path
        self._max_pages = max_pages
        self._read = 0
        self._seen: set[bytes] = set()

    def follow(self, token: object) -> str | None:
        """The token of the next page after one was read, or ``None`` when that page was the last.

        :raises ApiError: ``PAGINATION_LOOP`` for a token handed out before, ``TOO_MANY_PAGES`` when
            ``max_pages`` pages were read and the workspace still has more.
        """
        self._read += 1
        if not isinstance(token, str) or not token:
            return None
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        if digest in self._seen:
            message = f"page {self._read} hands out a page token seen before: the pages loop"
            raise ApiError(200, "PAGINATION_LOOP", message, "GET", self._path)
        if self._read >= self._max_pages:
            message = f"still more pages after {self._max_pages}, the most followed (max_pages)"
            raise ApiError(200, "TOO_MANY_PAGES", message, "GET", self._path)
        self._seen.add(digest)
        return token
