"""Fixtures of the auth-method tests: the identity stand-ins, and what their servers leave behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.hooks.identity_stand_ins import Identities, collect_server_leftovers, serve_identities


@pytest.fixture(scope="module")
def identity_leftovers_collected() -> Iterator[None]:
    """Once a module's tests are done, collect the server-side transports their TLS refusals left."""
    yield
    collect_server_leftovers()


@pytest_asyncio.fixture
async def identities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Identities]:
    """The metadata service, TokenRequest API and STS stand-ins, and an emulator trusting them."""
    async with serve_identities(tmp_path, monkeypatch) as served:
        yield served
