"""Running the emulator: an async context manager and a background-thread variant for sync code.

TLS uses a throw-away CA made with ``trustme`` (a test dependency, imported only when ``tls=True``);
the CA certificate is written to a temporary PEM file exposed as ``ca_file``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import tempfile
import threading
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator.app import create_app
from airflow_dbx_async.emulator.config import EmulatorConfig

if TYPE_CHECKING:
    from types import TracebackType

    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("EmulatorHandle", "EmulatorServer", "make_tls", "url_host")

_log = logging.getLogger(__name__)

# A workspace sits behind a load balancer that accepts every connection; with aiohttp's default
# backlog of 128, thousands of clients connecting at once (one session per official trigger) were
# refused here instead of waiting their turn. The kernel caps it at net.core.somaxconn.
_LISTEN_BACKLOG = 4096


def url_host(host: str) -> str:
    """``host`` as it goes into a URL: IPv6 addresses in brackets (``[::1]``)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def make_tls() -> tuple[ssl.SSLContext, str]:
    """A server SSL context for 127.0.0.1/localhost and the path of its CA PEM file."""
    try:
        import trustme
    except ImportError:
        raise RuntimeError("TLS mode needs the 'trustme' package: pip install trustme") from None
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "::1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    fd, path = tempfile.mkstemp(prefix="dbx-emulator-ca-", suffix=".pem")
    os.close(fd)
    authority.cert_pem.write_to_path(path)
    return context, path


class EmulatorServer:
    """The emulator listening on a TCP port; ``async with EmulatorServer(config) as server:``.

    :param config: emulator settings; the default is real mode on a free loopback port.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.app = create_app(self.config)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.ca_file: str | None = None

    @property
    def token(self) -> str:
        """The first configured token (the one to hand to clients)."""
        return self.config.tokens[0] if self.config.tokens else ""

    @property
    def state(self) -> EmulatorState:
        """The in-memory state (runs, jobs, counters)."""
        return self.app[STATE]

    async def start(self) -> None:
        """Start listening; ``url`` is set afterwards."""
        context = None
        if self.config.tls:
            context, self.ca_file = make_tls()
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(
            runner, self.config.host, self.config.port, ssl_context=context, backlog=_LISTEN_BACKLOG
        )
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        scheme = "https" if context is not None else "http"
        self.url = f"{scheme}://{url_host(self.config.host)}:{port}"
        if not self.config.loopback_only:
            # A test tool with a well-known default token: say so whenever other hosts can reach it.
            _log.warning(
                "The Databricks emulator listens on %s, beyond loopback (a test tool, not meant to be "
                "exposed): its admin endpoints and pages need the token too",
                self.url,
            )

    async def stop(self) -> None:
        """Stop listening, kill task subprocesses and delete the CA file (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self.ca_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.ca_file)

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def start_in_thread(self, timeout: float = 30.0) -> EmulatorHandle:
        """Run the server on its own event loop in a daemon thread (for synchronous callers)."""
        handle = EmulatorHandle(self)
        handle.start(timeout)
        return handle


class EmulatorHandle:
    """A server running in a background thread: ``.url``, ``.token``, ``.ca_file``, ``.stop()``."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="databricks-emulator", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return self.server.url

    @property
    def token(self) -> str:
        """The token clients should send."""
        return self.server.token

    @property
    def ca_file(self) -> str | None:
        """CA PEM path in TLS mode, else None."""
        return self.server.ca_file

    @property
    def state(self) -> EmulatorState:
        """The server's state (read it only while no request is in flight)."""
        return self.server.state

    def start(self, timeout: float) -> None:
        """Start the thread and wait until the server listens."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("emulator did not start in time")
        if self._error is not None:
            raise RuntimeError(f"emulator failed to start: {self._error}") from self._error

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server and its thread (idempotent)."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
