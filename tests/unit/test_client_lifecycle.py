from __future__ import annotations

import aiohttp
import pytest

from airflow_dbx_async.client import ClientConfig, JobsClient, TokenAuth

_TOKEN = "dapi-lifecycle-secret"


def _client(**kwargs):
    return JobsClient(ClientConfig(base_url="https://h.example.com", auth=TokenAuth(_TOKEN)), **kwargs)


@pytest.mark.asyncio
async def test_owned_session_is_closed_and_close_is_idempotent():
    client = _client()
    async with client as opened:
        assert opened is client
        session = client._session
        assert session is not None
        assert not session.closed
    assert session.closed
    await client.aclose()
    await client.aclose()
    assert client.request_count == 0


@pytest.mark.asyncio
async def test_closed_client_cannot_be_reopened_or_used():
    client = _client()
    async with client:
        pass
    with pytest.raises(RuntimeError, match="cannot be reopened"):
        await client.__aenter__()
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_run(1)


@pytest.mark.asyncio
async def test_open_client_cannot_be_entered_twice():
    async with _client() as client:
        with pytest.raises(RuntimeError, match="already open"):
            await client.__aenter__()


@pytest.mark.asyncio
async def test_unopened_client_refuses_calls_and_closes_quietly():
    client = _client()
    with pytest.raises(RuntimeError, match="not open"):
        await client.cancel_run(1)
    await client.aclose()
    with pytest.raises(RuntimeError, match="cannot be reopened"):
        await client.__aenter__()


@pytest.mark.asyncio
async def test_injected_session_is_never_closed():
    async with aiohttp.ClientSession() as session:
        async with _client(session=session) as client:
            assert client._session is session
        assert not session.closed


def test_repr_shows_no_secret():
    client = _client()
    assert _TOKEN not in repr(client)
    assert "UNOPENED" in repr(client)
    assert _TOKEN not in repr(client.config)
