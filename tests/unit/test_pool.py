from __future__ import annotations

import asyncio
import os
import ssl

import aiohttp
import pytest

from airflow_dbx_async.client import ConfigurationError, TokenAuth, Workspace
from airflow_dbx_async.client._pool import (
    SessionPool,
    new_session,
    ssl_for_other_host,
    ssl_option,
    system_context,
)


def _config(base_url="https://h.example.com", **kwargs):
    return Workspace(base_url=base_url, auth=TokenAuth("t"), **kwargs)


def _closed(session: aiohttp.ClientSession) -> bool:
    return session.closed


@pytest.mark.asyncio
async def test_leases_on_one_loop_share_a_session_until_the_last_ends():
    pool = SessionPool()
    async with pool.lease(_config()) as first:
        async with pool.lease(_config()) as second:
            assert first is second
            assert pool.session_count() == 1
        assert not _closed(first)
    assert _closed(first)
    assert pool.session_count() == 0


@pytest.mark.asyncio
async def test_a_new_lease_after_close_gets_a_new_session():
    pool = SessionPool()
    async with pool.lease(_config()) as first:
        pass
    async with pool.lease(_config()) as second:
        assert second is not first
        assert not second.closed


@pytest.mark.asyncio
async def test_workspaces_and_tls_settings_get_their_own_sessions():
    pool = SessionPool()
    async with pool.lease(_config()) as a, pool.lease(_config("https://other.example.com")) as b:
        async with pool.lease(_config(verify_tls=False)) as c:
            assert len({id(a), id(b), id(c)}) == 3
            assert pool.session_count() == 3


@pytest.mark.asyncio
async def test_another_event_loop_never_gets_this_loops_session():
    pool = SessionPool()

    async def lease_on_other_loop() -> tuple[int, bool]:
        async with pool.lease(_config()) as other:
            seen = id(other)
        return seen, other.closed

    async with pool.lease(_config()) as mine:
        other_id, other_closed = await asyncio.to_thread(asyncio.run, lease_on_other_loop())
        assert other_id != id(mine)
        assert other_closed
        assert not mine.closed


@pytest.mark.asyncio
async def test_pooled_connector_settings():
    pool = SessionPool(limit_per_host=7)
    async with pool.lease(_config()) as session:
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert connector.limit_per_host == 7
        assert connector._keepalive_timeout == 120.0


def test_ssl_option_follows_config(tmp_path):
    import trustme

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    assert ssl_option(_config()) is True
    assert ssl_option(_config(verify_tls=False)) is False
    context = ssl_option(_config(ca_file=str(ca_file)))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED


@pytest.mark.asyncio
async def test_new_session_is_owned_and_closable():
    session = new_session(_config(), limit_per_host=3)
    assert session.connector is not None
    assert session.connector.limit_per_host == 3
    await session.close()


def _ders(context: ssl.SSLContext) -> list[bytes]:
    return list(context.get_ca_certs(binary_form=True))


def test_ca_file_adds_to_the_system_store_and_a_renewed_file_is_read_again(tmp_path, monkeypatch):
    import trustme

    system, old, renewed = trustme.CA(), trustme.CA(), trustme.CA()
    der = {ca: ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode()) for ca in (system, old, renewed)}
    store = tmp_path / "system.pem"
    system.cert_pem.write_to_path(str(store))
    monkeypatch.setenv("SSL_CERT_FILE", str(store))  # OpenSSL's default bundle: the system store
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    ca_file = tmp_path / "ca.pem"
    old.cert_pem.write_to_path(str(ca_file))
    first = ssl_option(_config(ca_file=str(ca_file)))
    assert isinstance(first, ssl.SSLContext)
    assert sorted(_ders(first)) == sorted([der[system], der[old]])  # extra, not instead
    assert ssl_option(_config(ca_file=str(ca_file))) is first  # cached while the file is unchanged

    renewed.cert_pem.write_to_path(str(ca_file))
    stat = ca_file.stat()
    os.utime(ca_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = ssl_option(_config(ca_file=str(ca_file)))
    assert isinstance(second, ssl.SSLContext)
    assert sorted(_ders(second)) == sorted([der[system], der[renewed]])


@pytest.mark.parametrize("content", [None, b"not a certificate\n"])
def test_an_unreadable_ca_file_is_a_configuration_error(tmp_path, content):
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_bytes(content)
    with pytest.raises(ConfigurationError) as raised:
        ssl_option(_config(ca_file=str(ca_file)))
    assert raised.value.field == "ca_file"
    assert str(ca_file) in str(raised.value)


@pytest.mark.parametrize(
    ("url", "other"),
    [
        ("https://h.example.com/oidc/v1/token", False),
        ("https://H.EXAMPLE.COM:443/oidc/v1/token", False),
        ("https://login.microsoftonline.com/t/oauth2/v2.0/token", True),
        ("https://h.example.com:8443/token", True),
        ("http://h.example.com/token", True),
        ("https://h.example.com.evil.test/token", True),
    ],
)
def test_only_the_workspaces_own_origin_keeps_its_tls_settings(url, other):
    context = ssl_for_other_host("https://h.example.com", url)
    assert (context is not None) is other
    if context is not None:
        assert context is system_context()
        assert context.verify_mode is ssl.CERT_REQUIRED
        assert context.check_hostname
